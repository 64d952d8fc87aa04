"""What a run prints: one line per log with its headline numbers, intervals and counts."""

from __future__ import annotations

from inspect_ai.log import EvalLog

from bench.logs import log_metrics
from bench.revealed_prefs.report import prefs_figures


def print_summary(logs: list[EvalLog]) -> None:
    """Logs grouped by their declared row (or model), one line per task."""
    groups: dict[str, list[EvalLog]] = {}
    for log in logs:
        row = (log.eval.metadata or {}).get("row") or {}
        key = "/".join(str(row.get(k) or "*") for k in ("base", "persona", "method")) if row else log.eval.model
        groups.setdefault(f"{key}: {log.eval.model}", []).append(log)
    for label, group in groups.items():
        print(f"\n== {label}")
        for task, text in summarize(group):
            print(f"  {task:<22} {text}")


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
