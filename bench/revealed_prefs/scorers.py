"""The trait judge (LLM grader or offline embedded similarity) and the tournament metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.model import GenerateConfig, get_model, model_roles
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.judges.embedded import DEFAULT_VARIANT, VARIANT_NAMES, similarity_choice
from bench.judges.parsing import INVALID_REASONS, parse_choice
from bench.revealed_prefs import validity
from bench.revealed_prefs.dataset import trait_glosses
from bench.revealed_prefs.prompts import JUDGE_TEMPERATURE, judge_prompt
from bench.seeding import generation_seed
from bench.stats import wilson_interval

INVALID = "invalid"
EMBEDDED_JUDGE = VARIANT_NAMES[DEFAULT_VARIANT]  # the offline judge the tournament uses (prompt-centred)
BOOTSTRAP_N = validity.DRAWS
TOP_K = 3  # top and bottom traits in the metrics (the console prints every metric)


COLUMNS = ["trait_a", "trait_b", "winner", "reason", "truncated", "assigned", "prompt", "null_a", "null_b"]
COLUMNS += ["null_winner"]


def matches_frame(scores: list[SampleScore]) -> pd.DataFrame:
    """One row per matchup from the per-sample score metadata (also used by compare and leaderboards):
    the verdict, its prompt (the cluster) and the design null's verdict (bench/revealed_prefs/validity.py)."""
    rows = [s.score.metadata for s in scores if s.score.metadata]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame


def _figures(frame: pd.DataFrame) -> dict[str, float]:
    """Ratings, spread, the design null, reliability and the coin-flip floor (../shared/VALIDITY.md 1-2).
    Every matchup goes in (a reply whose own verdict is invalid still has a null verdict)."""
    figures = validity.log_figures(frame, n=BOOTSTRAP_N, seed=0)
    rel, rel_lo, rel_hi = figures["reliability"]
    out = {
        "spread": figures["spread"],
        "spread_null": figures["null_spread"],  # the design null: a model that ignores the offered traits
        "spread_corrected": figures["corrected"],
        "spread_corrected_lo": figures["corrected_ci"][0],
        "spread_corrected_hi": figures["corrected_ci"][1],
        "spread_coinflip": figures["coinflip"][0],
        "spread_coinflip_hi": figures["coinflip"][1],
        "reliability": rel,
        "reliability_lo": rel_lo,
        "reliability_hi": rel_hi,
        "design_null": float(not np.isnan(figures["null_spread"])),
        "prompts": float(figures["clusters"]),
        "traits_rated": float(len(figures["table"])),
    }
    # the console shows every metric: the ends of the ranking only; the per-trait table is rebuilt from
    # the samples' verdicts (`report.ratings_from_log`), where inspect_ai.analysis reads them too
    table = figures["table"]
    for rank, (trait, row) in enumerate(table.head(TOP_K).iterrows(), 1):
        out[f"top{rank:02d}_{trait}"] = float(row["rating"])
    for rank, (trait, row) in enumerate(table.tail(TOP_K).iloc[::-1].iterrows(), 1):
        out[f"bottom{rank:02d}_{trait}"] = float(row["rating"])
    return out


def assigned_by_trait(frame: pd.DataFrame) -> pd.DataFrame:
    """condition=assigned, per assigned trait: how often the judge named it (`accuracy`, Wilson `lo`,
    `hi`, `n`); an invalid verdict counts as wrong."""
    told = frame[frame["assigned"].notna()] if "assigned" in frame else frame.iloc[0:0]
    rows = {}
    for trait, group in (told["winner"] == told["assigned"]).groupby(told["assigned"]):
        k, m = int(group.sum()), len(group)
        lo, hi = wilson_interval(k, m)
        rows[trait] = {"accuracy": k / m, "lo": lo, "hi": hi, "n": m}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["accuracy", "lo", "hi", "n"])


def _assigned_accuracy(frame: pd.DataFrame) -> dict[str, float]:
    """condition=assigned: how often the judge names the trait the model was told to use, overall with
    a Wilson interval, and how many assigned traits the judge cannot tell from their partners at this n
    (per trait: `assigned_by_trait`). Ground truth for this model and judge together."""
    told = frame[frame["assigned"].notna()] if "assigned" in frame else frame.iloc[0:0]
    if told.empty:
        return {}
    right = told["winner"] == told["assigned"]
    lo, hi = wilson_interval(int(right.sum()), len(told))
    out = {"assigned_accuracy": float(right.mean()), "assigned_accuracy_lo": lo, "assigned_accuracy_hi": hi}
    out["assigned_n"] = float(len(told))
    indistinct = int((assigned_by_trait(frame)["lo"] <= 0.5).sum())  # not above chance at this n
    out["assigned_traits_not_above_chance"] = float(indistinct)
    return out


@metric
def tournament():
    """Valid/invalid counts by reason, truncations, Bradley-Terry ratings with prompt-clustered intervals,
    the spread beside the design null's (and the corrected spread), reliability net of the null, the
    coin-flip floor, the top-10 and sequential Elo for comparison with the reference. Keys with a
    slash hold the full per-trait table, so leaderboards rebuild everything from the log."""

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
            count = float((frame["reason"] == reason).sum())
            if count:  # reasons that occurred (the console lists every metric)
                out[f"invalid_{reason}"] = count
        if len(valid) < 2:
            return out
        out.update(_assigned_accuracy(frame))  # an invalid verdict is a wrong one, never left out
        out["null_invalid"] = float((frame["null_winner"].isna() | (frame["null_winner"] == INVALID)).sum())
        out.update(_figures(frame))
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
    # both intervals must clear the threshold (Wilson over items, cluster bootstrap over items)
    lo = min(result["ci"][0], result["ci_bootstrap"][0])
    hi = max(result["ci"][1], result["ci_bootstrap"][1])
    keys = ("accuracy", "n_items", "data_hash", "threshold", "validated", "position_bias", "order_invariant")
    out = {"judge": judge, **{k: result.get(k) for k in keys}, "lo": lo, "hi": hi}
    # which data: the shipped set (its hash checked, so a changed or partial file is not "shipped") or the
    # user's own file, named in every log; a grader validated on 20 items says so where it is used
    shipped = validation.data_hash(validation.load_labelled())
    out["data"] = "shipped" if result.get("data_hash") == shipped else f"user set {result.get('data') or '?'}"
    if embedded:
        out["data"] = result.get("data")
    return out


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
def trait_judge(judge: str = "auto", design_null: bool = True):
    """Decide which of the two traits a reply shows. `judge`: auto (the grader role if bound, else the
    embedded similarity judge), grader, or embedded. `design_null`: judge the reply once more on its
    null partner's trait pair (the dataset's `null_pair`), the verdict a model ignoring the offered
    traits would get (bench/revealed_prefs/validity.py); one more judge call per matchup."""

    validations: dict[str, dict] = {}

    def validated(judge: str) -> dict:
        """Looked up once per judge (the embedded one is measured on first use)."""
        if judge not in validations:
            validations[judge] = judge_validation(judge)
        return validations[judge]

    async def verdict(state: TaskState, response: str, first: str, second: str, *tags: str) -> dict:
        """One judgement of `response` between two traits shown in this order: winner, reason, judge."""
        if _use_grader(judge):
            grader = get_model(role="grader")
            seed = generation_seed(state, "judge", *tags, record=False)  # per sample and epoch, as the reply's
            output = await grader.generate(
                judge_prompt(response, first, second), config=GenerateConfig(temperature=JUDGE_TEMPERATURE, seed=seed)
            )
            parsed = parse_choice(output.completion, (first, second))
            name = str(grader)
            return {"winner": parsed.choice, "reason": parsed.reason, "judge": name, "explanation": output.completion}
        glosses = trait_glosses([first, second])
        # the user's message only (state.input_text is the last message): the system prompt names both traits
        winner, margin, sims = similarity_choice(
            response, {first: glosses[first], second: glosses[second]}, prompt=state.input_text
        )
        explanation = f"cosine({first})={sims[first]:.4f} cosine({second})={sims[second]:.4f}"
        return {"winner": winner, "reason": "", "judge": EMBEDDED_JUDGE, "explanation": explanation, "margin": margin}

    async def score(state: TaskState, target: Target) -> Score:
        a, b = state.metadata["trait_a"], state.metadata["trait_b"]
        # the judge sees the traits in its own seeded order, drawn independently of the model's
        first, second = (b, a) if state.metadata.get("judge_swap") else (a, b)
        response = state.output.completion if state.output else ""
        meta = {
            "trait_a": a,
            "trait_b": b,
            "prompt": state.metadata.get("prompt_id"),
            "judge_order": [first, second],
            "assigned": state.metadata.get("assigned"),
            "truncated": bool(state.output and state.output.stop_reason == "max_tokens"),
        }
        null_pair = state.metadata.get("null_pair") if design_null else None
        if null_pair:
            meta |= {"null_a": null_pair[0], "null_b": null_pair[1]}
        if not response.strip():
            meta |= {"winner": INVALID, "reason": "empty_response", "judge": "none"}
            if null_pair:
                meta["null_winner"] = INVALID
            return Score(value=0.0, answer=INVALID, explanation="empty response: not judged", metadata=meta)
        seen = await verdict(state, response, first, second)
        meta |= {"winner": seen["winner"], "reason": seen["reason"], "judge": seen["judge"]}
        if "margin" in seen:
            meta["margin"] = seen["margin"]
        meta["judge_validation"] = validated(seen["judge"])
        explanation = seen["explanation"]
        if null_pair:
            na, nb = null_pair
            null = await verdict(state, response, *((nb, na) if state.metadata.get("null_swap") else (na, nb)), "null")
            meta |= {"null_winner": null["winner"], "null_reason": null["reason"]}
            explanation += f"\n\ndesign null ({na} vs {nb}): {null['explanation']}"
        # the value is 1 for a usable verdict, 0 for an invalid one (a number, so Inspect's displays and
        # reducers take it as it is); the winning trait is the answer and, with everything else, metadata
        value = 0.0 if seen["winner"] == INVALID else 1.0
        return Score(value=value, answer=seen["winner"], explanation=explanation, metadata=meta)

    return score
