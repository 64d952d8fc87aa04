"""Drift curves from per-turn scores: pure functions of a conversations x turns matrix.

A curve is one conversation's scores, turn 1 first; an empty reply scores the floor (0: no persona
expressed, counted as `empty` beside the curve); a turn that was never reached (a conversation that
ended early) is NaN and leaves the means of that turn. The
resampling unit of every interval is the conversation (VALIDITY.md, section 1): its turns are not
independent of each other, so whole rows of the matrix are resampled together.

Definitions (bench/drift/README.md states the same):
- per-turn mean: the mean over conversations with a score at that turn;
- slope: least-squares slope of score on turn number over every scored (conversation, turn) cell,
  in score units per turn;
- AUC: the trapezoidal area under the per-turn mean curve divided by its width in turns, i.e. the
  curve's average height (a persona that holds at 0.8 on every turn has AUC 0.8);
- threshold turn: the first turn after turn 1 whose mean falls below `fraction` (default 0.5) times
  turn 1's mean; undefined when turn 1's mean is not above zero, and None ("holds") when no turn
  falls below it. In bootstrap draws a persona that holds counts as turn `turns + 1`.
"""

from __future__ import annotations

import warnings

import numpy as np

from bench.stats import BOOTSTRAP_N, cluster_bootstrap, percentile_interval

THRESHOLD_FRACTION = 0.5


def curve_matrix(curves: list[list[float | None]], turns: int) -> np.ndarray:
    """Conversations x turns, NaN where a turn has no score (missing turns at the end included)."""
    m = np.full((len(curves), turns), np.nan)
    for row, curve in enumerate(curves):
        for t, value in enumerate(list(curve)[:turns]):
            if value is not None:
                m[row, t] = float(value)
    return m


def per_turn_means(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a turn nobody reached is NaN, on purpose
        return np.nanmean(m, axis=0)


def slope(m: np.ndarray) -> float:
    turn = np.broadcast_to(np.arange(1, m.shape[1] + 1), m.shape)
    ok = ~np.isnan(m)
    x, y = turn[ok].astype(float), m[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def auc(means: np.ndarray) -> float:
    ok = ~np.isnan(means)
    x, y = np.arange(1, len(means) + 1)[ok], means[ok]
    if len(x) == 0:
        return float("nan")
    if len(x) == 1:
        return float(y[0])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def threshold_turn(means: np.ndarray, fraction: float = THRESHOLD_FRACTION) -> int | None:
    if len(means) == 0 or np.isnan(means[0]) or means[0] <= 0:
        return None
    below = [t for t in range(1, len(means)) if not np.isnan(means[t]) and means[t] < fraction * means[0]]
    return below[0] + 1 if below else None


def curve_summary(
    curves: list[list[float | None]],
    conversations: list[str],
    turns: int,
    prefix: str,
    fraction: float = THRESHOLD_FRACTION,
    n_boot: int = BOOTSTRAP_N,
    seed: int = 0,
) -> dict[str, float]:
    """Per-turn means, slope, AUC and threshold turn, each with a 95% interval over conversations.

    Keys: `<prefix>turn<t>` (+ `_lo`, `_hi`, `_n`), `<prefix>slope`, `<prefix>auc` (+ `_lo`, `_hi`,
    `_se`), `<prefix>threshold` (the score level), `<prefix>threshold_turn` (+ `_lo`, `_hi`; `turns + 1`
    when the persona holds) and `<prefix>holds` (1 when no turn fell below the threshold).
    """
    m = curve_matrix(curves, turns)
    if m.size == 0 or np.isnan(m).all():
        return {}

    def stats(rows: np.ndarray) -> np.ndarray:
        sub = m[rows]
        means = per_turn_means(sub)
        at = threshold_turn(means, fraction)
        return np.concatenate([means, [slope(sub), auc(means), turns + 1 if at is None else at]])

    rows = np.arange(len(m))
    point = stats(rows)
    draws = cluster_bootstrap(list(conversations), stats, n=n_boot, seed=seed)
    out: dict[str, float] = {}

    def interval(column: int) -> tuple[float, float, float]:
        values = draws[:, column]
        values = values[~np.isnan(values)]
        return percentile_interval(values) if len(values) else (float("nan"),) * 3

    for t in range(turns):
        n = int((~np.isnan(m[:, t])).sum())
        if n == 0:
            continue
        lo, hi, _ = interval(t)
        out.update({f"{prefix}turn{t + 1}": point[t], f"{prefix}turn{t + 1}_lo": lo, f"{prefix}turn{t + 1}_hi": hi})
        out[f"{prefix}turn{t + 1}_n"] = float(n)
    for j, name in ((turns, "slope"), (turns + 1, "auc")):
        lo, hi, se = interval(j)
        out.update({f"{prefix}{name}": point[j], f"{prefix}{name}_lo": lo, f"{prefix}{name}_hi": hi})
        out[f"{prefix}{name}_se"] = se
    if not np.isnan(point[0]) and point[0] > 0:
        lo, hi, _ = interval(turns + 2)
        out.update(
            {
                f"{prefix}threshold": fraction * point[0],
                f"{prefix}threshold_turn": point[turns + 2],
                f"{prefix}threshold_turn_lo": lo,
                f"{prefix}threshold_turn_hi": hi,
                f"{prefix}holds": float(point[turns + 2] == turns + 1),
            }
        )
    return {k: float(v) for k, v in out.items()}
