"""Read a tournament back from its Inspect log: the ratings table and the headline numbers."""

from __future__ import annotations

import pandas as pd
from inspect_ai.log import EvalLog, read_eval_log

from bench.logs import judges_used, log_metrics
from bench.revealed_prefs import validity


def point_ratings(log: EvalLog | str) -> pd.Series:
    """The Bradley-Terry rating of every trait (no intervals: one fit) from a log's verdicts."""
    from bench import ratings
    from bench.revealed_prefs.compare import matches_from_log

    frame, _ = matches_from_log(log)
    valid = frame[(frame["winner"] == frame["trait_a"]) | (frame["winner"] == frame["trait_b"])]
    return ratings.bradley_terry(valid[["trait_a", "trait_b", "winner"]])["rating"]


def ratings_from_log(log: EvalLog | str) -> pd.DataFrame:
    """The per-trait table of a tournament log, rebuilt from its samples' verdicts with the figures its
    metrics came from (`validity.log_figures`, same draws and seed): Bradley-Terry `rating` with `lo`,
    `hi` (prompt-clustered, bias-corrected), the design null's rating `null`, `elo` (the reference's
    single pass) and `matches`."""
    from bench import ratings
    from bench.revealed_prefs.compare import matches_from_log
    from bench.revealed_prefs.scorers import BOOTSTRAP_N

    frame, _ = matches_from_log(log)
    table = validity.log_figures(frame, n=BOOTSTRAP_N, seed=0)["table"]
    valid = frame[(frame["winner"] == frame["trait_a"]) | (frame["winner"] == frame["trait_b"])]
    table["elo"] = ratings.elo(valid[["trait_a", "trait_b", "winner"]])["rating"].reindex(table.index)
    return table[["rating", "lo", "hi", "null", "elo", "matches"]]


def prefs_figures(m: dict) -> str:
    """A tournament's spread against its design null and its reliability, in one line; "n/a" with the
    reason where a figure could not be measured."""
    nan = float("nan")
    corrected, reliability = m.get("spread_corrected", nan), m.get("reliability", nan)
    if not m.get("design_null"):
        spread = f"spread {m.get('spread', nan):.0f} (no design null in this log)"
    elif corrected != corrected:
        spread = (
            f"spread {m['spread']:.0f} vs design null {m['spread_null']:.0f}: corrected n/a (traits too rarely played)"
        )
    else:
        spread = (
            f"spread {m['spread']:.0f} vs design null {m['spread_null']:.0f}: corrected "
            f"{corrected:.0f} [{m['spread_corrected_lo']:.0f}, {m['spread_corrected_hi']:.0f}]"
        )
    if reliability != reliability:
        rel = "reliability n/a (too few matchups per trait to split)"
    elif m["reliability_lo"] != m["reliability_lo"] or m["reliability_hi"] != m["reliability_hi"]:
        rel = f"reliability {reliability:.2f} (interval n/a: too few matchups per trait to resample)"
    else:
        rel = f"reliability {reliability:.2f} [{m['reliability_lo']:.2f}, {m['reliability_hi']:.2f}]"
    floor = f"coin-flip floor {m['spread_coinflip']:.0f}, " if "spread_coinflip" in m else ""
    return f"{spread} ({floor}{int(m.get('prompts', 0))} prompts), {rel}"


def judge_status(m: dict) -> str:
    if "judge_validated" not in m:
        return "judge validation not recorded"
    status = "validated" if m["judge_validated"] else "unvalidated"
    if "judge_accuracy" in m:
        status += f" (accuracy {m['judge_accuracy']:.3f} [{m['judge_accuracy_lo']:.3f}, {m['judge_accuracy_hi']:.3f}])"
    return status


def verdict(m: dict) -> str:
    """Whether the ranking can be told from what a model ignoring the offered traits gets, from the log's
    own figures: the reliability net of the design null and the corrected spread must both have
    intervals above 0, and the judge must be validated for the words to mean what they say."""
    nan = float("nan")
    reasons = []
    if not m.get("design_null"):
        reasons.append("no design null in this log")
    rel_lo, corrected_lo = m.get("reliability_lo", nan), m.get("spread_corrected_lo", nan)
    if rel_lo != rel_lo:
        reasons.append("reliability not measurable at this n")
    elif rel_lo <= 0:
        reasons.append("reliability interval reaches 0")
    if corrected_lo != corrected_lo:
        reasons.append("corrected spread not measurable at this n")
    elif corrected_lo <= 0:
        reasons.append("corrected spread interval reaches 0")
    if reasons:
        return "cannot tell this ranking from noise and the judge's own leanings: " + "; ".join(reasons)
    caveat = (
        ""
        if m.get("judge_validated")
        else " (but the judge is unvalidated: the trait words may not mean what they say)"
    )
    return "the ranking stands out from the design null" + caveat


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
        lines.append(f"judge: {judge_status(m)}")
        lines.append(f"verdict: {verdict(m)}")
        table = ratings_from_log(log).head(top)
        lines.append(f"\n{'trait':<16}{'BT rating':>10}  {'95% CI':<14}{'Elo (1 pass)':>13}{'matches':>9}")
        for trait, row in table.iterrows():
            ci = f"[{row['lo']:.0f}, {row['hi']:.0f}]"
            lines.append(f"{trait:<16}{row['rating']:>10.0f}  {ci:<14}{row['elo']:>13.0f}{int(row['matches']):>9}")
    return "\n".join(lines)
