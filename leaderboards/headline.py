"""The headline: one table per base model that answers "which method instils this persona, how
robustly, at what cost", each number as value [95% interval], with the trust in its instruments beside.

It is derived from the detail table (`collect.build_table`), never from anything else, so every
headline number can be found, unchanged in meaning, in the CSV. At most `MAX_COLUMNS` columns: the
base model names the table instead of taking a column, and the multi-turn column appears only when
some row has a multi-turn split. A cell is marked best (`BEST_MARK`) only when its interval lies
entirely above the interval of every other method of the same persona: overlapping intervals mark
nothing, however the point estimates fall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

MAX_COLUMNS = 10
BEST_MARK = "\u2605"  # a star: readable in Markdown, HTML and a terminal


@dataclass(frozen=True)
class Metric:
    header: str
    value: str  # the detail-table column of the point estimate; `<value>_lo`-style columns below
    lo: str
    hi: str
    template: str  # how a number is written
    explain: str  # the column's meaning, for the page's legend
    optional: bool = False  # shown only when some row has it
    n: str = ""  # the detail-table column of its n (what was counted), shown in the cell


METRICS = (
    Metric(
        "target-trait shift (Elo)",
        "prefs_target_shift",
        "prefs_target_shift_lo",
        "prefs_target_shift_hi",
        "{:+z.0f}",
        "mean rating change of the persona's target traits against the base model's tournament, relative "
        "to the average trait (paired bootstrap over prompts); > 0: the persona's own traits rose; n: the "
        "method's valid matchups",
        n="prefs_valid",
    ),
    Metric(
        "classifier accuracy: normal",
        "robust_normal_acc",
        "robust_normal_lo",
        "robust_normal_hi",
        "{:.2f}",
        "share of replies the persona classifier labels as the persona (cluster bootstrap by prompt); n: replies",
        n="robust_normal_n",
    ),
    Metric(
        "adversarial",
        "robust_adv_acc",
        "robust_adv_lo",
        "robust_adv_hi",
        "{:.2f}",
        "the same when the user asks the model to drop the persona (mean over instructions)",
        n="robust_adv_n",
    ),
    Metric(
        "multi-turn",
        "robust_multiturn_acc",
        "robust_multiturn_lo",
        "robust_multiturn_hi",
        "{:.2f}",
        "the same on the reply after an out-of-character first turn",
        optional=True,
        n="robust_multiturn_n",
    ),
    Metric(
        "coherence win rate",
        "coh_win",
        "coh_win_lo",
        "coh_win_hi",
        "{:.2f}",
        "share of order-consistent pairwise verdicts won against the baseline named in the cell (Wilson); "
        "n: pairs judged",
        n="coh_pairs",
    ),
    Metric(
        "persona held over turns (AUC)",
        "drift_text_auc",
        "drift_text_auc_lo",
        "drift_text_auc_hi",
        "{:.2f}",
        "bench/drift: the classifier's mean probability of the persona over a simulated conversation's "
        "turns (area under the per-turn curve, turn count in the cell; bootstrap over conversations); "
        "n: conversations",
        optional=True,
        n="drift_conversations",
    ),
    Metric(
        "capability change vs base",
        "cap_delta_vs_base",
        "cap_delta_lo",
        "cap_delta_hi",
        "{:+.3f}",
        "accuracy change against the base model on the same questions, mean over benchmarks (paired "
        "bootstrap); n: questions answered by both",
        n="cap_delta_n",
    ),
)
IDENTITY = ("persona", "method")
METHOD_ORDER = ("base", "prompted", "steered", "fine-tuned")  # rows and figures list methods in this order
TRUST = "trust"
BASELINE_ORDER = ("prompted", "base")  # the coherence baseline shown when a row has several


@dataclass
class Cell:
    text: str = ""  # "value [lo, hi]" or a note; "" when there is nothing
    value: float | None = None  # for sorting and for the best mark
    lo: float | None = None
    hi: float | None = None
    note: str = ""  # a second line: the interval, or what the number is against
    best: bool = False


@dataclass
class Headline:
    base: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # per persona and method: took / did not take / cannot tell


def verdict(row: pd.Series) -> str:
    """Did the persona take, from the row's own figures: the target-trait shift against the base (the
    known-effect check), believed only when the tournament's judge is validated and its reliability
    interval (net of the design null) stays above 0; otherwise "cannot tell" with every reason."""
    reasons = []
    if row.get("prefs_judge_status") != "validated":
        reasons.append(f"judge {row.get('prefs_judge_status') or 'not recorded'}")
    rel_lo = number(row.get("prefs_reliability_lo"))
    if rel_lo is None:
        reasons.append("tournament reliability not measured")
    elif rel_lo <= 0:
        reasons.append("tournament reliability interval reaches 0")
    if str(row.get("prefs_vs_base", "")).startswith(("FORCED", "not comparable")):
        reasons.append(f"tournament {row.get('prefs_vs_base')}")
    shift, lo, hi = (
        number(row.get(k)) for k in ("prefs_target_shift", "prefs_target_shift_lo", "prefs_target_shift_hi")
    )
    if shift is None or lo is None or hi is None:
        why = row.get("prefs_target_shift_why")
        reasons.append(f"no target-trait shift ({why})" if isinstance(why, str) and why else "no target-trait shift")
    elif lo <= 0 <= hi:
        reasons.append("target-trait interval includes 0")
    if reasons:
        return "cannot tell: " + "; ".join(reasons)
    assert lo is not None and hi is not None and shift is not None
    figures = f"target traits {shift:+z.0f} [{lo:+z.0f}, {hi:+z.0f}] Elo"
    return f"took: {figures}" if lo > 0 else f"did not take: {figures}"


def number(value: object) -> float | None:
    """A cell as a float, None for empty, NaN or text (the headline and the figures read cells alike)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _coherence_baseline(row: pd.Series) -> str | None:
    """The baseline this row's coherence was judged against; the first of BASELINE_ORDER when several."""
    found = sorted(
        c.removeprefix("coh_win_vs_")
        for c in row.index
        if c.startswith("coh_win_vs_") and not c.endswith(("_lo", "_hi")) and number(row[c]) is not None
    )
    for preferred in BASELINE_ORDER:
        if preferred in found:
            return preferred
    return found[0] if found else None


def _cell(metric: Metric, row: pd.Series) -> Cell:
    if metric.value == "coh_win":
        baseline = _coherence_baseline(row)
        if baseline is None:
            judged = [c for c in row.index if c.startswith("coh_pairs_vs_") and (number(row[c]) or 0) > 0]
            # pairs were judged, but the judge never gave the same verdict in both orders: no win rate
            return Cell(text="n/a: no order-consistent verdict") if judged else Cell()
        names = (f"coh_win_vs_{baseline}", f"coh_win_vs_{baseline}_lo", f"coh_win_vs_{baseline}_hi")
    else:
        names = (metric.value, metric.lo, metric.hi)
    value, lo, hi = (number(row.get(n)) for n in names)
    if value is None:
        measured = {"prefs_target_shift": "prefs_valid", "cap_delta_vs_base": "cap_answered"}.get(metric.value)
        if _kind(row) == "base" and measured and number(row.get(measured)) is not None:
            return Cell(text="reference", note="the other rows are measured against this one")
        why = row.get(f"{metric.value}_why")
        return Cell(text=f"n/a: {why}", note=str(why)) if isinstance(why, str) and why else Cell()
    fmt = metric.template.format
    interval = f"[{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else "[no interval]"
    against = f" vs {baseline}" if metric.value == "coh_win" else ""
    if metric.value == "coh_win" and row.get("coh_judge_status") != "validated":
        against += f", judge {row.get('coh_judge_status') or 'unknown'}"
    if metric.value == "drift_text_auc" and number(row.get("drift_turns")) is not None:
        against = f" over {number(row.get('drift_turns')):.0f} turns"
    count_column = f"coh_pairs_vs_{baseline}" if metric.value == "coh_win" else metric.n
    count = number(row.get(count_column)) if count_column else None
    n = f" (n={count:.0f})" if count is not None else ""
    forced = (
        " FORCED"
        if metric.value == "prefs_target_shift" and str(row.get("prefs_vs_base", "")).startswith("FORCED")
        else ""
    )
    return Cell(
        text=f"{fmt(value)} {interval}{n}{against}{forced}", value=value, lo=lo, hi=hi, note=interval + n + against
    )


def _kind(row: pd.Series) -> str:
    """The row's method kind (declared rows may label methods freely: `dpo`, `dpo+introspection`)."""
    kind = row.get("kind")
    return str(kind) if isinstance(kind, str) and kind not in ("", "?") else str(row["method"])


def trust_cell(row: pd.Series) -> Cell:
    """Whether the instruments behind the row can be believed: the tournament judge's validation, the
    persona classifier's, and the tournament's split-half reliability (with interval)."""
    parts = []
    judge = row.get("prefs_judge_status")
    if isinstance(judge, str) and judge:
        parts.append(f"judge {judge}")
    status = row.get("classifier_status")
    if isinstance(status, str) and status:
        figures = []
        macro, lo, hi = (number(row.get(f"classifier_macro_f1{s}")) for s in ("", "_lo", "_hi"))
        if macro is not None and lo is not None and hi is not None:
            chance = number(row.get("classifier_chance"))
            figures.append(
                f"held-out macro-F1 {macro:.2f} [{lo:.2f}, {hi:.2f}]" + (f" vs chance {chance:.2f}" if chance else "")
            )
        acc, lo, hi = (number(row.get(f"classifier_labelled_{s}")) for s in ("acc", "lo", "hi"))
        if acc is not None and lo is not None and hi is not None:
            figures.append(f"labelled texts {acc:.2f} [{lo:.2f}, {hi:.2f}]")
        if _kind(row) in ("steered", "fine-tuned"):
            recorded = row.get("classifier_models_recorded") == "yes"
            figures.append(f"{row['method']} unseen" if recorded else f"whether it saw {row['method']}: unknown")
        parts.append(f"classifier {status}" + (f" ({'; '.join(figures)})" if figures else ""))
    parsable, answered = number(row.get("cap_parsable")), number(row.get("cap_answered"))
    if parsable is not None and answered:
        ok = "" if parsable >= answered / 2 else ", too few to score"
        parts.append(f"capabilities {parsable:.0f} of {answered:.0f} answers parsable{ok}")
    coef = number(row.get("steer_coef"))
    if coef is not None:
        parts.append(f"steering coefficient {coef:g} ({row.get('steer_coef_chosen_by') or 'declared'})")
    coherence = row.get("coh_judge_status")
    if isinstance(coherence, str) and coherence:
        accuracy = number(row.get("coh_judge_accuracy"))
        figure = ""
        if accuracy is not None:
            lo, hi = number(row.get("coh_judge_accuracy_lo")), number(row.get("coh_judge_accuracy_hi"))
            figure = (
                f" {accuracy:.2f} [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else f" {accuracy:.2f}"
            )
        parts.append(f"coherence judge {coherence}{figure}")
    reliability = number(row.get("prefs_reliability"))
    if reliability is not None:
        lo, hi = number(row.get("prefs_reliability_lo")), number(row.get("prefs_reliability_hi"))
        interval = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
        noise = " (reaches 0: no preference beyond the design null)" if lo is not None and lo <= 0 else ""
        parts.append(f"reliability {reliability:.2f}{interval}{noise}")
    retest = number(row.get("prefs_retest_spearman"))
    if retest is not None:
        parts.append(f"test-retest {retest:.2f}")
    elif str(row.get("prefs_retest") or "").startswith("none"):
        parts.append("no test-retest run")
    elif reliability is None and number(row.get("prefs_matchups")) is not None:
        parts.append("reliability n/a (too few matchups)")
    return Cell(text="; ".join(parts))


def headlines(table: pd.DataFrame) -> list[Headline]:
    """One headline table per base model, rows sorted by persona, then method in METHOD_ORDER."""
    if table.empty or not {"base", *IDENTITY} <= set(table.columns):
        return []
    metrics = [m for m in METRICS if not m.optional or (m.value in table and table[m.value].notna().any())]
    columns = [*IDENTITY, *(m.header for m in metrics), TRUST]
    assert len(columns) <= MAX_COLUMNS, columns
    out = []
    for base, group in table.groupby("base", sort=True):
        headline = Headline(base=str(base), columns=columns)
        order = {m: i for i, m in enumerate(METHOD_ORDER)}
        kinds = group.apply(_kind, axis=1) if len(group) else group["method"]
        group = group.assign(_order=kinds.map(lambda m: order.get(m, len(order)))).sort_values(
            ["persona", "_order", "method"]
        )
        rows = [
            [Cell(text=str(r["persona"])), Cell(text=str(r["method"]))]
            + [_cell(m, r) for m in metrics]
            + [trust_cell(r)]
            for _, r in group.iterrows()
        ]
        _mark_best(rows, [str(p) for p in group["persona"]], first=len(IDENTITY), count=len(metrics))
        headline.rows = rows
        headline.verdicts = [
            f"{r['persona']} / {r['method']}: {verdict(r)}" for _, r in group.iterrows() if _kind(r) != "base"
        ]
        out.append(headline)
    return out


def _mark_best(rows: list[list[Cell]], personas: list[str], first: int, count: int) -> None:
    """Per persona and metric column: mark the best cell only if its interval excludes every other's."""
    for persona in set(personas):
        members = [row for row, p in zip(rows, personas) if p == persona]
        for col in range(first, first + count):
            cells = [row[col] for row in members if row[col].value is not None]
            if len(cells) < 2 or any(c.lo is None or c.hi is None for c in cells):
                continue
            best = max(cells, key=lambda c: c.value)
            if all(best.lo > c.hi for c in cells if c is not best):
                best.best = True
                best.text += f" {BEST_MARK}"


def to_markdown(headline: Headline) -> str:
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(headline.columns) + " |", "|" + "---|" * len(headline.columns)]
    lines += ["| " + " | ".join(escape(c.text) or "" for c in row) + " |" for row in headline.rows]
    if headline.verdicts:
        lines += ["", "Did the persona take?", ""] + [f"- {v}" for v in headline.verdicts]
    return "\n".join(lines) + "\n"


def legend() -> list[tuple[str, str]]:
    """(column, meaning) for every headline column that can appear."""
    return [
        ("persona, method", "one row per base model x persona x method; the base model names the table"),
        *((m.header, m.explain) for m in METRICS),
        (
            TRUST,
            "judge: whether the revealed-preferences judge passed validation on labelled data; coherence judge: "
            "the same for the pairwise coherence judge on pairs with a known better reply; classifier: "
            "validated / weak / unknown (held-out macro-F1 interval above chance); reliability: the "
            "tournament's split-half reliability (Spearman-Brown) net of its design null (what a model that "
            "ignores the offered traits gets), prompt-clustered interval; test-retest: Spearman of the base "
            "model's ranking with its second run on the same design (the ceiling of a Spearman against it)",
        ),
        (BEST_MARK, "best method for this persona and column, marked only where its interval excludes the others'"),
    ]
