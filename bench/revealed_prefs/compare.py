"""Compare two tournaments (e.g. base vs trained): the reference's figures, with uncertainty.

Both logs' matchups are resampled independently; every statistic is recomputed per resample, giving
95% intervals for the Spearman correlation of the two rankings (percentile, re-centred on the point
estimate), the change in rating spread and each trait's rating change (percentile).

Beside them (../shared/VALIDITY.md): each log's split-half reliability and the ceiling
sqrt(rel_a * rel_b) that two noisy rankings of the *same* model would reach, the disattenuated
correlation, and Benjamini-Hochberg q-values for the trait shifts. Two logs are compared only when
judge, condition, trait list, prompt set and seed policy match (`comparable`), unless forced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.log import EvalLog, read_eval_log
from scipy.stats import spearmanr

from bench import ratings
from charbench.errors import CharbenchError

FACTS = ("judge", "condition", "traits_hash", "prompt_set_hash", "seed_policy")


def read_log(log: str | EvalLog) -> EvalLog:
    if isinstance(log, str):
        try:
            return read_eval_log(log)
        except FileNotFoundError:
            raise CharbenchError(f"log {log} does not exist") from None
    return log


def log_facts(log: str | EvalLog) -> dict[str, str | None]:
    """What must match for two tournament logs to be compared: judge, condition, trait list, prompt set
    and seed policy (None where an older log did not record it)."""
    log = read_log(log)
    meta = log.eval.metadata or {}
    task_meta = getattr(log.eval, "task_metadata", None) or {}
    judges = sorted(
        {
            str(s.scores[k].metadata.get("judge"))
            for s in log.samples or []
            for k in (s.scores or {})
            if s.scores[k].metadata and s.scores[k].metadata.get("judge") not in (None, "none")
        }
    )
    facts = {key: task_meta.get(key, meta.get(key)) for key in FACTS}
    facts["judge"] = ",".join(judges) or None
    facts["condition"] = facts["condition"] or (log.eval.task_args or {}).get("condition")
    return facts


def comparable(a: dict, b: dict, force: bool = False) -> list[str]:
    """The facts on which two logs differ; raises (exit 2 in the CLI) unless `force`."""
    differ = [key for key in FACTS if a.get(key) != b.get(key)]
    if differ and not force:
        detail = "; ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in differ)
        raise CharbenchError(f"the two logs are not comparable ({detail}): rerun one to match, or pass --force")
    return differ


def matches_from_log(log: str | EvalLog) -> tuple[pd.DataFrame, str]:
    """The valid matchups of a tournament log (a path, or a log already read with its samples)."""
    log = read_log(log)
    rows = [
        s.scores[k].metadata
        for s in log.samples or []
        for k in (s.scores or {})
        if s.scores[k].metadata and "trait_a" in s.scores[k].metadata
    ]
    if not rows:
        raise CharbenchError(f"{log.location}: no revealed_prefs matchups in this log")
    frame = pd.DataFrame(rows)[["trait_a", "trait_b", "winner"]]
    return frame[frame["winner"] != "invalid"].reset_index(drop=True), log.eval.model


def _fit(frame: pd.DataFrame) -> pd.Series:
    return ratings.bradley_terry(frame)["rating"]


def compare_frames(
    a: pd.DataFrame, b: pd.DataFrame, n: int = 200, seed: int = 0, top: int = 5, targets: list[str] | None = None
) -> dict:
    """Every statistic of the comparison; `targets` (the persona's target traits) adds `target`, see
    `target_shift`."""
    ra, rb = _fit(a), _fit(b)
    common = ra.index.intersection(rb.index)
    if len(common) < 3:
        raise CharbenchError("the two logs share fewer than 3 rated traits: run more matchups")
    rng = np.random.default_rng(seed)
    rhos, spread_changes, deltas = [], [], []
    for _ in range(n):
        sa = _fit(a.iloc[rng.integers(0, len(a), len(a))])
        sb = _fit(b.iloc[rng.integers(0, len(b), len(b))])
        both = sa.index.intersection(sb.index)
        rhos.append(spearmanr(sa[both], sb[both]).statistic)
        spread_changes.append(sb.std(ddof=0) - sa.std(ddof=0))
        deltas.append((sb - sa).reindex(common))
    delta_draws = pd.concat(deltas, axis=1)
    change = pd.DataFrame({"delta": (rb - ra)[common]})
    change["lo"] = delta_draws.quantile(0.025, axis=1)
    change["hi"] = delta_draws.quantile(0.975, axis=1)
    change["q"] = ratings.benjamini_hochberg(ratings.bootstrap_p_values(change["delta"], delta_draws))
    change = change.sort_values("delta", ascending=False)
    rel_a, rel_b = ratings.reliability(a, seed=seed), ratings.reliability(b, seed=seed + 1)
    q = lambda xs: (float(np.nanquantile(xs, 0.025)), float(np.nanquantile(xs, 0.975)))  # noqa: E731
    rho = float(spearmanr(ra[common], rb[common]).statistic)
    # Refits on resampled data are noisier, so resampled correlations sit below the point estimate;
    # the interval keeps the bootstrap's spread but is centred on the point estimate (median shift).
    r_lo, r_hi = q(rhos)
    shift = rho - float(np.nanmedian(rhos))
    return {
        "spearman": rho,
        "spearman_ci": (max(-1.0, r_lo + shift), min(1.0, r_hi + shift)),
        "spread_a": float(ra.std(ddof=0)),
        "spread_b": float(rb.std(ddof=0)),
        "spread_change_ci": q(spread_changes),
        "gains": change.head(top),
        "losses": change.tail(top).iloc[::-1],
        "survivors": int((change["q"] < 0.05).sum()),
        "reliability_a": rel_a,
        "reliability_b": rel_b,
        "ceiling": _ceiling(rel_a[0], rel_b[0]),
        "disattenuated": _disattenuate(rho, rel_a[0], rel_b[0]),
        "ratings_a": ra,
        "ratings_b": rb,
        "traits": len(common),
        "matchups": (len(a), len(b)),
        "target": None if targets is None else target_shift(change, delta_draws, targets, seed=seed),
    }


def target_shift(change: pd.DataFrame, draws: pd.DataFrame, targets: list[str], seed: int = 0) -> dict:
    """The known-effect check: did the persona's own target traits move up?

    `delta` is the mean rating change of the target traits rated in both logs, with the percentile
    interval of the same mean over the bootstrap draws (both logs' matchups resampled). Ratings are
    centred per fit, so it reads "relative to the average trait". `mean_rank` is their mean rank among
    all changes (1 = the largest gain); `rank_p` the share of random trait sets of the same size whose
    mean rank is at least as good (10,000 draws): a persona that took ranks its own traits near the top.
    Targets missing from either log (e.g. not in a reduced trait list) are listed, not guessed.
    """
    rated = [t for t in targets if t in change.index]
    missing = [t for t in targets if t not in change.index]
    empty = {"rated": rated, "missing": missing, "delta": None, "lo": None, "hi": None}
    if not rated:
        return {**empty, "mean_rank": None, "rank_p": None, "of": len(change)}
    means = draws.loc[rated].mean(axis=0)
    ranks = change["delta"].rank(ascending=False)
    mean_rank = float(ranks[rated].mean())
    rng = np.random.default_rng(seed)
    null = np.array([ranks.to_numpy()[rng.choice(len(ranks), len(rated), replace=False)].mean() for _ in range(10_000)])
    return {
        **empty,
        "delta": float(change.loc[rated, "delta"].mean()),
        "lo": float(np.nanquantile(means, 0.025)),
        "hi": float(np.nanquantile(means, 0.975)),
        "mean_rank": mean_rank,
        "rank_p": float((null <= mean_rank).mean()),
        "of": len(change),
    }


def _ceiling(rel_a: float, rel_b: float) -> float:
    """The most two noisy rankings of one model can correlate: sqrt(rel_a * rel_b) (nan if either <= 0)."""
    return float(np.sqrt(rel_a * rel_b)) if rel_a > 0 and rel_b > 0 else float("nan")


def _disattenuate(rho: float, rel_a: float, rel_b: float) -> float:
    ceiling = _ceiling(rel_a, rel_b)
    return float(rho / ceiling) if ceiling == ceiling and ceiling > 0 else float("nan")


def plot(result: dict, label_a: str, label_b: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bins = np.linspace(
        min(result["ratings_a"].min(), result["ratings_b"].min()),
        max(result["ratings_a"].max(), result["ratings_b"].max()),
        25,
    )
    left.hist(result["ratings_a"], bins=bins, alpha=0.6, label=label_a)
    left.hist(result["ratings_b"], bins=bins, alpha=0.6, label=label_b)
    left.set(title="trait ratings (Bradley-Terry, Elo scale)", xlabel="rating", ylabel="traits")
    left.legend(fontsize=7)
    bars = pd.concat([result["gains"], result["losses"].iloc[::-1]])
    colors = ["tab:green" if d > 0 else "tab:red" for d in bars["delta"]]
    err = np.vstack([bars["delta"] - bars["lo"], bars["hi"] - bars["delta"]])
    right.barh(bars.index, bars["delta"], xerr=err, color=colors)
    right.invert_yaxis()
    right.set(title="largest rating changes (95% bootstrap CI)", xlabel=f"rating change, {label_b} minus {label_a}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def log_persona(log: EvalLog) -> str | None:
    """The persona a tournament log was run for: the suite's metadata, else the model name's."""
    from bench.models.specs import describe_model

    return (log.eval.metadata or {}).get("persona") or describe_model(log.eval.model)["persona"]


def persona_targets(persona: str | None, missing_ok: bool = False) -> list[str] | None:
    """The persona's target traits (None when no persona is known, or, with `missing_ok`, when this
    machine has no file for a persona named in a log: that only loses the target-trait line)."""
    from personas import PersonaError, load_persona

    try:
        return None if persona is None else list(load_persona(persona).target_traits)
    except PersonaError:
        if missing_ok:
            return None
        raise


def target_line(target: dict | None, persona: str | None) -> str:
    if target is None:
        return "target-trait shift: no persona known for log B (pass --persona NAME)"
    if target["delta"] is None:
        return (
            f"target-trait shift ({persona}): none of its target traits ({', '.join(target['missing']) or 'none'}) "
            "was rated in both logs"
        )
    skipped = f"; not rated: {', '.join(target['missing'])}" if target["missing"] else ""
    return (
        f"target-trait shift ({persona}: {', '.join(target['rated'])}{skipped}): {target['delta']:+.0f} Elo "
        f"[95% CI {target['lo']:+.0f}, {target['hi']:+.0f}] relative to the average trait; mean rank "
        f"{target['mean_rank']:.1f} of {target['of']} changes (random sets rank as well or better: "
        f"p = {target['rank_p']:.3f})"
    )


def compare_logs(
    path_a: str,
    path_b: str,
    png: str | None = None,
    n: int = 200,
    seed: int = 0,
    force: bool = False,
    persona: str | None = None,
) -> str:
    log_a, log_b = read_log(path_a), read_log(path_b)
    differ = comparable(log_facts(log_a), log_facts(log_b), force=force)
    a, model_a = matches_from_log(log_a)
    b, model_b = matches_from_log(log_b)
    explicit = persona is not None
    persona = persona or log_persona(log_b)
    targets = persona_targets(persona, missing_ok=not explicit)
    persona = persona if targets is not None else None
    result = compare_frames(a, b, n=n, seed=seed, targets=targets)
    lo, hi = result["spearman_ci"]
    slo, shi = result["spread_change_ci"]
    n_a, n_b = result["matchups"]
    rel = lambda r: f"{r[0]:.2f} [95% CI {r[1]:.2f}, {r[2]:.2f}]"  # noqa: E731
    shift = lambda t, r: f"{t} {r.delta:+.0f} [{r.lo:+.0f}, {r.hi:+.0f}]{'*' if r.q < 0.05 else ''}"  # noqa: E731
    lines = [f"FORCED COMPARISON: the logs differ in {', '.join(differ)}"] if differ else []
    lines += [
        f"A: {model_a} ({n_a} valid matchups)   B: {model_b} ({n_b} valid matchups)",
        f"reliability (split-half, Spearman-Brown; resampled unit: matchup): A {rel(result['reliability_a'])}, "
        f"B {rel(result['reliability_b'])}",
        f"Spearman(A, B) over {result['traits']} traits: {result['spearman']:.3f} [95% CI {lo:.3f}, {hi:.3f}]; "
        f"ceiling for the same model sqrt(rel_a*rel_b) = {result['ceiling']:.3f}; "
        f"disattenuated {result['disattenuated']:.3f}",
        f"rating spread: {result['spread_a']:.0f} -> {result['spread_b']:.0f} "
        f"(change {result['spread_b'] - result['spread_a']:+.0f} [95% CI {slo:+.0f}, {shi:+.0f}])",
        "top gains:  " + ", ".join(shift(t, r) for t, r in result["gains"].iterrows()),
        "top losses: " + ", ".join(shift(t, r) for t, r in result["losses"].iterrows()),
        f"* survives Benjamini-Hochberg at q < 0.05: {result['survivors']} of {result['traits']} traits",
        target_line(result["target"], persona),
    ]
    if png:
        plot(result, model_a, model_b, png)
        lines.append(f"figure: {png}")
    return "\n".join(lines)
