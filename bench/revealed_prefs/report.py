"""Read a tournament back from its Inspect log: the ratings table and the headline numbers."""

from __future__ import annotations

import pandas as pd
from inspect_ai.log import EvalLog, read_eval_log

from bench.logs import judges_used, log_metrics


def ratings_from_log(log: EvalLog | str) -> pd.DataFrame:
    """The per-trait Bradley-Terry table stored in the log's metrics (rating, lo, hi, elo, matches)."""
    log = read_eval_log(log) if isinstance(log, str) else log
    metrics = log_metrics(log)
    traits = [k.split("/", 1)[1] for k in metrics if k.startswith("bt/")]
    table = pd.DataFrame(
        {
            "rating": [metrics[f"bt/{t}"] for t in traits],
            "lo": [metrics[f"bt_lo/{t}"] for t in traits],
            "hi": [metrics[f"bt_hi/{t}"] for t in traits],
            "elo": [metrics[f"elo/{t}"] for t in traits],
            "matches": [int(metrics[f"n/{t}"]) for t in traits],
        },
        index=pd.Index(traits, name="trait"),
    )
    return table.sort_values("rating", ascending=False)


def prefs_figures(m: dict) -> str:
    """A tournament's spread against its design null and its reliability, in one line."""
    nan = float("nan")
    if m.get("design_null"):
        spread = (
            f"spread {m['spread']:.0f} vs design null {m['spread_null']:.0f}: corrected "
            f"{m['spread_corrected']:.0f} [{m['spread_corrected_lo']:.0f}, {m['spread_corrected_hi']:.0f}]"
        )
    else:
        spread = f"spread {m.get('spread', nan):.0f} (no design null in this log)"
    return (
        f"{spread}, reliability {m.get('reliability', nan):.2f} [{m.get('reliability_lo', nan):.2f}, "
        f"{m.get('reliability_hi', nan):.2f}] ({int(m.get('prompts', 0))} prompts)"
    )


def headline(log: EvalLog | str, top: int = 10) -> str:
    """A printable summary: counts, invalid rate, the spread against the design null, reliability, top traits."""
    log = read_eval_log(log) if isinstance(log, str) else log
    m = log_metrics(log)
    lines = [
        f"model: {log.eval.model}   judge: {judges_used(log) or 'none'}   seed: {log.eval.task_args.get('seed', 0)}",
        f"matchups: {int(m.get('matchups', 0))}   valid: {int(m.get('valid', 0))}   "
        f"invalid rate: {m.get('invalid_rate', 0):.1%}   truncated replies: {int(m.get('truncated', 0))}",
    ]
    if "spread" in m:
        lines.append(prefs_figures(m))
        table = ratings_from_log(log).head(top)
        lines.append(f"\n{'trait':<16}{'BT rating':>10}  {'95% CI':<14}{'Elo (1 pass)':>13}{'matches':>9}")
        for trait, row in table.iterrows():
            ci = f"[{row['lo']:.0f}, {row['hi']:.0f}]"
            lines.append(f"{trait:<16}{row['rating']:>10.0f}  {ci:<14}{row['elo']:>13.0f}{int(row['matches']):>9}")
    return "\n".join(lines)
