"""Scoring: Inspect's own `choice()` per sample, plus per-benchmark accuracies with Wilson intervals.

A sample whose reply has no parseable `ANSWER: X` line counts as wrong (it stays in the denominator,
as in inspect_evals) and is also counted separately, so a model that lost the answer format is not
mistaken for one that lost knowledge.
"""

from __future__ import annotations

from inspect_ai.scorer import Score, Target, choice, metric, scorer, value_to_float
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.stats import wilson_interval


def accuracy_table(rows: list[dict]) -> dict[str, float]:
    """rows: {"task", "correct", "reason", "truncated"} per sample -> flat metrics per task."""
    out: dict[str, float] = {}
    tasks = sorted({r["task"] for r in rows})
    accuracies = []
    for task in tasks:
        mine = [r for r in rows if r["task"] == task]
        n, k = len(mine), sum(r["correct"] for r in mine)
        lo, hi = wilson_interval(k, n)
        accuracies.append(k / n)
        out.update(
            {
                f"{task}/accuracy": k / n,
                f"{task}/accuracy_lo": lo,
                f"{task}/accuracy_hi": hi,
                f"{task}/n": float(n),
                f"{task}/unparsed": float(sum(r["reason"] == "invalid_response_format" for r in mine)),
                f"{task}/empty": float(sum(r["reason"] == "no_response" for r in mine)),
                f"{task}/truncated": float(sum(r["truncated"] for r in mine)),
            }
        )
    out["samples"] = float(len(rows))
    out["tasks"] = float(len(tasks))
    if accuracies:
        out["mean_accuracy"] = sum(accuracies) / len(accuracies)  # unweighted over benchmarks
    return out


@metric
def capability_metrics():
    """Per benchmark: accuracy with a Wilson 95% interval, n, unparsed, empty and truncated replies."""

    to_float = value_to_float()  # metrics see reduced values ("C" becomes 1.0 after epoch reduction)

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        rows = [
            {**s.score.metadata, "correct": to_float(s.score.value) == 1.0}
            for s in scores
            if s.score.metadata and "task" in s.score.metadata
        ]
        return accuracy_table(rows) if rows else {}

    return compute


@scorer(metrics=[capability_metrics()])
def capability_choice():
    """`choice()`, with the benchmark name and the failure reason kept for the metrics."""
    inner = choice()

    async def score(state: TaskState, target: Target) -> Score:
        result = await inner(state, target)
        result.metadata = {
            **(result.metadata or {}),
            "task": state.metadata["capability_task"],
            "reason": result.reason or "",
            "truncated": bool(state.output and state.output.stop_reason == "max_tokens"),
        }
        return result

    return score
