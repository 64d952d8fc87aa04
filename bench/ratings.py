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


def ilsr(counts: np.ndarray, alpha: float, initial: np.ndarray | None = None, max_iter: int = 100) -> np.ndarray:
    """choix's `ilsr_pairwise_dense` (iterative Luce spectral ranking, `alpha` pseudo-comparisons per
    pair), for a stack of comparison matrices at once: `counts[d, i, j]` is how often i beat j in fit d;
    returns centred log-strengths, one row per fit, equal to choix's to rounding (tests/test_ratings.py).

    Written here because choix fits one matrix per call: a report refits its ratings on 200 bootstrap
    draws, and one batched linear solve per iteration replaces 200 Python-level fits (10x faster at 20
    traits, the same at 144, where the solve itself dominates). Convergence is choix's: the L1 change of
    successive centred iterates at most 1e-8 per item, checked per fit."""
    fits, k, _ = counts.shape
    start = np.zeros((fits, k)) if initial is None else initial - initial.mean(axis=1, keepdims=True)
    weights = np.exp(start) * (k / np.exp(start).sum(axis=1, keepdims=True))
    params, previous = np.zeros((fits, k)), None
    active, diagonal = np.arange(fits), np.arange(k)
    transposed = counts.transpose(0, 2, 1)
    for _ in range(max_iter):
        w = weights[active]
        # the LSR chain's generator: rate i -> j is alpha + wins of j over i / (w_i + w_j)
        chain = alpha + transposed[active] / (w[:, None, :] + w[:, :, None])
        chain[:, diagonal, diagonal] = 0.0
        chain[:, diagonal, diagonal] = -chain.sum(axis=2)
        # its stationary distribution: pi G = 0 with the last equation replaced by sum(pi) = 1
        system = chain.transpose(0, 2, 1).copy()
        system[:, -1, :] = 1.0
        target = np.zeros((len(active), k, 1))
        target[:, -1, 0] = 1.0
        new = np.log(np.linalg.solve(system, target)[..., 0])
        new -= new.mean(axis=1, keepdims=True)
        done = (
            np.zeros(len(active), dtype=bool)
            if previous is None
            else np.abs(previous[active] - new).sum(axis=1) <= 1e-8 * k
        )
        params[active] = new
        previous = params.copy()
        weights[active] = np.exp(new) * (k / np.exp(new).sum(axis=1, keepdims=True))
        active = active[~done]
        if not len(active):
            return params
    raise RuntimeError(f"Bradley-Terry (ILSR) did not converge in {max_iter} iterations")


def _bt_params(n: int, winners: np.ndarray, losers: np.ndarray, prior: float) -> np.ndarray:
    counts = np.zeros((n, n))
    np.add.at(counts, (winners, losers), 1.0)
    params = ilsr(counts[None], alpha=prior)[0]
    return 1000.0 + ELO_SCALE * params


def bradley_terry(matches: pd.DataFrame, prior: float = BT_PRIOR) -> pd.DataFrame:
    """Maximum-likelihood Bradley-Terry (iterative LSR, `ilsr`), on the Elo scale with mean 1000."""
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

    Treats every matchup as independent: right for simulated matches, not for a tournament log, whose
    matchups share prompts (`bench.revealed_prefs.validity` resamples prompts). Returns the point fit's
    table with `lo`, `hi` and `se` added; a trait missing from a resample contributes nothing to it.
    """
    point, draws = _draws(matches, fit, n, seed)
    samples = pd.concat(draws, axis=1).reindex(point.index)
    point["lo"] = samples.quantile(0.025, axis=1)
    point["hi"] = samples.quantile(0.975, axis=1)
    point["se"] = samples.std(axis=1, ddof=1)
    return point


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


# ---------------------------------------------------------------- power

ELO_PER_LOGIT = 400 / np.log(10)


def rating_se(matches_per_trait: float) -> float:
    """Standard error (Elo) of one trait's Bradley-Terry rating from `m` matches near p = 0.5: each match
    carries Fisher information p(1-p) = 1/4 in logits, so se = ELO_PER_LOGIT * 2 / sqrt(m)."""
    return float(ELO_PER_LOGIT * 2 / np.sqrt(matches_per_trait))


def matchups_for_shift(
    shift: float,
    traits: int,
    power: float = 0.8,
    alpha: float = 0.05,
    tests: int = 1,
    design_effect: float = 1.0,
) -> int:
    """Matchups per log to detect a `shift` (Elo) in one trait between two logs, two-sided, at `power`;
    `tests` > 1 applies Bonferroni (the worst case of any FDR control: one true shift among `tests`).

    `design_effect`: the variance of a shift on the real design over that of independent matchups in
    independent logs (prompt reuse raises it, pairing two logs on one design lowers it), measured by
    `bench.revealed_prefs.validity.design_effect`."""
    per_trait = _appearances(shift, power, alpha / tests, design_effect)
    return int(np.ceil(per_trait * traits / 2))  # each matchup plays two traits


def _appearances(shift: float, power: float, alpha: float, design_effect: float) -> float:
    """Appearances one trait needs in each of two logs for its `shift` to be found, two-sided at `alpha`
    with `power`: the se of a difference is sqrt(2) x `rating_se`."""
    from scipy.stats import norm

    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return design_effect * 2 * (z * ELO_PER_LOGIT * 2 / shift) ** 2


def matchups_for_target_shift(
    shift: float,
    traits: int,
    targets: int,
    power: float = 0.8,
    alpha: float = 0.05,
    design_effect: float = 1.0,
    share: float = 0.0,
    design_targets: int | None = None,
    in_design: int | None = None,
) -> int:
    """Matchups per log to detect a mean `shift` (Elo) of a persona's `targets` target traits between two
    logs on one design, two-sided, at `power`. `share` > 0 is a planned design (bench/revealed_prefs/
    dataset.py `draw_planned`): that share of matchups pits one of `design_targets` traits (the
    experiment's union; default `targets`) against the vocabulary, so each target appears in
    share / design_targets + (1 - share) x 2 / traits + share / traits of the matchups instead of
    2 / traits; `in_design` of the persona's targets are among them (default all), the others appear as
    any other trait. The variance of the mean shift is sum(1 / m_i) / targets^2 in units of one
    appearance's. `design_effect` as in `matchups_for_shift` (prompt clustering, pairing; measured on
    uniform logs it may understate a planned design's, whose target matchups share prompts more); with
    share 0 and one target this is `matchups_for_shift`."""
    union = design_targets or targets
    inside = targets if in_design is None else in_design
    plain = (1 - share) * 2 / traits + share / traits  # appearances per matchup of a trait outside the design
    inverse = inside / (share / union + plain) + (targets - inside) / plain  # sum over targets of 1 / rate
    return int(np.ceil(_appearances(shift, power, alpha, design_effect) * inverse / targets**2))


def expected_reliability(matchups: int, traits: int, true_spread: float) -> float:
    """Reliability of the whole ranking expected at n: true variance / (true variance + noise variance)."""
    se = rating_se(2 * matchups / traits)
    return float(true_spread**2 / (true_spread**2 + se**2))
