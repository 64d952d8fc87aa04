"""Ratings from pairwise matchups: Elo (as the reference), order-averaged Elo, Bradley-Terry.

Every function takes a DataFrame with columns `trait_a`, `trait_b`, `winner` (the winning trait's
name; rows whose winner is neither trait are ignored, so count invalid rows before calling) and
returns a DataFrame indexed by trait with a `rating` column on the Elo scale, plus `matches` and
`wins`. Only traits that appeared are rated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

ELO_SCALE = 400.0 / np.log(10.0)
BT_PRIOR = 0.01  # choix's `alpha` (a weak prior): unbeaten traits stay finite; larger values shrink the
# spread visibly (alpha=0.5 halves it at 25k matchups over 144 traits, measured in perf/ratings.py)

Fit = Callable[[pd.DataFrame], pd.DataFrame]


def _encode(matches: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Trait names and, per valid match, the winner's and loser's index."""
    valid = matches[(matches["winner"] == matches["trait_a"]) | (matches["winner"] == matches["trait_b"])]
    traits = sorted(set(matches["trait_a"]) | set(matches["trait_b"]))
    index = {t: i for i, t in enumerate(traits)}
    a = valid["trait_a"].map(index).to_numpy()
    b = valid["trait_b"].map(index).to_numpy()
    a_won = (valid["winner"] == valid["trait_a"]).to_numpy()
    winners = np.where(a_won, a, b).astype(int)
    losers = np.where(a_won, b, a).astype(int)
    return traits, winners, losers


def _table(traits: list[str], ratings: np.ndarray, winners: np.ndarray, losers: np.ndarray) -> pd.DataFrame:
    n = len(traits)
    wins = np.bincount(winners, minlength=n)
    matches = wins + np.bincount(losers, minlength=n)
    table = pd.DataFrame({"rating": ratings, "matches": matches, "wins": wins}, index=pd.Index(traits, name="trait"))
    return table.sort_values("rating", ascending=False)


def _sequential_elo(n: int, winners: np.ndarray, losers: np.ndarray, k: float, initial: float) -> np.ndarray:
    ratings = [float(initial)] * n
    for w, lo in zip(winners.tolist(), losers.tolist()):
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[lo] - ratings[w]) / 400.0))
        delta = k * (1.0 - expected)
        ratings[w] += delta
        ratings[lo] -= delta
    return np.asarray(ratings)


def elo(matches: pd.DataFrame, k: float = 32, initial: float = 1000) -> pd.DataFrame:
    """The reference's single sequential pass in row order (order-dependent; kept for comparability)."""
    traits, winners, losers = _encode(matches)
    return _table(traits, _sequential_elo(len(traits), winners, losers, k, initial), winners, losers)


def elo_averaged(
    matches: pd.DataFrame, orders: int = 100, seed: int = 0, k: float = 32, initial: float = 1000
) -> pd.DataFrame:
    """Mean of sequential Elo over `orders` random permutations of the matches (order-independent)."""
    traits, winners, losers = _encode(matches)
    rng = np.random.default_rng(seed)
    total = np.zeros(len(traits))
    for _ in range(orders):
        perm = rng.permutation(len(winners))
        total += _sequential_elo(len(traits), winners[perm], losers[perm], k, initial)
    return _table(traits, total / orders, winners, losers)


def _bt_params(n: int, winners: np.ndarray, losers: np.ndarray, prior: float) -> np.ndarray:
    import choix

    counts = np.zeros((n, n))
    np.add.at(counts, (winners, losers), 1.0)
    params = choix.ilsr_pairwise_dense(counts, alpha=prior)
    return 1000.0 + ELO_SCALE * (params - params.mean())


def bradley_terry(matches: pd.DataFrame, prior: float = BT_PRIOR) -> pd.DataFrame:
    """Maximum-likelihood Bradley-Terry (choix's iterative LSR), on the Elo scale with mean 1000."""
    traits, winners, losers = _encode(matches)
    return _table(traits, _bt_params(len(traits), winners, losers, prior), winners, losers)


def _resample_fit(fit: Fit) -> Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None:
    """The array-level fit behind a public fit, so bootstrap resamples index arrays, not DataFrames."""
    if fit is bradley_terry:
        return lambda n, w, lo: _bt_params(n, w, lo, BT_PRIOR)
    if fit is elo:
        return lambda n, w, lo: _sequential_elo(n, w, lo, 32, 1000)
    return None


def _draws(matches: pd.DataFrame, fit: Fit, n: int, seed: int) -> tuple[pd.DataFrame, list[pd.Series]]:
    point = fit(matches)
    rng = np.random.default_rng(seed)
    fast = _resample_fit(fit)
    draws = []
    if fast is not None:
        traits, winners, losers = _encode(matches)
        for _ in range(n):
            pick = rng.integers(0, len(winners), len(winners))
            w, lo = winners[pick], losers[pick]
            present = np.bincount(w, minlength=len(traits)) + np.bincount(lo, minlength=len(traits)) > 0
            draw = pd.Series(fast(len(traits), w, lo), index=traits)[present]
            if fit is bradley_terry:  # BT fixes only differences: anchor each draw on the point fit's level
                draw = draw - draw.mean() + point["rating"].reindex(draw.index).mean()
            draws.append(draw)
    else:
        for _ in range(n):
            draws.append(fit(matches.iloc[rng.integers(0, len(matches), len(matches))])["rating"])
    return point, draws


def bootstrap(matches: pd.DataFrame, fit: Fit = bradley_terry, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """95% percentile intervals: refit on `n` resamples of the matches (rows drawn with replacement).

    Returns the point fit's table with `lo`, `hi` and `se` added. A trait missing from a resample
    contributes no value to that resample.
    """
    point, draws = _draws(matches, fit, n, seed)
    samples = pd.concat(draws, axis=1).reindex(point.index)
    point["lo"] = samples.quantile(0.025, axis=1)
    point["hi"] = samples.quantile(0.975, axis=1)
    point["se"] = samples.std(axis=1, ddof=1)
    return point


def spread_interval(
    matches: pd.DataFrame, fit: Fit = bradley_terry, n: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """Rating spread (population std over traits) with a bootstrap 95% interval.

    Resampling adds noise to every refit, so resampled spreads sit above the point estimate (by a
    lot when traits have few matches); the interval keeps the bootstrap's width but is centred on the
    point estimate (shifted by point - median of the draws).
    """
    point, draws = _draws(matches, fit, n, seed)
    values = np.array([float(d.std(ddof=0)) for d in draws])
    spread = float(point["rating"].std(ddof=0))
    shift = spread - float(np.median(values))
    lo, hi = float(np.quantile(values, 0.025)) + shift, float(np.quantile(values, 0.975)) + shift
    return spread, max(0.0, lo), hi


def simulate_matches(true_ratings: pd.Series, n: int, seed: int = 0) -> pd.DataFrame:
    """Matchups between random distinct traits, won with Bradley-Terry probabilities (for tests and perf)."""
    rng = np.random.default_rng(seed)
    traits = true_ratings.index.to_numpy()
    strengths = true_ratings.to_numpy()
    a = rng.integers(0, len(traits), n)
    b = (a + rng.integers(1, len(traits), n)) % len(traits)
    p_a = 1.0 / (1.0 + 10.0 ** ((strengths[b] - strengths[a]) / 400.0))
    a_wins = rng.random(n) < p_a
    return pd.DataFrame({"trait_a": traits[a], "trait_b": traits[b], "winner": np.where(a_wins, traits[a], traits[b])})


# ---------------------------------------------------------------- floors, reliability, multiplicity
# ../shared/VALIDITY.md section 2: what a number would read under the null, and how well it agrees
# with itself, beside the number.


def corrected_spread(table: pd.DataFrame, spread: float | None = None) -> float:
    """The spread with estimation noise removed: sqrt(max(0, spread^2 - mean(se^2))).

    `table` is `bootstrap`'s output (per-trait `rating` and `se`); `spread` defaults to the table's own
    (population std of the ratings); pass an interval end to correct it the same way. The raw spread of
    a coin-flip judge is not 0 (every rating carries its own noise); this one is ~0.
    """
    spread = float(table["rating"].std(ddof=0)) if spread is None else spread
    variance = spread**2 - float((table["se"].fillna(0) ** 2).mean())
    return float(np.sqrt(max(0.0, variance)))


def null_spread(matches: pd.DataFrame, fit: Fit = bradley_terry, sims: int = 20, seed: int = 0) -> tuple[float, float]:
    """The spread a coin-flip judge gives on this log's own pairings (same traits, same n): mean and 95th
    percentile over `sims` seeded simulations. A raw spread near this is noise."""
    rng = np.random.default_rng(seed)
    a, b = matches["trait_a"].to_numpy(), matches["trait_b"].to_numpy()
    values = []
    for _ in range(sims):
        winner = np.where(rng.random(len(a)) < 0.5, a, b)
        values.append(float(fit(pd.DataFrame({"trait_a": a, "trait_b": b, "winner": winner}))["rating"].std(ddof=0)))
    return float(np.mean(values)), float(np.quantile(values, 0.95))


def _halves(matches: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded split stratified by trait: after a shuffle, each trait's matchups (grouped by their first
    trait) alternate between the halves, so every trait with two or more matchups is in both."""
    shuffled = matches.iloc[rng.permutation(len(matches))]
    order = shuffled.groupby("trait_a", sort=False).cumcount().to_numpy()
    return shuffled[order % 2 == 0], shuffled[order % 2 == 1]


def _split_half(matches: pd.DataFrame, fit: Fit, rng: np.random.Generator, resample: bool = False) -> float:
    """One split's Spearman-Brown reliability; `resample` draws each half with replacement *after* the
    split, so a duplicated matchup never lands in both halves (which would fake agreement)."""
    from scipy.stats import spearmanr

    first, second = _halves(matches, rng)
    if min(len(first), len(second)) < 2:
        return float("nan")
    if resample:
        first = first.iloc[rng.integers(0, len(first), len(first))]
        second = second.iloc[rng.integers(0, len(second), len(second))]
    ra, rb = fit(first)["rating"], fit(second)["rating"]
    common = ra.index.intersection(rb.index)
    if len(common) < 3:
        return float("nan")
    r = float(spearmanr(ra[common], rb[common]).statistic)
    # Spearman-Brown leaves [-1, 1] below r = -1/3 (-18 at r = -0.9): halves that disagree that much
    # are simply at the floor, and an unclipped point would sit outside its own (clipped) interval
    return max(-1.0, 2 * r / (1 + r)) if r > -1 else -1.0


def reliability(
    matches: pd.DataFrame, fit: Fit = bradley_terry, n: int = 50, seed: int = 0
) -> tuple[float, float, float]:
    """Split-half reliability of the ranking, Spearman-Brown corrected: rel = 2r / (1 + r).

    Point estimate: the mean over 10 seeded splits (one split is itself noisy). Interval: 95% percentile
    over `n` draws, each a fresh split whose halves are resampled (with replacement) separately,
    re-centred on the point estimate; the resampled unit is the matchup. Near 0 for a coin-flip judge;
    two noisy rankings of one model correlate at most sqrt(rel_a * rel_b).
    """
    rng = np.random.default_rng(seed)
    points = [_split_half(matches, fit, rng) for _ in range(10)]
    draws = [_split_half(matches, fit, rng, resample=True) for _ in range(n)]
    if not np.isfinite(points).any() or not np.isfinite(draws).any():
        return float("nan"), float("nan"), float("nan")  # too few matchups to split
    point = float(np.nanmean(points))
    # resampled halves are noisier than the data, so the draws sit below the point estimate: keep the
    # bootstrap's width, centred on the point estimate (as `spread_interval` does)
    shift = point - float(np.nanmedian(draws))
    lo, hi = np.nanquantile(draws, [0.025, 0.975]) + shift
    return point, float(max(-1.0, lo)), float(min(1.0, hi))


def benjamini_hochberg(p_values: pd.Series) -> pd.Series:
    """BH q-values (false discovery rate), in the input's order."""
    p = p_values.to_numpy(dtype=float)
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(q)
    out[order] = np.minimum(q, 1.0)
    return pd.Series(out, index=p_values.index)


def bootstrap_p_values(estimate: pd.Series, draws: pd.DataFrame) -> pd.Series:
    """Two-sided p-value per trait from the estimate and its bootstrap standard error (normal
    approximation): z = estimate / sd(draws). Counting draws past 0 instead cannot go below
    1 / (draws + 1), which no multiplicity correction over 144 traits would ever let through."""
    from scipy.stats import norm

    se = draws.std(axis=1, ddof=1).reindex(estimate.index)
    z = (estimate / se.replace(0, np.nan)).abs()
    return pd.Series(2 * norm.sf(z.to_numpy(dtype=float)), index=estimate.index).fillna(1.0)


# ---------------------------------------------------------------- power

ELO_PER_LOGIT = 400 / np.log(10)


def rating_se(matches_per_trait: float) -> float:
    """Standard error (Elo) of one trait's Bradley-Terry rating from `m` matches near p = 0.5: each match
    carries Fisher information p(1-p) = 1/4 in logits, so se = ELO_PER_LOGIT * 2 / sqrt(m)."""
    return float(ELO_PER_LOGIT * 2 / np.sqrt(matches_per_trait))


def matchups_for_shift(shift: float, traits: int, power: float = 0.8, alpha: float = 0.05, tests: int = 1) -> int:
    """Matchups per log to detect a `shift` (Elo) in one trait between two independent logs, two-sided,
    at `power`; `tests` > 1 applies Bonferroni (the worst case of BH: one true shift among `tests`)."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / (2 * tests)) + norm.ppf(power)
    per_trait = 2 * (z * ELO_PER_LOGIT * 2 / shift) ** 2  # se of a difference: sqrt(2) x se
    return int(np.ceil(per_trait * traits / 2))  # each matchup plays two traits


def expected_reliability(matchups: int, traits: int, true_spread: float) -> float:
    """Reliability of the whole ranking expected at n: true variance / (true variance + noise variance)."""
    se = rating_se(2 * matchups / traits)
    return float(true_spread**2 / (true_spread**2 + se**2))
