"""The trait judge (LLM grader or offline embedded similarity) and the tournament metrics."""

from __future__ import annotations

import pandas as pd
from inspect_ai.model import GenerateConfig, get_model, model_roles
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench import ratings
from bench.judges.embedded import DEFAULT_VARIANT, VARIANT_NAMES, similarity_choice
from bench.judges.parsing import INVALID_REASONS, parse_choice
from bench.revealed_prefs.dataset import trait_glosses
from bench.revealed_prefs.prompts import JUDGE_TEMPERATURE, judge_prompt
from bench.seeding import generation_seed
from bench.stats import wilson_interval

INVALID = "invalid"
EMBEDDED_JUDGE = VARIANT_NAMES[DEFAULT_VARIANT]  # the offline judge the tournament uses (prompt-centred)
BOOTSTRAP_N = 200
TOP_K = 10


def matches_frame(scores: list[SampleScore]) -> pd.DataFrame:
    """One row per matchup from the per-sample score metadata (also used by compare and leaderboards)."""
    rows = [s.score.metadata for s in scores if s.score.metadata]
    return pd.DataFrame(rows, columns=["trait_a", "trait_b", "winner", "reason", "truncated", "assigned"])


def _noise(valid: pd.DataFrame, table: pd.DataFrame, lo: float, hi: float) -> dict[str, float]:
    """Floors and reliability beside the spread (../shared/VALIDITY.md section 2)."""
    null_mean, null_hi = ratings.null_spread(valid, sims=20, seed=0)
    rel, rel_lo, rel_hi = ratings.reliability(valid, n=50, seed=0)
    return {
        "spread_corrected": ratings.corrected_spread(table),
        "spread_corrected_lo": ratings.corrected_spread(table, lo),
        "spread_corrected_hi": ratings.corrected_spread(table, hi),
        "spread_null": null_mean,
        "spread_null_hi": null_hi,
        "reliability": rel,
        "reliability_lo": rel_lo,
        "reliability_hi": rel_hi,
    }


def _assigned_accuracy(valid: pd.DataFrame) -> dict[str, float]:
    """condition=assigned: how often the judge names the trait the model was told to use, overall and
    per assigned trait, with Wilson intervals. Ground truth for this model and judge together."""
    told = valid[valid["assigned"].notna()] if "assigned" in valid else valid.iloc[0:0]
    if told.empty:
        return {}
    right = told["winner"] == told["assigned"]
    lo, hi = wilson_interval(int(right.sum()), len(told))
    out = {"assigned_accuracy": float(right.mean()), "assigned_accuracy_lo": lo, "assigned_accuracy_hi": hi}
    out["assigned_n"] = float(len(told))
    indistinct = 0
    for trait, group in right.groupby(told["assigned"]):
        k, m = int(group.sum()), len(group)
        t_lo, t_hi = wilson_interval(k, m)
        out[f"assigned_acc/{trait}"] = k / m
        out[f"assigned_acc_lo/{trait}"] = t_lo
        out[f"assigned_acc_hi/{trait}"] = t_hi
        out[f"assigned_n/{trait}"] = float(m)
        indistinct += t_lo <= 0.5  # the judge cannot tell this trait from its partners at this n
    out["assigned_traits_not_above_chance"] = float(indistinct)
    return out


@metric
def tournament():
    """Valid/invalid counts by reason, truncations, Bradley-Terry ratings with bootstrap intervals,
    the rating spread with its interval, the top-10 and sequential Elo for comparison with the reference.
    Keys with a slash hold the full per-trait table, so leaderboards rebuild everything from the log."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        if not scores:
            return {}
        frame = matches_frame(scores)
        valid = frame[frame["winner"] != INVALID]
        out: dict[str, float] = {
            **_validation_metrics(scores),
            "matchups": float(len(frame)),
            "valid": float(len(valid)),
            "invalid_rate": float(1 - len(valid) / len(frame)) if len(frame) else 0.0,
            "truncated": float(frame["truncated"].fillna(False).astype(bool).sum()),
        }
        for reason in ("empty_response",) + INVALID_REASONS:
            out[f"invalid_{reason}"] = float((frame["reason"] == reason).sum())
        if len(valid) < 2:
            return out
        out.update(_assigned_accuracy(valid))
        table = ratings.bootstrap(valid, ratings.bradley_terry, n=BOOTSTRAP_N, seed=0)
        spread, lo, hi = ratings.spread_interval(valid, ratings.bradley_terry, n=BOOTSTRAP_N, seed=0)
        out.update(spread=spread, spread_lo=lo, spread_hi=hi, traits_rated=float(len(table)))
        out.update(_noise(valid, table, lo, hi))
        for rank, (trait, row) in enumerate(table.head(TOP_K).iterrows(), 1):
            out[f"top{rank:02d}_{trait}"] = float(row["rating"])
        sequential = ratings.elo(valid)["rating"]
        for trait, row in table.iterrows():
            out[f"bt/{trait}"] = float(row["rating"])
            out[f"bt_lo/{trait}"] = float(row["lo"])
            out[f"bt_hi/{trait}"] = float(row["hi"])
            out[f"elo/{trait}"] = float(sequential[trait])
            out[f"n/{trait}"] = float(row["matches"])
        return out

    return compute


def judge_validation(judge: str) -> dict:
    """The judge's validation on the labelled set, for every log it scores (../shared/VALIDITY.md 3).

    The embedded judge is measured on the shipped set (once per process); an LLM grader carries the
    result of its last `charbench judge validate --grader MODEL`, or is marked not validated.
    """
    from bench.judges import validation

    embedded = judge == EMBEDDED_JUDGE
    result = validation.embedded_validation(DEFAULT_VARIANT) if embedded else validation.saved_validation(judge)
    if not result:
        return {"judge": judge, "validated": False, "note": f"not validated: charbench judge validate --grader {judge}"}
    # both intervals must clear the threshold (Wilson over judgements, cluster bootstrap over items)
    lo = min(result["ci"][0], result["ci_bootstrap"][0])
    hi = max(result["ci"][1], result["ci_bootstrap"][1])
    keys = ("accuracy", "n_items", "data_hash", "threshold", "validated", "position_bias")
    return {"judge": judge, **{k: result.get(k) for k in keys}, "lo": lo, "hi": hi}


def _validation_metrics(scores: list[SampleScore]) -> dict[str, float]:
    found = next(
        (s.score.metadata["judge_validation"] for s in scores if (s.score.metadata or {}).get("judge_validation")), None
    )
    if found is None:
        return {}
    out = {"judge_validated": float(bool(found.get("validated")))}
    if found.get("accuracy") is not None:
        out.update(judge_accuracy=found["accuracy"], judge_accuracy_lo=found["lo"], judge_accuracy_hi=found["hi"])
    return out


def _use_grader(judge: str) -> bool:
    if judge == "grader":
        return True
    if judge == "embedded":
        return False
    return "grader" in model_roles()


@scorer(metrics=[tournament()])
def trait_judge(judge: str = "auto"):
    """Decide which of the two traits a reply shows. `judge`: auto (the grader role if bound, else the
    embedded similarity judge), grader, or embedded."""

    validations: dict[str, dict] = {}

    def validated(judge: str) -> dict:
        """Looked up once per judge (the embedded one is measured on first use)."""
        if judge not in validations:
            validations[judge] = judge_validation(judge)
        return validations[judge]

    async def score(state: TaskState, target: Target) -> Score:
        a, b = state.metadata["trait_a"], state.metadata["trait_b"]
        # the judge sees the traits in its own seeded order, drawn independently of the model's
        first, second = (b, a) if state.metadata.get("judge_swap") else (a, b)
        response = state.output.completion if state.output else ""
        meta = {
            "trait_a": a,
            "trait_b": b,
            "judge_order": [first, second],
            "assigned": state.metadata.get("assigned"),
            "truncated": bool(state.output and state.output.stop_reason == "max_tokens"),
        }
        if not response.strip():
            return Score(
                value=INVALID,
                answer="",
                explanation="empty response: not judged",
                metadata={**meta, "winner": INVALID, "reason": "empty_response", "judge": "none"},
            )
        if _use_grader(judge):
            grader = get_model(role="grader")
            seed = generation_seed(state, "judge", record=False)  # per sample and epoch, as the reply's
            output = await grader.generate(
                judge_prompt(response, first, second), config=GenerateConfig(temperature=JUDGE_TEMPERATURE, seed=seed)
            )
            verdict = parse_choice(output.completion, (first, second))
            winner = verdict.choice
            return Score(
                value=winner,
                answer=winner,
                explanation=output.completion,
                metadata={
                    **meta,
                    "winner": winner,
                    "reason": verdict.reason,
                    "judge": str(grader),
                    "judge_validation": validated(str(grader)),
                },
            )
        glosses = trait_glosses([first, second])
        # the user's message only (state.input_text is the last message): the system prompt names both traits
        winner, margin, sims = similarity_choice(
            response, {first: glosses[first], second: glosses[second]}, prompt=state.input_text
        )
        return Score(
            value=winner,
            answer=winner,
            explanation=f"cosine({a})={sims[a]:.4f} cosine({b})={sims[b]:.4f}",
            metadata={
                **meta,
                "winner": winner,
                "reason": "",
                "judge": EMBEDDED_JUDGE,
                "margin": margin,
                "judge_validation": validated(EMBEDDED_JUDGE),
            },
        )

    return score
