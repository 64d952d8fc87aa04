"""Capability change against the base model, from two bench/capabilities logs.

The two logs answer the same questions (same seed and limit pick the same subset), so the
difference is paired: resample questions, not models. A persona that costs capability shows up as
an interval below zero; with the smoke set's 120 easy questions an interval is wide, as it should be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.log import EvalLog
from inspect_ai.scorer import value_to_float

BOOTSTRAP_N = 1000


def correctness(log: EvalLog) -> pd.DataFrame:
    """One row per scored sample: id, task (benchmark), correct (0/1). Needs a log read with samples."""
    to_float = value_to_float()
    rows = []
    for sample in log.samples or []:
        score = (sample.scores or {}).get("capability_choice")
        if score is None or not score.metadata:
            continue
        rows.append(
            {"id": str(sample.id), "task": score.metadata["task"], "correct": float(to_float(score.value) == 1.0)}
        )
    return pd.DataFrame(rows, columns=["id", "task", "correct"])


def paired_deltas(model: EvalLog, base: EvalLog, n: int = BOOTSTRAP_N, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per benchmark: accuracy(model) - accuracy(base) on the questions both answered, with a paired
    bootstrap 95% interval (seeded) and the number of shared questions."""
    joined = correctness(model).merge(correctness(base), on=["id", "task"], suffixes=("_model", "_base"))
    rng = np.random.default_rng(seed)
    out = {}
    for task, group in joined.groupby("task"):
        diff = (group["correct_model"] - group["correct_base"]).to_numpy()
        draws = diff[rng.integers(0, len(diff), (n, len(diff)))].mean(axis=1)
        out[str(task)] = {
            "delta": float(diff.mean()),
            "lo": float(np.quantile(draws, 0.025)),
            "hi": float(np.quantile(draws, 0.975)),
            "n": float(len(diff)),
        }
    return out


def mean_delta(model: EvalLog, base: EvalLog, n: int = BOOTSTRAP_N, seed: int = 0) -> dict[str, float] | None:
    """The headline capability change: the mean over benchmarks of the paired per-benchmark change
    (each benchmark weighs the same, as in the reference's table), with a 95% interval from a paired
    bootstrap stratified by benchmark (questions resampled within each). None without shared questions."""
    joined = correctness(model).merge(correctness(base), on=["id", "task"], suffixes=("_model", "_base"))
    return stratified_mean_delta(joined, n=n, seed=seed)


def stratified_mean_delta(joined: pd.DataFrame, n: int = BOOTSTRAP_N, seed: int = 0) -> dict[str, float] | None:
    if joined.empty:
        return None
    rng = np.random.default_rng(seed)
    points, draws = [], np.zeros(n)
    groups = [(g["correct_model"] - g["correct_base"]).to_numpy() for _, g in joined.groupby("task")]
    for diff in groups:
        points.append(diff.mean())
        draws += diff[rng.integers(0, len(diff), (n, len(diff)))].mean(axis=1)
    draws /= len(groups)
    return {
        "delta": float(np.mean(points)),
        "lo": float(np.quantile(draws, 0.025)),
        "hi": float(np.quantile(draws, 0.975)),
        "benchmarks": float(len(groups)),
        "n": float(len(joined)),
    }
