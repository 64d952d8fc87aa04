"""Order-swapped pairwise judging and the coherence metrics."""

from __future__ import annotations

import numpy as np
from inspect_ai.model import GenerateConfig, get_model, model_roles
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.coherence.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, judge_prompt
from bench.judges.embedded import forced_choice
from bench.judges.parsing import Verdict, parse_choice
from bench.seeding import generation_seed
from bench.stats import length_controlled_win_rate, wilson_interval
from personas import load_persona

EMBEDDED_JUDGE_NAME = "embedded-forced-choice (smollm2-135m, weak)"
OUTCOMES = ("win", "loss", "inconsistent", "invalid")
BOOTSTRAP_N = 200


def pair_outcome(model_first: Verdict, model_second: Verdict) -> str:
    """Combine the verdicts of the two orders: in the first the model's reply is A, in the second it is B."""
    if not (model_first.valid and model_second.valid):
        return "invalid"
    if model_first.choice == "A" and model_second.choice == "B":
        return "win"
    if model_first.choice == "B" and model_second.choice == "A":
        return "loss"
    return "inconsistent"  # the verdict followed the position, not the reply


def _words(text: str) -> int:
    return len(text.split())


@metric
def coherence_metrics():
    """Win rate over order-consistent pairs (Wilson 95%), consistency and invalid rates, reply lengths,
    and the length-controlled win rate (bootstrap 95%)."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        meta = [s.score.metadata for s in scores if s.score.metadata]
        if not meta:
            return {}
        counts = {o: sum(m["outcome"] == o for m in meta) for o in OUTCOMES}
        decided = counts["win"] + counts["loss"]
        judged = decided + counts["inconsistent"]
        out = {
            "wins": float(counts["win"]),
            "losses": float(counts["loss"]),
            "inconsistent": float(counts["inconsistent"]),
            "invalid": float(counts["invalid"]),
        }
        out.update(
            pairs=float(len(meta)),
            consistency_rate=decided / judged if judged else 0.0,
            invalid_rate=counts["invalid"] / len(meta),
            mean_words_model=float(np.mean([m["words_model"] for m in meta])),
            mean_words_baseline=float(np.mean([m["words_baseline"] for m in meta])),
            empty_model=float(sum(m["words_model"] == 0 for m in meta)),
            empty_baseline=float(sum(m["words_baseline"] == 0 for m in meta)),
        )
        record = next((m["judge_validation"] for m in meta if m.get("judge_validation")), None)
        if record is not None:  # the judge's own measurement beside its win rate (bench/judges/coherence_validation.py)
            out["judge_validated"] = float(bool(record.get("validated")))
            if record.get("accuracy") is not None:
                lo = min(record["ci"][0], record["ci_bootstrap"][0])
                hi = max(record["ci"][1], record["ci_bootstrap"][1])
                out.update(judge_accuracy=record["accuracy"], judge_accuracy_lo=lo, judge_accuracy_hi=hi)
            if record.get("position_bias") is not None:
                out["judge_position_bias"] = record["position_bias"]
        for reason in ("empty", "no_answer_tag", "both", "neither", "other_word", "refusal"):
            out[f"judge_invalid_{reason}"] = float(sum(m["reason_first"] == reason for m in meta)) + float(
                sum(m["reason_second"] == reason for m in meta)
            )
        if decided:
            lo, hi = wilson_interval(counts["win"], decided)
            out.update(win_rate=counts["win"] / decided, win_rate_lo=lo, win_rate_hi=hi)
        consistent = [m for m in meta if m["outcome"] in ("win", "loss")]
        wins = np.array([m["outcome"] == "win" for m in consistent], dtype=int)
        diff = np.array([m["words_model"] - m["words_baseline"] for m in consistent], dtype=float)
        lc = length_controlled_win_rate(wins, diff)
        if lc is not None:
            rng = np.random.default_rng(0)
            draws = []
            for _ in range(BOOTSTRAP_N):
                pick = rng.integers(0, len(wins), len(wins))
                value = length_controlled_win_rate(wins[pick], diff[pick])
                if value is not None:
                    draws.append(value)
            out["lc_win_rate"] = lc
            if draws:
                out.update(
                    lc_win_rate_lo=float(np.quantile(draws, 0.025)), lc_win_rate_hi=float(np.quantile(draws, 0.975))
                )
        return out

    return compute


async def _llm_judge(prompt: str, seed: int | None = None) -> tuple[str, str]:
    judge = get_model(role="grader")
    config = GenerateConfig(temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS, seed=seed)
    return (await judge.generate(prompt, config=config)).completion, str(judge)


async def _embedded_judge(prompt: str, seed: int | None = None) -> tuple[str, str]:
    """The embedded chat model as a forced-choice judge (next-token log-probs of A vs B after a
    prefilled `<answer>`): a 135M model almost never writes answer tags itself. Weak; named as such."""
    import anyio

    choice, scores = await anyio.to_thread.run_sync(forced_choice, prompt, ("A", "B"))
    detail = ", ".join(f"logp({k})={v:.3f}" for k, v in scores.items())
    return f"<answer>{choice}</answer> ({detail})", EMBEDDED_JUDGE_NAME


@scorer(metrics=[coherence_metrics()])
def pairwise_judge(persona: str):
    """Judge the model's reply against the baseline's in both orders (grader role, or the embedded model)."""
    traits = load_persona(persona).statements
    records: dict[str, dict] = {}

    def validation(judge: str) -> dict:
        """The judge's measured accuracy on pairs with a known better reply, once per judge."""
        if judge not in records:
            from bench.judges.coherence_validation import judge_record

            records[judge] = judge_record(judge)
        return records[judge]

    async def score(state: TaskState, target: Target) -> Score:
        reply = state.output.completion if state.output else ""
        baseline = state.metadata["baseline"]
        ask = _llm_judge if "grader" in model_roles() else _embedded_judge
        # each order's verdict seeded per sample and epoch like the replies (bench/seeding.py)
        seeds = [generation_seed(state, "judge", order, record=False) for order in (1, 2)]
        raw_first, judge_name = await ask(judge_prompt(traits, state.input_text, reply, baseline), seeds[0])
        raw_second, _ = await ask(judge_prompt(traits, state.input_text, baseline, reply), seeds[1])
        v1, v2 = parse_choice(raw_first, ("A", "B")), parse_choice(raw_second, ("A", "B"))
        outcome = pair_outcome(v1, v2)
        return Score(
            value=outcome,
            answer=outcome,
            explanation=f"[model=A] {raw_first}\n---\n[model=B] {raw_second}",
            metadata={
                "outcome": outcome,
                "verdict_first": v1.choice,
                "reason_first": v1.reason,
                "verdict_second": v2.choice,
                "reason_second": v2.reason,
                "raw_first": raw_first,
                "raw_second": raw_second,
                "judge": judge_name,
                "judge_validation": validation(judge_name),
                "baseline_model": state.metadata.get("baseline_model"),
                "words_model": _words(reply),
                "words_baseline": _words(baseline),
                "truncated_model": bool(state.output and state.output.stop_reason == "max_tokens"),
                "truncated_baseline": bool(state.metadata.get("baseline_truncated")),
            },
        )

    return score
