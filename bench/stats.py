"""Small statistics shared by the evals: binomial intervals and the length-controlled win rate."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (scipy's implementation)."""
    if trials == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (SE is 0 for fewer than two values)."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return float("nan"), float("nan")
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return float(arr.mean()), se


def length_controlled_win_rate(wins: np.ndarray, length_diff: np.ndarray) -> float | None:
    """Win probability at equal length: logistic regression of win (1/0) on the length difference.

    Pairwise judges favour longer answers; the intercept of `win ~ length_diff` is the win rate the
    model would have if both replies were equally long. None when the fit is undefined (one class only).
    """
    wins = np.asarray(wins, dtype=int)
    if len(wins) < 4 or wins.min() == wins.max():
        return None
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(length_diff, dtype=float).reshape(-1, 1) / 100.0
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, wins)
    return float(1.0 / (1.0 + math.exp(-fit.intercept_[0])))


BOOTSTRAP_N = 1000


def cluster_indices(clusters: list) -> list[np.ndarray]:
    """Row indices grouped by cluster, clusters in first-seen order."""
    groups: dict = {}
    for i, key in enumerate(clusters):
        groups.setdefault(key, []).append(i)
    return [np.asarray(rows, dtype=int) for rows in groups.values()]


def cluster_bootstrap(clusters: list, statistic, n: int = BOOTSTRAP_N, seed: int = 0) -> np.ndarray:
    """Draws of `statistic(row_indices)` with whole clusters resampled with replacement.

    Replies that share a prompt (the adversarial variants of one prompt, every persona's answer to it)
    are not independent; resampling single rows would treat them as if they were and give intervals
    that are too narrow (VALIDITY.md, section 1).
    """
    groups = cluster_indices(clusters)
    if not groups:
        return np.array([])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(n, len(groups)))
    return np.array([statistic(np.concatenate([groups[j] for j in row])) for row in picks])


def percentile_interval(draws: np.ndarray) -> tuple[float, float, float]:
    """(2.5%, 97.5% quantiles, SD) of bootstrap draws: the 95% interval and the bootstrap SE."""
    se = float(np.std(draws, ddof=1)) if len(draws) > 1 else 0.0
    return float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975)), se


def cluster_interval(
    clusters: list, statistic, hits: list[float], n: int = BOOTSTRAP_N, seed: int = 0
) -> tuple[float, float, float]:
    """95% interval and SE of a proportion-like `statistic`, resampling clusters.

    When every cluster agrees (all right or all wrong) the bootstrap cannot vary; then the Wilson
    interval of `hits` with one trial per cluster is used, so a perfect score on 3 prompts is not [1, 1].
    """
    if len(hits) == 0:
        return (0.0, 1.0, float("nan"))
    lo, hi, se = percentile_interval(cluster_bootstrap(clusters, statistic, n=n, seed=seed))
    if lo == hi:
        k = len(cluster_indices(clusters))
        lo, hi = wilson_interval(round(float(np.mean(hits)) * k), k)
    return lo, hi, se


def cluster_proportion_interval(
    hits: list[float], clusters: list, n: int = BOOTSTRAP_N, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of a proportion, resampling clusters (`cluster_interval` of the mean)."""
    values = np.asarray(hits, dtype=float)
    lo, hi, _ = cluster_interval(clusters, lambda rows: float(values[rows].mean()), hits, n=n, seed=seed)
    return lo, hi
