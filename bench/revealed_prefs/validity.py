"""What a tournament's figures would read if nothing were there, on this design (../shared/VALIDITY.md 1-2).

A verdict depends on more than the model's preference: the judge's affinity between a trait word and
the reply's content, and the prompt the reply answers. A model that ignores the offered traits (one
constant reply) still gets a large, reliable ranking from such a judge, so a coin-flip judge is not
the null. Every figure here is therefore measured against the **design null**: each reply is judged a
second time on the trait pair of another matchup of the same prompt (`null_a`, `null_b`,
`null_winner`; the tournament dataset fixes the re-pairing, the scorer judges it). Those verdicts are
what a model that ignores the offered traits gets with this judge on these prompts and these pairs.

- The unit is the prompt: every matchup that reuses a prompt is one cluster, and two logs that share
  prompts (base and method on one design) are resampled together, by prompt (paired).
- Intervals of ratings, shifts and the spread change are bias-corrected percentile intervals (Efron's
  BC: BCa without the acceleration) of the clustered bootstrap; nothing is re-centred on the point.
  Correlations (Spearman, split-half, test-retest) take Fisher's z interval over the traits, and the
  corrected spread the normal interval of its bootstrap SD: refits on resampled prompts are noisier,
  which biases those statistics further than any percentile interval survives.
- The corrected spread is the spread of the ratings *net of the null* (observed minus null ratings per
  trait) with its noise removed; the reliability is the split-half reliability of those net ratings,
  with halves that split prompts and balance both traits of every matchup (Fisher-z interval: see
  `reliability`).
- The ceiling of a comparison is test-retest: two runs of one model on one design with independent
  generation seeds (`retest`), not sqrt(rel_a * rel_b), which assumes independent errors.
- Trait shifts are marked by Benjamini-Yekutieli (false discovery rate under any dependence).

Frames are `pandas` tables with columns `trait_a`, `trait_b`, `winner` and, where the log has them,
`prompt` (the cluster) and `null_a`, `null_b`, `null_winner`; a winner that is neither trait is invalid.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from bench import ratings

LEVEL = 0.95
DRAWS = 200  # bootstrap draws of every tournament report (the log's metrics, prefs compare, the leaderboard)
RELIABILITY_DRAWS = 50
SPLITS = 10  # split-half point estimate: the mean over this many seeded splits (one split is noisy)
MULTIPLICITY = "Benjamini-Yekutieli"
# A trait's shift gets an interval (and a place in the multiplicity count) only when it has a valid
# verdict in at least this many prompts of each log. Below it the clustered bootstrap has almost
# nothing to resample: with m prompts a draw lacks the trait with probability about e^-m and otherwise
# repeats a few verdicts, so its percentile interval shrinks towards zero width (at m = 1 every draw
# that holds the trait gives the same shift). At 10 a draw lacks it with probability < 0.0001 and the
# bootstrap variance is 0.9 of the truth ((m - 1) / m).
MIN_PROMPTS = 10


@dataclass
class Encoded:
    """A frame as index arrays over a shared trait and prompt index (so paired logs resample together)."""

    traits: list[str]
    winner: np.ndarray  # trait index of the winner, -1 where invalid
    loser: np.ndarray
    null_winner: np.ndarray | None  # the design null's verdicts (None: the log has none)
    null_loser: np.ndarray | None
    pair_a: np.ndarray  # both traits of every matchup (for stratified halves)
    pair_b: np.ndarray
    codes: np.ndarray  # prompt code of every row (codes shared by the frames encoded together)
    by_prompt: dict[int, np.ndarray]  # prompt code -> row indices

    def weights(self, prompt_counts: np.ndarray) -> np.ndarray:
        """Row weights of a draw: each row counts as often as its prompt was drawn."""
        return prompt_counts[self.codes].astype(float)

    @property
    def has_null(self) -> bool:
        return self.null_winner is not None and bool((self.null_winner >= 0).any())


def _verdicts(a: pd.Series, b: pd.Series, w: pd.Series, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    ia = a.map(index).fillna(-1).astype(int).to_numpy()
    ib = b.map(index).fillna(-1).astype(int).to_numpy()
    a_won, b_won = (w == a).to_numpy(), (w == b).to_numpy()
    valid = (a_won | b_won) & (ia >= 0) & (ib >= 0)
    winner = np.where(valid, np.where(a_won, ia, ib), -1)
    loser = np.where(valid, np.where(a_won, ib, ia), -1)
    return winner, loser


def encode(frames: list[pd.DataFrame]) -> list[Encoded]:
    """Encode frames over one trait index and one prompt index. A frame without `prompt` makes each
    matchup its own cluster (older logs): the unit is then the matchup, and `unit()` says so."""
    traits = sorted({t for f in frames for col in ("trait_a", "trait_b") for t in f[col]})
    index = {t: i for i, t in enumerate(traits)}
    prompts: dict[object, int] = {}
    out = []
    for k, frame in enumerate(frames):
        if "prompt" in frame and frame["prompt"].notna().all():
            keys = list(frame["prompt"])
        else:
            keys = [("row", k, i) for i in range(len(frame))]
        codes = np.array([prompts.setdefault(key, len(prompts)) for key in keys], dtype=int)
        winner, loser = _verdicts(frame["trait_a"], frame["trait_b"], frame["winner"], index)
        null_w = null_l = None
        if {"null_a", "null_b", "null_winner"} <= set(frame.columns):
            null_w, null_l = _verdicts(frame["null_a"], frame["null_b"], frame["null_winner"], index)
        by_prompt = {int(c): rows for c, rows in pd.Series(np.arange(len(frame))).groupby(codes).groups.items()}
        out.append(
            Encoded(
                traits,
                winner,
                loser,
                null_w,
                null_l,
                frame["trait_a"].map(index).to_numpy(),
                frame["trait_b"].map(index).to_numpy(),
                codes,
                {c: np.asarray(rows, dtype=int) for c, rows in by_prompt.items()},
            )
        )
    return out


def unit(enc: Encoded) -> str:
    clusters = len(enc.by_prompt)
    if clusters == len(enc.winner):
        return f"matchup ({clusters}; no prompt shared by two matchups)"
    return f"prompt ({clusters} prompts)"


def fit(
    enc: Encoded, weights: np.ndarray | None = None, null: bool = False, start: np.ndarray | None = None
) -> np.ndarray:
    """Bradley-Terry ratings (Elo scale, mean 1000 over the rated traits), each row counted `weights`
    times (default once); NaN for a trait that no valid weighted verdict involves. `start` (ratings of
    the same traits, e.g. the point fit) warm-starts the iteration: a bootstrap refit converges in a
    third of the iterations, to the same optimum."""
    return fit_many(enc, None if weights is None else np.asarray(weights, dtype=float)[None], null, start)[0]


def fit_many(
    enc: Encoded, weights: np.ndarray | None = None, null: bool = False, start: np.ndarray | None = None
) -> np.ndarray:
    """`fit` for many row weightings at once (`weights`: fits x rows, e.g. every bootstrap draw), one
    batched solve (`ratings.ilsr`); returns fits x traits."""
    winner = enc.null_winner if null else enc.winner
    loser = enc.null_loser if null else enc.loser
    assert winner is not None and loser is not None
    w = np.ones((1, len(winner))) if weights is None else np.atleast_2d(weights)
    k = len(enc.traits)
    valid = winner >= 0
    cell = winner[valid] * k + loser[valid]
    # counts[d] = bincount(cell, weights=w[d]) for every draw d, as one sparse product
    from scipy.sparse import csr_matrix

    onehot = csr_matrix((np.ones(len(cell)), (cell, np.arange(len(cell)))), shape=(k * k, len(cell)))
    counts = np.asarray((onehot @ w[:, valid].T).T).reshape(len(w), k, k)
    present = (counts.sum(axis=1) + counts.sum(axis=2)) > 0
    out = np.full((len(w), k), np.nan)
    fitted = present.any(axis=1)
    if not fitted.any():
        return out
    initial = None
    if start is not None:
        initial = np.broadcast_to(np.nan_to_num((start - 1000.0) / ratings.ELO_SCALE), (int(fitted.sum()), k))
    params = ratings.ELO_SCALE * ratings.ilsr(counts[fitted], alpha=ratings.BT_PRIOR, initial=initial)
    shown = present[fitted]
    centre = np.nanmean(np.where(shown, params, np.nan), axis=1, keepdims=True)
    out[fitted] = np.where(shown, params - centre + 1000.0, np.nan)
    return out


def prompt_draws(encs: list[Encoded], n: int, seed: int) -> Iterator[np.ndarray]:
    """`n` clustered bootstrap draws: how many times each prompt (code) was drawn, prompts drawn with
    replacement from those any of the frames holds."""
    keys = np.array(sorted({k for e in encs for k in e.by_prompt}))
    size = max(int(e.codes.max()) for e in encs if len(e.codes)) + 1
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield np.bincount(rng.choice(keys, len(keys)), minlength=size)


def resample(encs: list[Encoded], n: int, seed: int) -> Iterator[list[np.ndarray]]:
    """`prompt_draws` as row weights, every row of a prompt weighted by how often its prompt was drawn,
    in every frame: frames that share prompts are resampled together (paired)."""
    for counts in prompt_draws(encs, n, seed):
        yield [e.weights(counts) for e in encs]


def bc_interval(point: np.ndarray | float, draws: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected percentile interval (Efron 1981) per row of `draws` (rows: statistics, columns:
    draws). The bootstrap's own bias (a refit on resampled data spreads its ratings more) moves the
    quantiles, not the point. NaN draws are ignored; a statistic with fewer than 2 finite draws is NaN."""
    draws = np.atleast_2d(np.asarray(draws, dtype=float))
    point = np.atleast_1d(np.asarray(point, dtype=float))
    lo, hi = np.full(len(point), np.nan), np.full(len(point), np.nan)
    z = norm.ppf(0.5 + level / 2)
    for i, (p, row) in enumerate(zip(point, draws)):
        row = row[np.isfinite(row)]
        if len(row) < 2 or not np.isfinite(p):
            continue
        share = (np.sum(row < p) + 0.5 * np.sum(row == p)) / len(row)
        share = min(max(share, 0.5 / len(row)), 1 - 0.5 / len(row))
        z0 = norm.ppf(share)
        lo[i], hi[i] = np.quantile(row, [norm.cdf(2 * z0 - z), norm.cdf(2 * z0 + z)])
    return lo, hi


def _interval(point: float, draws: list[float]) -> tuple[float, float]:
    lo, hi = bc_interval(point, np.asarray(draws)[None, :])
    return float(lo[0]), float(hi[0])


def _nanstd(draws: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # a trait absent from every draw has no SD
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(draws, axis=1, ddof=1)


def _spread(r: np.ndarray) -> float:
    finite = r[np.isfinite(r)]
    return float(finite.std(ddof=0)) if len(finite) else float("nan")


def _root(variance: float) -> float:
    return float(np.sqrt(max(0.0, variance))) if np.isfinite(variance) else float("nan")


def _net_spread(net: np.ndarray, draws: np.ndarray) -> dict:
    """The spread of the ratings net of the design null (observed minus null, per trait), with the
    noise of both taken out: sqrt(max(0, var(net) - mean(se^2))), se from the clustered draws
    (`draws`: draws x traits). Subtracting the null's spread from the raw one instead fails: a model
    that follows the offered traits weakens the judge's pull toward its favourite words, so its raw
    spread can sit below the null's. Interval: the excess variance +- 1.96 bootstrap SDs of var(net)
    (a resample's var(net) sits a whole noise variance above the point, which no percentile interval
    survives), its ends mapped through sqrt(max(0, .)) like the point."""
    # traits rated in most draws (a rarely played trait drops out of some resamples)
    keep = np.isfinite(net) & (np.isfinite(draws).mean(axis=0) >= 0.5)
    if keep.sum() < 3:
        return {"corrected": float("nan"), "corrected_ci": (float("nan"), float("nan"))}
    with warnings.catch_warnings():  # a trait absent from a draw is NaN there, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        noise = float(np.nanvar(draws[:, keep], axis=0, ddof=1).mean())
        sd = float(np.nanstd(np.nanvar(draws[:, keep], axis=1), ddof=1))
    excess = float(np.var(net[keep])) - noise
    z = norm.ppf(0.5 + LEVEL / 2)
    return {"corrected": _root(excess), "corrected_ci": (_root(excess - z * sd), _root(excess + z * sd))}


# ---------------------------------------------------------------- reliability (split-half, net of the null)


def _halves(enc: Encoded, counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row weights of two halves of the drawn prompts (`counts`: times each prompt was drawn): whole
    prompts, never one prompt in both halves (a duplicated prompt would fake agreement), assigned
    greedily in a seeded order to the half where both traits of its matchups have appeared less so
    far (stratified on both traits of every matchup)."""
    seen = np.zeros((2, len(enc.traits)))
    half_of = np.full(len(counts), -1)
    drawn = [k for k in enc.by_prompt if counts[k] > 0]
    for j in rng.permutation(len(drawn)):
        key = drawn[j]
        rows = enc.by_prompt[key]
        involved = np.concatenate([enc.pair_a[rows], enc.pair_b[rows]])
        cost = seen[:, involved].sum(axis=1)
        h = int(rng.integers(2)) if cost[0] == cost[1] else int(np.argmin(cost))
        np.add.at(seen[h], involved, counts[key])
        half_of[key] = h
    weights = enc.weights(counts)
    half = half_of[enc.codes]
    return np.where(half == 0, weights, 0.0), np.where(half == 1, weights, 0.0)


def _net(enc: Encoded, weights: np.ndarray, net: bool) -> np.ndarray:
    observed = fit(enc, weights)
    return observed - fit(enc, weights, null=True) if net else observed


def _split_half(enc: Encoded, counts: np.ndarray, rng: np.random.Generator, net: bool) -> tuple[float, int]:
    """One split's Spearman correlation between the halves' (net) ratings, and the traits it covers."""
    first, second = _halves(enc, counts, rng)
    if min((first > 0).sum(), (second > 0).sum()) < 2:
        return float("nan"), 0
    ra, rb = _net(enc, first, net), _net(enc, second, net)
    both = np.isfinite(ra) & np.isfinite(rb)
    if both.sum() < 4:
        return float("nan"), int(both.sum())
    if np.ptp(ra[both]) < 1e-9 or np.ptp(rb[both]) < 1e-9:
        return 0.0, int(both.sum())  # no variation left once the null is taken out: nothing to agree on
    return _rho(ra, rb), int(both.sum())


def _spearman_brown(r: float) -> float:
    """rel = 2r / (1 + r), which leaves [-1, 1] below r = -1/3: clipped there."""
    if not np.isfinite(r):
        return float("nan")
    return max(-1.0, 2 * r / (1 + r)) if r > -1 else -1.0


def reliability(enc: Encoded, n: int = RELIABILITY_DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """Split-half reliability (Spearman-Brown) of the ratings net of the design null where the log has
    it (else of the raw ratings): the mean half-correlation over SPLITS seeded splits of the prompts.

    Interval: Fisher's z interval of a Spearman correlation over the K traits rated in both halves
    (SE sqrt(1.06 / (K - 3)), Fieller et al. 1957), mapped through Spearman-Brown. A bootstrap of the
    prompts cannot give it: a resample's duplicated prompts make each half noisier, so every resampled
    reliability sits below the point, further than the bootstrap's own spread (measured: percentile
    and bias-corrected intervals of 2,000-matchup logs missed the test-retest correlation). About 0 for
    a model that ignores the offered traits, however the judge reads the trait words. `n` is unused
    (kept for callers that pass a draw count)."""
    del n
    net = enc.has_null
    once = (np.bincount(enc.codes, minlength=int(enc.codes.max()) + 1) > 0).astype(int)
    rng = np.random.default_rng(seed)
    splits = [_split_half(enc, once, rng, net) for _ in range(SPLITS)]
    rs = [r for r, _ in splits if np.isfinite(r)]
    if not rs:
        return float("nan"), float("nan"), float("nan")  # too few matchups to split
    r = float(np.mean(rs))
    lo, hi = fisher_interval(r, min(k for r_k, k in splits if np.isfinite(r_k)))
    return _spearman_brown(r), _spearman_brown(lo), _spearman_brown(hi)


# ---------------------------------------------------------------- one log


def coinflip_spread(frame: pd.DataFrame, sims: int = 20, seed: int = 0) -> tuple[float, float]:
    """The spread a coin-flip judge gives on this log's own pairings (mean, 95th percentile): the floor
    of pure sampling noise. Not the null of this design (see the module docstring); shown beside it."""
    rng = np.random.default_rng(seed)
    a, b = frame["trait_a"].to_numpy(), frame["trait_b"].to_numpy()
    values = []
    for _ in range(sims):
        winner = np.where(rng.random(len(a)) < 0.5, a, b)
        table = ratings.bradley_terry(pd.DataFrame({"trait_a": a, "trait_b": b, "winner": winner}))
        values.append(float(table["rating"].std(ddof=0)))
    return float(np.mean(values)), float(np.quantile(values, 0.95))


def log_figures(frame: pd.DataFrame, n: int = DRAWS, seed: int = 0) -> dict:
    """Every figure of one tournament, with prompt-clustered intervals where they mean something:
    per-trait ratings (and the null's), the raw spread, the design null's spread, the corrected spread
    (interval), the reliability net of the null (interval), and the coin-flip floor. The null's figures
    are NaN where the log has no design null (an older log, or `-T design_null=false`)."""
    (enc,) = encode([frame])
    point = fit(enc)
    null_point = fit(enc, null=True) if enc.has_null else np.full(len(enc.traits), np.nan)
    picked = np.array([rows for (rows,) in resample([enc], n, seed)])
    draws = fit_many(enc, picked, start=point)
    null_draws = fit_many(enc, picked, null=True, start=null_point) if enc.has_null else np.empty((0, 0))
    draws_m = draws.T  # traits x draws
    lo, hi = bc_interval(point, draws_m)
    present = np.isfinite(point)
    table = pd.DataFrame(
        {
            "rating": point,
            "lo": lo,
            "hi": hi,
            "se": _nanstd(draws_m),
            "null": null_point,
            "matches": np.bincount(enc.winner[enc.winner >= 0], minlength=len(enc.traits))
            + np.bincount(enc.loser[enc.loser >= 0], minlength=len(enc.traits)),
            "wins": np.bincount(enc.winner[enc.winner >= 0], minlength=len(enc.traits)),
        },
        index=pd.Index(enc.traits, name="trait"),
    )[present].sort_values("rating", ascending=False)
    spread = _spread(point)
    out = {"table": table, "spread": spread, "unit": unit(enc), "clusters": len(enc.by_prompt)}
    out |= {"null_spread": float("nan"), "corrected": float("nan"), "corrected_ci": (float("nan"), float("nan"))}
    if enc.has_null:
        # the raw spread carries every rating's noise (a resample's refit more of it, so its bootstrap sits
        # well above the point): no interval of its own; the corrected spread takes the null's out of both
        null_spread = _spread(null_point)
        out |= {"null_spread": null_spread, **_net_spread(point - null_point, draws - null_draws)}
    out["reliability"] = reliability(enc, seed=seed)
    out["reliability_basis"] = "net of the design null" if enc.has_null else "raw ratings (no design null in the log)"
    out["coinflip"] = coinflip_spread(frame[["trait_a", "trait_b"]], seed=seed)
    return out


# ---------------------------------------------------------------- two logs (and a retest)


def benjamini_yekutieli(p_values: pd.Series) -> pd.Series:
    """BY q-values (scipy's `false_discovery_control`): the false discovery rate under any dependence
    (trait shifts are centred per fit, so they are negatively dependent, where Benjamini-Hochberg's
    guarantee does not hold)."""
    from scipy.stats import false_discovery_control

    if len(p_values) == 0:
        return p_values.copy()
    return pd.Series(false_discovery_control(p_values.to_numpy(dtype=float), method="by"), index=p_values.index)


def p_values(estimate: pd.Series, draws: pd.DataFrame) -> pd.Series:
    """Two-sided p-value per trait from the estimate and its bootstrap standard error (normal
    approximation): counting draws past 0 cannot go below 1 / (draws + 1), which no multiplicity
    control over 144 traits would let through."""
    se = draws.std(axis=1, ddof=1).reindex(estimate.index)
    z = (estimate / se.replace(0, np.nan)).abs()
    return pd.Series(2 * norm.sf(z.to_numpy(dtype=float)), index=estimate.index).fillna(1.0)


def fisher_interval(rho: float, traits: int) -> tuple[float, float]:
    """Fisher's z interval of a Spearman correlation over `traits` traits (SE sqrt(1.06 / (K - 3)),
    Fieller et al. 1957). Not a bootstrap: refits on resampled prompts are noisier, so every resampled
    correlation sits below the point, further than the bootstrap's own spread."""
    if not np.isfinite(rho) or traits < 5:
        return float("nan"), float("nan")
    z = norm.ppf(0.5 + LEVEL / 2) * np.sqrt(1.06 / (traits - 3))
    centre = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    return float(np.tanh(centre - z)), float(np.tanh(centre + z))


def prompts_per_trait(enc: Encoded) -> np.ndarray:
    """How many distinct prompts (clusters) hold a valid verdict involving each trait."""
    valid = enc.winner >= 0
    trait = np.concatenate([enc.winner[valid], enc.loser[valid]])
    code = np.concatenate([enc.codes[valid], enc.codes[valid]])
    pairs = np.unique(np.stack([trait, code], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=len(enc.traits))


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman over the traits rated in both (NaN below 3)."""
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 3:
        return float("nan")
    rx, ry = rankdata(x[both]), rankdata(y[both])
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def paired(
    a: pd.DataFrame,
    b: pd.DataFrame,
    retest: pd.DataFrame | None = None,
    n: int = DRAWS,
    seed: int = 0,
) -> dict:
    """Log A (e.g. the base) against log B (a method), resampled together by prompt: Spearman of the two
    rankings, the spread change, each trait's shift B - A with BY q-values, and, where `retest` (a second
    run of A on the same design) is given, the test-retest Spearman: the ceiling of Spearman(A, B).
    `change` holds every trait rated in both logs with `prompts` (the fewer of its prompt counts in the
    two logs); a trait below `MIN_PROMPTS` keeps its point shift but no interval and no q-value, and
    the Benjamini-Yekutieli correction runs over the others only."""
    frames = [a, b] + ([retest] if retest is not None else [])
    encs = encode(frames)
    traits = encs[0].traits
    points = [fit(e) for e in encs]
    rho, rho_retest = _rho(points[0], points[1]), _rho(points[0], points[2]) if retest is not None else None
    picked = list(resample(encs[:2], n, seed))
    fits_a, fits_b = (fit_many(encs[i], np.array([p[i] for p in picked]), start=points[i]) for i in (0, 1))
    spread_changes = [_spread(b) - _spread(a) for a, b in zip(fits_a, fits_b)]
    deltas = fits_b - fits_a
    common = np.isfinite(points[0]) & np.isfinite(points[1])
    delta = pd.Series((points[1] - points[0])[common], index=np.array(traits)[common])
    delta_draws = pd.DataFrame(deltas.T[common], index=delta.index)
    counts = np.minimum(prompts_per_trait(encs[0]), prompts_per_trait(encs[1]))[common]
    dense = counts >= MIN_PROMPTS
    lo, hi = bc_interval(delta.to_numpy(), delta_draws.to_numpy())
    change = pd.DataFrame({"delta": delta, "lo": np.where(dense, lo, np.nan), "hi": np.where(dense, hi, np.nan)})
    change["prompts"] = counts
    change["q"] = benjamini_yekutieli(p_values(delta[dense], delta_draws[dense])).reindex(change.index)
    spread_a, spread_b = _spread(points[0]), _spread(points[1])
    return {
        "spearman": rho,
        "spearman_ci": fisher_interval(rho, int(common.sum())),
        "retest": None
        if retest is None
        else {"spearman": rho_retest, "ci": fisher_interval(rho_retest, int(common.sum()))},
        "spread_a": spread_a,
        "spread_b": spread_b,
        "spread_change_ci": _interval(spread_b - spread_a, spread_changes),
        "change": change.sort_values("delta", ascending=False),
        "delta_draws": delta_draws,
        "ratings_a": pd.Series(points[0], index=traits).dropna(),
        "ratings_b": pd.Series(points[1], index=traits).dropna(),
        "unit": unit(encs[0]) + (", paired" if _shares_prompts(encs[0], encs[1]) else ""),
    }


def with_interval(change: pd.DataFrame) -> pd.DataFrame:
    """The traits of `paired`'s `change` that got an interval (in `MIN_PROMPTS` prompts of both logs)."""
    return change[change["prompts"] >= MIN_PROMPTS]


def _shares_prompts(x: Encoded, y: Encoded) -> bool:
    return bool(set(x.by_prompt) & set(y.by_prompt))


def target_interval(change: pd.DataFrame, draws: pd.DataFrame, rated: list[str]) -> tuple[float, float, float]:
    """The mean shift of the rated target traits with its BC interval over the same paired draws."""
    point = float(change.loc[rated, "delta"].mean())
    lo, hi = _interval(point, list(draws.loc[rated].mean(axis=0)))
    return point, lo, hi


# ---------------------------------------------------------------- power under clustering


def design_effect(a: pd.DataFrame, b: pd.DataFrame, n: int = 100, seed: int = 0) -> float:
    """How much the prompt-clustered, paired variance of the trait shifts exceeds what independent
    matchups in two independent logs would give (the variance ratio, averaged over traits): the factor
    by which `matchups_for_shift` must grow on this design. Below 1 when pairing removes shared noise."""
    encs = encode([a, b])
    clustered = np.array([fit(encs[1], r[1]) - fit(encs[0], r[0]) for r in resample(encs, n, seed)])
    rng = np.random.default_rng(seed + 1)
    independent = np.array(
        [
            fit(encs[1], np.bincount(rng.integers(0, len(b), len(b)), minlength=len(b)).astype(float))
            - fit(encs[0], np.bincount(rng.integers(0, len(a), len(a)), minlength=len(a)).astype(float))
            for _ in range(n)
        ]
    )
    ratio = np.nanvar(clustered, axis=0, ddof=1) / np.nanvar(independent, axis=0, ddof=1)
    return float(np.nanmean(ratio[np.isfinite(ratio)]))
