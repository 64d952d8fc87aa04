"""The leaderboard's figures, as (caption, base64 PNG).

`question_figures`: one figure per question and persona, methods side by side with 95% intervals, in
the manner of the reference's bar charts (did it take: target-trait shift; how robust: classifier
accuracy by split and by adversarial instruction; coherent: win rate; does it hold: bench/drift's
per-turn curve; at what cost: capability change). They read the detail table, so a bar is exactly a
number in the CSV; only the per-instruction intervals are computed here (Wilson, one reply per prompt
and instruction). `detail_figures`: rating
histograms and the largest trait shifts per method. Text inside images is our own (method names,
instruction ids, axis labels); captions go through the page's escaping.
"""

from __future__ import annotations

import base64
import io
import re

import pandas as pd

from leaderboards.collect import RunLogs
from leaderboards.headline import METHOD_ORDER, METRICS
from leaderboards.headline import number as _num


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _order(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def _bars(ax, labels: list[str], values: list, los: list, his: list, colors=None) -> None:
    """Horizontal bars with interval whiskers; a missing interval draws no whisker, a missing value no bar.
    A bias-corrected interval can leave out its own point (few matchups, a lopsided bootstrap): the
    whisker on that side is then drawn at zero length, the table keeps the interval."""
    ys = range(len(labels))
    vals = [v if v is not None else 0.0 for v in values]
    err = [
        [max(0.0, v - lo) if None not in (v, lo) else 0 for v, lo in zip(values, los)],
        [max(0.0, hi - v) if None not in (v, hi) else 0 for v, hi in zip(values, his)],
    ]
    ax.barh(list(ys), vals, xerr=err, color=colors or "tab:blue", capsize=3)
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()


def _metric_figure(
    rows: pd.DataFrame, column: str, bounds: tuple[str, str], xlabel: str, reference: float | None, label_suffix=None
):
    """Methods as horizontal bars of `column` with whiskers from the `bounds` columns."""
    present = rows[rows[column].map(_num).notna()] if column in rows else rows.iloc[0:0]
    if present.empty:
        return None
    plt = _pyplot()
    present = present.set_index("method").loc[_order(present["method"])]
    fig, ax = plt.subplots(figsize=(4.6, 0.5 + 0.45 * len(present)))
    labels = [m + (label_suffix(r) if label_suffix else "") for m, r in present.iterrows()]
    _bars(
        ax,
        labels,
        [_num(v) for v in present[column]],
        *([_num(v) for v in present[b]] if b in present else [None] * len(present) for b in bounds),
    )
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel=xlabel)
    fig.tight_layout()
    return _png(fig)


def _robustness_figure(rows: pd.DataFrame, runs: dict[tuple[str, str, str], RunLogs]):
    """Left: accuracy by split with intervals; right: by adversarial instruction (Wilson)."""
    from bench.robustness.report import rows_from_logs
    from bench.stats import wilson_interval

    splits = [("normal", "normal"), ("adv", "adversarial"), ("multiturn", "multi-turn")]
    splits = [(k, name) for k, name in splits if f"robust_{k}_acc" in rows and rows[f"robust_{k}_acc"].notna().any()]
    present = rows[rows.get("robust_normal_acc", pd.Series(dtype=float)).map(_num).notna()] if splits else rows[:0]
    if present.empty:
        return None
    plt = _pyplot()
    methods = _order(present["method"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.2), gridspec_kw={"width_ratios": [1, 2]})
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        r = present[present["method"] == method].iloc[0]
        vals = [_num(r.get(f"robust_{k}_acc")) or 0.0 for k, _ in splits]
        err = [
            [
                v - (_num(r.get(f"robust_{k}_lo")) if _num(r.get(f"robust_{k}_lo")) is not None else v)
                for v, (k, _) in zip(vals, splits)
            ],
            [
                (_num(r.get(f"robust_{k}_hi")) if _num(r.get(f"robust_{k}_hi")) is not None else v) - v
                for v, (k, _) in zip(vals, splits)
            ],
        ]
        left.bar([j + i * width for j in range(len(splits))], vals, width, yerr=err, capsize=2, label=method)
        run = runs.get((r["base"], r["persona"], method))
        if run is None or run.robustness is None:
            continue
        frame = rows_from_logs([run.robustness.location])
        adversarial = frame[frame["split"] == "adversarial"]
        instructions = sorted(adversarial["instruction"].unique())
        hits = [(adversarial[adversarial["instruction"] == k]["predicted"] == r["persona"]) for k in instructions]
        acc = [float(h.mean()) for h in hits]
        bounds = [wilson_interval(int(h.sum()), len(h)) for h in hits]
        right.bar(
            [j + i * width for j in range(len(instructions))],
            acc,
            width,
            yerr=[[a - b[0] for a, b in zip(acc, bounds)], [b[1] - a for a, b in zip(acc, bounds)]],
            capsize=1.5,
            label=method,
        )
        right.set_xticks(
            [j + 0.4 - width / 2 for j in range(len(instructions))], instructions, rotation=35, ha="right", fontsize=7
        )
    left.set_xticks([j + 0.4 - width / 2 for j in range(len(splits))], [name for _, name in splits], fontsize=8)
    left.set(ylabel="classifier accuracy", ylim=(0, 1), title="by split")
    right.set(ylim=(0, 1), title="by adversarial instruction (Wilson 95%)")
    left.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


# (question, headline metric, x label, reference line) for the questions that are one number per method
AGAINST_BASE = (
    (
        "Did the persona take? Target-trait shift by method",
        "prefs_target_shift",
        "target-trait shift vs base (Elo)",
        0.0,
    ),
    ("At what cost? Capability change by method", "cap_delta_vs_base", "capability change vs base (accuracy)", 0.0),
)


def question_figures(table: pd.DataFrame, runs: dict[tuple[str, str, str], RunLogs]) -> list[tuple[str, str]]:
    """Per (base, persona), in reading order: did it take, how robustly, coherent, at what cost."""
    metrics = {m.value: m for m in METRICS}
    figures = []
    for (base, persona), rows in table.groupby(["base", "persona"], sort=True):
        where = f"{persona} on {base}"
        found = []
        for question, column, xlabel, reference in AGAINST_BASE:
            metric = metrics[column]
            png = _metric_figure(
                rows[rows["kind" if "kind" in rows else "method"] != "base"],
                column,
                (metric.lo, metric.hi),
                f"{xlabel}, 95% CI",
                reference,
            )
            found.append((f"{question}: {where}", png))
        robust = _robustness_figure(rows, runs)
        found.insert(1, (f"How robustly? Classifier accuracy by split and adversarial instruction: {where}", robust))
        coherence = _metric_figure(
            _coherence_table(rows),
            "coh_win",
            ("coh_win_lo", "coh_win_hi"),
            "coherence win rate (95% CI)",
            0.5,
            label_suffix=lambda r: f" vs {r['baseline']}",
        )
        found.insert(2, (f"Coherent? Pairwise win rate against the baseline: {where}", coherence))
        found.insert(
            3, (f"Does it hold over a conversation? Persona probability by turn: {where}", _drift_figure(rows))
        )
        figures += [(caption, png) for caption, png in found if png]
    return figures


def _drift_figure(rows: pd.DataFrame):
    """bench/drift's per-turn curves, one line per method with its 95% band (bootstrap over conversations)."""
    turns = sorted({int(c[len("drift_text_turn") :]) for c in rows.columns if re.fullmatch(r"drift_text_turn\d+", c)})
    present = rows[rows[f"drift_text_turn{turns[0]}"].map(_num).notna()] if turns else rows[:0]
    if present.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    for method in _order(present["method"]):
        r = present[present["method"] == method].iloc[0]
        points = [(t, _num(r.get(f"drift_text_turn{t}"))) for t in turns]
        points = [(t, v) for t, v in points if v is not None]
        xs = [t for t, _ in points]
        line = ax.plot(xs, [v for _, v in points], marker="o", label=method)[0]
        lo = [_num(r.get(f"drift_text_turn{t}_lo")) for t in xs]
        hi = [_num(r.get(f"drift_text_turn{t}_hi")) for t in xs]
        if None not in lo + hi:
            ax.fill_between(xs, lo, hi, alpha=0.15, color=line.get_color())
    ax.set(xlabel="assistant turn", ylabel="classifier p(persona)", ylim=(0, 1))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _coherence_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, baseline) with coh_win, coh_win_lo, coh_win_hi."""
    out = []
    for _, r in rows.iterrows():
        for column in r.index:
            if column.startswith("coh_win_vs_") and not column.endswith(("_lo", "_hi")) and _num(r[column]) is not None:
                out.append(
                    {
                        "method": r["method"],
                        "baseline": column.removeprefix("coh_win_vs_"),
                        "coh_win": _num(r[column]),
                        "coh_win_lo": _num(r.get(f"{column}_lo")),
                        "coh_win_hi": _num(r.get(f"{column}_hi")),
                    }
                )
    frame = pd.DataFrame(out, columns=["method", "baseline", "coh_win", "coh_win_lo", "coh_win_hi"])
    return frame.drop_duplicates(["method"], keep="first") if not frame.empty else frame


def detail_figures(runs: dict[tuple[str, str, str], RunLogs], shifts: dict) -> list[tuple[str, str]]:
    """Rating histograms per persona and the largest trait shifts per method (the reference's figures)."""
    from bench.revealed_prefs.report import point_ratings

    plt = _pyplot()
    figures = []
    groups: dict[tuple[str, str], list[RunLogs]] = {}
    for run in runs.values():
        groups.setdefault((run.base, run.persona), []).append(run)
    for (base, persona), group in sorted(groups.items()):
        with_prefs = [r for r in group if r.prefs is not None]
        if with_prefs:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            for run in sorted(with_prefs, key=lambda r: r.method):
                ax.hist(point_ratings(run.prefs.location), bins=20, alpha=0.5, label=run.method)
            ax.set(xlabel="Bradley-Terry rating", ylabel="traits")
            ax.legend(fontsize=7)
            fig.tight_layout()
            figures.append((f"Trait rating histograms: {persona} on {base}", _png(fig)))
        for run in sorted(group, key=lambda r: r.method):
            result = shifts.get((run.base, run.persona, run.method))
            if result is None:
                continue
            bars = pd.concat([result["gains"], result["losses"].iloc[::-1]])
            fig, ax = plt.subplots(figsize=(6, 3.2))
            _bars(
                ax,
                list(bars.index),
                list(bars["delta"]),
                list(bars["lo"]),
                list(bars["hi"]),
                colors=["tab:green" if d > 0 else "tab:red" for d in bars["delta"]],
            )
            ax.set(xlabel="rating change vs base (95% CI)")
            fig.tight_layout()
            figures.append((f"Top trait shifts vs base: {persona} on {base}, {run.method}", _png(fig)))
    return figures


def _kinds(rows: pd.DataFrame) -> pd.Series:
    """Each row's method kind (declared rows label methods freely; older tables have no kind column)."""
    return rows["kind"] if "kind" in rows else rows["method"]
