"""Reading results back from Inspect logs, in one place (reports, scoring summaries, leaderboards)."""

from __future__ import annotations

from inspect_ai.log import EvalLog


def log_metrics(log: EvalLog) -> dict[str, float]:
    """The first scorer's metrics as a flat dict (empty when the log has no results)."""
    if not log.results or not log.results.scores:
        return {}
    return {name: m.value for name, m in log.results.scores[0].metrics.items()}


def judges_used(log: EvalLog, scorer: str | None = None) -> str:
    """The judges named in the samples' score metadata (all scorers, or one), comma-separated.

    Needs a log read with samples; unjudged samples (judge "none") are not counted.
    """
    names = {
        score.metadata.get("judge")
        for sample in log.samples or []
        for name, score in (sample.scores or {}).items()
        if score.metadata and (scorer is None or name == scorer)
    }
    names -= {None, "none"}
    return ", ".join(sorted(names))
