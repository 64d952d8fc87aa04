"""Compare two tournaments (e.g. base vs trained): the reference's figures, with uncertainty.

The two logs are resampled together by prompt (paired: they share the design when they share the
seed), and every statistic is recomputed per draw (bench/revealed_prefs/validity.py): 95%
bias-corrected percentile intervals for the Spearman correlation of the two rankings, the spread
change, each trait's rating change and the persona's target-trait shift.

Beside them (../shared/VALIDITY.md): each log's design null and reliability net of it; the
test-retest Spearman of A against a second run of A on the same design (the ceiling of Spearman(A, B)),
or a line saying none was run; Benjamini-Yekutieli q-values for the trait shifts. Two logs are
compared only when judge, condition, trait list, prompt set, seed policy and design (uniform, or planned
on which targets) match (`comparable`), unless forced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.log import EvalLog, read_eval_log

from bench.revealed_prefs import validity
from charbench.errors import CharbenchError

FACTS = ("judge", "condition", "traits_hash", "prompt_set_hash", "seed_policy", "design")


def read_log(log: str | EvalLog) -> EvalLog:
    if isinstance(log, str):
        try:
            return read_eval_log(log)
        except FileNotFoundError:
            raise CharbenchError(f"log {log} does not exist") from None
    return log


def log_facts(log: str | EvalLog) -> dict[str, str | None]:
    """What must match for two tournament logs to be compared: judge, condition, trait list, prompt set,
    seed policy and design (None where an older log did not record it; an older log's design was uniform)."""
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
    facts["design"] = facts["design"] or "uniform"  # logs from before planned designs drew uniformly
    return facts


def comparable(a: dict, b: dict, force: bool = False) -> list[str]:
    """The facts on which two logs differ; raises (exit 2 in the CLI) unless `force`."""
    differ = [key for key in FACTS if a.get(key) != b.get(key)]
    if differ and not force:
        detail = "; ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in differ)
        raise CharbenchError(f"the two logs are not comparable ({detail}): rerun one to match, or pass --force-compare")
    return differ


def matches_from_log(log: str | EvalLog) -> tuple[pd.DataFrame, str]:
    """Every matchup of a tournament log (a path, or a log read with its samples): the traits, the
    winner ("invalid" where the judge gave none), the prompt (the resampling cluster; from the sample's
    metadata in older logs) and, where recorded, the design null's pair and verdict."""
    log = read_log(log)
    rows = []
    for s in log.samples or []:
        for k in s.scores or {}:
            meta = s.scores[k].metadata
            if meta and "trait_a" in meta:
                rows.append({**meta, "prompt": meta.get("prompt") or (s.metadata or {}).get("prompt_id")})
    if not rows:
        raise CharbenchError(f"{log.location}: no revealed_prefs matchups in this log")
    columns = ["trait_a", "trait_b", "winner", "prompt", "null_a", "null_b", "null_winner"]
    return pd.DataFrame(rows).reindex(columns=columns), log.eval.model


def valid_count(frame: pd.DataFrame) -> int:
    return int(((frame["winner"] == frame["trait_a"]) | (frame["winner"] == frame["trait_b"])).sum())


def compare_frames(
    a: pd.DataFrame,
    b: pd.DataFrame,
    n: int = validity.DRAWS,
    seed: int = 0,
    top: int = 5,
    targets: list[str] | None = None,
    retest: pd.DataFrame | None = None,
    reliability: bool = True,
) -> dict:
    """Every statistic of the comparison (`validity.paired`); `targets` (the persona's target traits)
    adds `target`, see `target_shift`; `retest` (a second run of A on A's design) adds the test-retest
    Spearman; `reliability` computes each log's split-half reliability net of its design null."""
    result = validity.paired(a, b, retest=retest, n=n, seed=seed)
    change = result["change"]
    if len(change) < 3:
        raise CharbenchError("the two logs share fewer than 3 rated traits: run more matchups")
    encs = validity.encode([a, b])
    estimated = validity.with_interval(change)
    out = {
        **result,
        "gains": estimated.head(top),
        "losses": estimated.tail(top).iloc[::-1],
        "survivors": int((estimated["q"] < 0.05).sum()),
        "traits": len(estimated),  # traits with an interval (the multiplicity count)
        "too_few": len(change) - len(estimated),  # rated in both logs, in too few prompts for an interval
        "matchups": (valid_count(a), valid_count(b)),
        "design_null": (encs[0].has_null, encs[1].has_null),
        "target": None if targets is None else target_shift(change, result["delta_draws"], targets, seed=seed),
    }
    if reliability:
        out["reliability_a"] = validity.reliability(encs[0], seed=seed)
        out["reliability_b"] = validity.reliability(encs[1], seed=seed + 1)
    return out


def target_shift(change: pd.DataFrame, draws: pd.DataFrame, targets: list[str], seed: int = 0) -> dict:
    """The known-effect check: did the persona's own target traits move up?

    `delta` is the mean rating change of the target traits rated in both logs, with the bias-corrected
    interval of the same mean over the paired, prompt-clustered draws. Ratings are centred per fit, so
    it reads "relative to the average trait". `mean_rank` is their mean rank among all changes (1 = the
    largest gain); `rank_p` the share of random trait sets of the same size whose mean rank is at least
    as good (10,000 draws): a persona that took ranks its own traits near the top. Targets missing from
    either log (e.g. not in a reduced trait list) are listed, not guessed; so are targets in fewer than
    `validity.MIN_PROMPTS` prompts of a log (`sparse`: their draws say nothing about their spread).
    """
    estimated = validity.with_interval(change)
    rated = [t for t in targets if t in estimated.index]
    missing = [t for t in targets if t not in change.index]
    sparse = [t for t in targets if t in change.index and t not in estimated.index]
    empty = {"rated": rated, "missing": missing, "sparse": sparse, "delta": None, "lo": None, "hi": None}
    if not rated:
        return {**empty, "mean_rank": None, "rank_p": None, "of": len(estimated)}
    delta, lo, hi = validity.target_interval(estimated, draws, rated)
    ranks = estimated["delta"].rank(ascending=False)
    mean_rank = float(ranks[rated].mean())
    rng = np.random.default_rng(seed)
    null = np.array([ranks.to_numpy()[rng.choice(len(ranks), len(rated), replace=False)].mean() for _ in range(10_000)])
    return {
        **empty,
        "delta": delta,
        "lo": lo,
        "hi": hi,
        "mean_rank": mean_rank,
        "rank_p": float((null <= mean_rank).mean()),
        "of": len(estimated),
    }


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


def unrated(target: dict) -> str:
    """Why some target traits are not in the mean ('' when all are)."""
    parts = [f"not rated in both logs: {', '.join(target['missing'])}"] if target["missing"] else []
    if target["sparse"]:
        parts.append(f"in fewer than {validity.MIN_PROMPTS} prompts of a log: {', '.join(target['sparse'])}")
    return "; ".join(parts)


def target_line(target: dict | None, persona: str | None) -> str:
    if target is None:
        return "target-trait shift: no persona known for log B (pass --persona NAME)"
    if target["delta"] is None:
        return f"target-trait shift ({persona}): no target trait has an interval ({unrated(target) or 'none given'})"
    reasons = unrated(target)
    skipped = f"; {reasons}" if reasons else ""
    return (
        f"target-trait shift ({persona}: {', '.join(target['rated'])}{skipped}): {target['delta']:+z.0f} Elo "
        f"[95% CI {target['lo']:+z.0f}, {target['hi']:+z.0f}] relative to the average trait; mean rank "
        f"{target['mean_rank']:.1f} of {target['of']} changes (random sets rank as well or better: "
        f"p = {target['rank_p']:.3f})"
    )


def null_line(log: EvalLog, label: str) -> str:
    """A log's spread against its design null, from its own metrics (an older log has none: say so)."""
    from bench.logs import log_metrics

    m = log_metrics(log)
    if not m.get("design_null"):
        return f"{label}: spread {m.get('spread', float('nan')):.0f}, no design null in this log (rerun to get one)"
    return (
        f"{label}: spread {m['spread']:.0f} vs design null {m['spread_null']:.0f} -> corrected "
        f"{m['spread_corrected']:.0f} [95% CI {m['spread_corrected_lo']:.0f}, {m['spread_corrected_hi']:.0f}] "
        f"(coin-flip floor {m.get('spread_coinflip', float('nan')):.0f})"
    )


def retest_line(retest: dict | None) -> str:
    if retest is None:
        return (
            "test-retest ceiling: none (no second run of A on its design: pass --retest LOG, or declare "
            "`retest: true` under evals.revealed_prefs in the experiment); without it a low Spearman(A, B) "
            "cannot be told from noise"
        )
    lo, hi = retest["ci"]
    return (
        f"test-retest ceiling (A vs a second run of A on its design): Spearman {retest['spearman']:.3f} "
        f"[95% CI {lo:.3f}, {hi:.3f}]"
    )


def compare_logs(
    path_a: str,
    path_b: str,
    png: str | None = None,
    n: int = validity.DRAWS,
    seed: int = 0,
    force: bool = False,
    persona: str | None = None,
    retest: str | None = None,
) -> str:
    log_a, log_b = read_log(path_a), read_log(path_b)
    differ = comparable(log_facts(log_a), log_facts(log_b), force=force)
    a, model_a = matches_from_log(log_a)
    b, model_b = matches_from_log(log_b)
    retest_frame = None
    if retest is not None:
        log_r = read_log(retest)
        comparable(log_facts(log_a), log_facts(log_r), force=force)
        retest_frame = matches_from_log(log_r)[0]
    explicit = persona is not None
    persona = persona or log_persona(log_b)
    targets = persona_targets(persona, missing_ok=not explicit)
    persona = persona if targets is not None else None
    result = compare_frames(a, b, n=n, seed=seed, targets=targets, retest=retest_frame)
    lo, hi = result["spearman_ci"]
    slo, shi = result["spread_change_ci"]
    n_a, n_b = result["matchups"]
    rel = lambda r: (  # noqa: E731
        "n/a (too few matchups per trait to split)"
        if r[0] != r[0]
        else f"{r[0]:.2f} [95% CI {r[1]:.2f}, {r[2]:.2f}]"
        if r[1] == r[1] and r[2] == r[2]
        else f"{r[0]:.2f} (interval n/a: too few matchups per trait to resample)"
    )
    shift = lambda t, r: f"{t} {r.delta:+z.0f} [{r.lo:+z.0f}, {r.hi:+z.0f}]{'*' if r.q < 0.05 else ''}"  # noqa: E731
    basis = "net of the design null" if all(result["design_null"]) else "raw ratings: a log has no design null"
    lines = [f"FORCED COMPARISON: the logs differ in {', '.join(differ)}"] if differ else []
    lines += [
        f"A: {model_a} ({n_a} valid matchups)   B: {model_b} ({n_b} valid matchups)",
        f"resampled unit: {result['unit']}; 95% bias-corrected percentile intervals, {n} draws",
        null_line(log_a, "A"),
        null_line(log_b, "B"),
        f"reliability (split-half, Spearman-Brown, {basis}): A {rel(result['reliability_a'])}, "
        f"B {rel(result['reliability_b'])}",
        f"Spearman(A, B) over {result['traits']} traits: {result['spearman']:.3f} [95% CI {lo:.3f}, {hi:.3f}]",
        retest_line(result["retest"]),
        f"rating spread: {result['spread_a']:.0f} -> {result['spread_b']:.0f} "
        f"(change {result['spread_b'] - result['spread_a']:+z.0f} [95% CI {slo:+z.0f}, {shi:+z.0f}])",
        "top gains:  " + (", ".join(shift(t, r) for t, r in result["gains"].iterrows()) or "none with an interval"),
        "top losses: " + (", ".join(shift(t, r) for t, r in result["losses"].iterrows()) or "none with an interval"),
        f"* survives {validity.MULTIPLICITY} at q < 0.05: {result['survivors']} of {result['traits']} traits"
        + (
            f"; {result['too_few']} more rated in fewer than {validity.MIN_PROMPTS} prompts of a log "
            "(no interval: run more matchups)"
            if result["too_few"]
            else ""
        ),
        target_line(result["target"], persona),
    ]
    if png:
        plot(result, model_a, model_b, png)
        lines.append(f"figure: {png}")
    return "\n".join(lines)
