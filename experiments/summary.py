"""What a run prints: one line per log with its headline numbers, intervals and counts."""

from __future__ import annotations

from inspect_ai.log import EvalLog

from bench.logs import log_metrics
from bench.revealed_prefs.report import prefs_figures


def print_summary(logs: list[EvalLog]) -> None:
    """Logs grouped by their declared row (or model), one line per task; then each method's tournament
    against its base's (paired, prompt-clustered) with the test-retest ceiling or its absence."""
    groups: dict[str, list[EvalLog]] = {}
    for log in logs:
        row = (log.eval.metadata or {}).get("row") or {}
        key = "/".join(str(row.get(k) or "*") for k in ("base", "persona", "method")) if row else log.eval.model
        key += f" (retest {row['replicate']})" if row.get("replicate") else ""
        groups.setdefault(f"{key}: {log.eval.model}", []).append(log)
    for label, group in groups.items():
        print(f"\n== {label}")
        for task, text in summarize(group):
            print(f"  {task:<22} {text}")
    lines = against_base(logs)
    if lines:
        print("\n== revealed preferences against the base (paired by prompt)")
        for line in lines:
            print(f"  {line}")


def against_base(logs: list[EvalLog]) -> list[str]:
    """Per method's tournament: Spearman with its base's ranking and the target-trait shift, with the
    test-retest ceiling where the experiment ran one (else a line saying it did not)."""
    from bench.revealed_prefs.compare import compare_frames, matches_from_log, persona_targets, retest_line

    prefs = [lg for lg in logs if lg.eval.task.endswith("revealed_prefs") and lg.status == "success"]
    rows = {id(lg): (lg.eval.metadata or {}).get("row") or {} for lg in prefs}
    bases = {r.get("base"): lg for lg in prefs if (r := rows[id(lg)]).get("kind") == "base" and not r.get("replicate")}
    retests = {r.get("base"): lg for lg in prefs if (r := rows[id(lg)]).get("kind") == "base" and r.get("replicate")}
    out = []
    for log in prefs:
        row = rows[id(log)]
        base = bases.get(row.get("base"))
        if row.get("kind") in (None, "base") or base is None:
            continue
        retest = retests.get(row.get("base"))
        result = compare_frames(
            matches_from_log(base.location)[0],
            matches_from_log(log.location)[0],
            targets=persona_targets(row.get("persona"), missing_ok=True),
            retest=None if retest is None else matches_from_log(retest.location)[0],
            reliability=False,
        )
        lo, hi = result["spearman_ci"]
        target = result["target"]
        shift = (
            f"; target-trait shift {target['delta']:+z.0f} [{target['lo']:+z.0f}, {target['hi']:+z.0f}]"
            if target and target["delta"] is not None
            else ""
        )
        out.append(
            f"{row.get('persona')}/{row.get('method')}: Spearman vs base {result['spearman']:.2f} "
            f"[{lo:.2f}, {hi:.2f}]{shift} ({result['unit']})"
        )
    for label, base in bases.items():
        if out and label in retests:
            result = compare_frames(
                matches_from_log(base.location)[0], matches_from_log(retests[label].location)[0], reliability=False
            )
            out.append(f"{label}: {retest_line({'spearman': result['spearman'], 'ci': result['spearman_ci']})}")
        elif out:
            out.append(f"{label}: {retest_line(None)}")
    return out


def summarize(logs: list[EvalLog]) -> list[tuple[str, str]]:
    """(task, one-line headline with intervals and counts) for printing."""
    lines = []
    for log in logs:
        m = log_metrics(log)
        task = log.eval.task
        if task.endswith("revealed_prefs") and "spread" in m:
            top = [k.split("_", 1)[1] for k in sorted(m) if k.startswith("top0")][:3]
            text = f"{prefs_figures(m)}, valid {int(m['valid'])}/{int(m['matchups'])}, top: {', '.join(top)}"
        elif task.endswith("robustness") and "normal_accuracy" in m:
            parts = [
                f"{split} {m[f'{split}_accuracy']:.2f} [{m[f'{split}_accuracy_lo']:.2f}, "
                f"{m[f'{split}_accuracy_hi']:.2f}] (n={int(m[f'{split}_n'])})"
                for split in ("normal", "adversarial", "multiturn")
                if f"{split}_accuracy" in m and f"{split}_accuracy_lo" in m
            ]
            clf = (log.eval.metadata or {}).get("classifier") or {}
            status = clf.get("status", "unknown") if isinstance(clf, dict) else "unknown"
            text = f"accuracy {'; '.join(parts)}; classifier {status}"
        elif task.endswith("drift") and "conversations" in m:
            text = drift_headline(m)
        elif task.endswith("capabilities") and "samples" in m:
            benchmarks = sorted({k.split("/", 1)[0] for k in m if k.endswith("/accuracy")})
            text = "; ".join(
                f"{b} {m[f'{b}/accuracy']:.2f} [{m[f'{b}/accuracy_lo']:.2f}, {m[f'{b}/accuracy_hi']:.2f}] "
                f"(n={int(m[f'{b}/n'])}, unparsed {int(m[f'{b}/unparsed'])})"
                for b in benchmarks
            )
        elif task.endswith("coherence") and "pairs" in m:
            win = (
                f"{m['win_rate']:.2f} [{m['win_rate_lo']:.2f}, {m['win_rate_hi']:.2f}]"
                if "win_rate" in m
                else "n/a (no consistent pair)"
            )
            text = (
                f"win rate {win} over {int(m['wins'] + m['losses'])} consistent of {int(m['pairs'])} pairs, "
                f"consistency {m['consistency_rate']:.2f}, invalid {m['invalid_rate']:.1%}"
            )
        else:
            text = f"status {log.status}"
        lines.append((task, text))
    return lines


def drift_headline(m: dict[str, float]) -> str:
    """AUC and slope of each score drift has, with intervals; why the activation score is absent."""
    parts = []
    for name, prefix in (("text", "text_"), ("activation z", "act_")):
        if f"{prefix}auc" in m:
            held = (
                "holds"
                if m.get(f"{prefix}holds")
                else f"falls below half of turn 1 at turn {m[f'{prefix}threshold_turn']:.0f}"
            )
            parts.append(
                f"{name} AUC {m[f'{prefix}auc']:.2f} [{m[f'{prefix}auc_lo']:.2f}, {m[f'{prefix}auc_hi']:.2f}], slope "
                f"{m[f'{prefix}slope']:+.3f} [{m[f'{prefix}slope_lo']:+.3f}, {m[f'{prefix}slope_hi']:+.3f}]/turn"
                + (f", {held}" if f"{prefix}holds" in m else "")
            )
    absent = [k.split("/", 1)[1] for k in m if k.startswith("activation_absent/")]
    if absent:
        parts.append(f"activation absent: {'; '.join(absent)}")
    return f"{int(m['turns'])} turns x {int(m['conversations'])} conversations: " + "; ".join(parts)
