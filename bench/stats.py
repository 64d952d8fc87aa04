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
