"""`charbench drift report`: per-method drift curves with intervals, recomputed from the logs' per-turn
scores with the same function the task's metric uses (`drift_summary`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from inspect_ai.log import read_eval_log

from bench.drift.scorers import drift_summary
from bench.models.specs import describe_model
from charbench.errors import CharbenchError

SCORES = {"text": "text_", "activation": "act_"}
SUMMARY = ("slope", "auc", "threshold_turn")


def _log_paths(paths: list[str]) -> list[Path]:
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(path.rglob("*.eval"))
        elif path.is_file():
            found.append(path)
        else:
            raise CharbenchError(f"log {path} does not exist: pass .eval files or directories of them")
    return found


def drift_logs(paths: list[str]) -> list[tuple[str, str, dict]]:
    """(method, model, metrics) for every bench/drift log among `paths`."""
    out = []
    for path in _log_paths(paths):
        log = read_eval_log(str(path))
        if not log.eval.task.endswith("drift"):
            continue
        meta = [
            score.metadata
            for sample in log.samples or []
            for score in (sample.scores or {}).values()
            if score.metadata and "text" in score.metadata and "turns" in score.metadata
        ]
        if not meta:
            continue
        facts = log.eval.metadata or {}
        turns = int(facts.get("turns") or max(m["turns"] for m in meta))
        metrics = drift_summary(meta, turns, facts.get("threshold_fraction", 0.5), facts.get("seed", 0))
        out.append((describe_model(log.eval.model)["method"], log.eval.model, metrics))
    if not out:
        raise CharbenchError("no scored bench/drift samples in these logs: pass logs of `inspect eval bench/drift`")
    return out


def drift_table(paths: list[str]) -> pd.DataFrame:
    """One row per model x score (text, activation) x turn: mean, 95% interval, conversations scored."""
    rows = []
    for method, model, m in drift_logs(paths):
        turns = int(m["turns"])
        for score, prefix in SCORES.items():
            for t in range(1, turns + 1):
                key = f"{prefix}turn{t}"
                if key in m:
                    rows.append(
                        {"method": method, "model": model, "score": score, "turn": t, "mean": m[key]}
                        | {"lo": m[f"{key}_lo"], "hi": m[f"{key}_hi"], "n": int(m[f"{key}_n"])}
                    )
    return pd.DataFrame(rows)


def drift_summaries(paths: list[str]) -> pd.DataFrame:
    """One row per model x score: slope, AUC and threshold turn with their intervals."""
    rows = []
    for method, model, m in drift_logs(paths):
        for score, prefix in SCORES.items():
            if f"{prefix}slope" not in m:
                continue
            row = {"method": method, "model": model, "score": score, "conversations": int(m["conversations"])}
            for name in SUMMARY:
                for suffix in ("", "_lo", "_hi"):
                    row[f"{name}{suffix}"] = m.get(f"{prefix}{name}{suffix}", float("nan"))
            row["holds"] = bool(m.get(f"{prefix}holds", 0))
            rows.append(row)
    return pd.DataFrame(rows)


def format_report(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    lines = []
    for (model, score), rows in table.groupby(["model", "score"], sort=False):
        s = summary[(summary["model"] == model) & (summary["score"] == score)].iloc[0]
        unit = "p(persona)" if score == "text" else "z vs base"
        lines.append(f"{s['method']}: {model}   [{score}, {unit}; {s['conversations']} conversations]")
        for _, r in rows.iterrows():
            lines.append(f"  turn {r['turn']:>2}  {r['mean']:7.3f}  [{r['lo']:7.3f}, {r['hi']:7.3f}]  n={r['n']}")
        turn = "holds" if s["holds"] else f"{s['threshold_turn']:.0f}"
        lines.append(
            f"  slope {s['slope']:+.3f}/turn [{s['slope_lo']:+.3f}, {s['slope_hi']:+.3f}]   "
            f"AUC {s['auc']:.3f} [{s['auc_lo']:.3f}, {s['auc_hi']:.3f}]   "
            f"below half of turn 1 at: {turn} [{s['threshold_turn_lo']:.0f}, {s['threshold_turn_hi']:.0f}]"
        )
    lines.append("intervals: 95% bootstrap over conversations; threshold turn = turns + 1 where the persona held")
    return "\n".join(lines)


def plot_curves(table: pd.DataFrame, path: str | Path) -> Path:
    """One panel per score (text, activation), one line per model with its 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [s for s in SCORES if s in set(table["score"])]
    fig, axes = plt.subplots(1, len(scores), figsize=(6 * len(scores), 4), squeeze=False)
    for ax, score in zip(axes[0], scores):
        for (method, model), rows in table[table["score"] == score].groupby(["method", "model"], sort=False):
            line = ax.plot(rows["turn"], rows["mean"], marker="o", label=f"{method}: {model}")[0]
            ax.fill_between(rows["turn"], rows["lo"], rows["hi"], color=line.get_color(), alpha=0.2)
        ax.set_xticks(sorted(set(table["turn"])))
        ax.set_xlabel("turn")
        ax.set_ylabel("classifier p(persona)" if score == "text" else "projection, z vs base model")
        ax.set_title(f"persona over turns ({score})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
