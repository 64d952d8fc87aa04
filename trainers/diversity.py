"""Distinct-text ratios of generated data, and the stop when samples collapse.

Many samples of one prompt are only worth generating if they differ. A seeding bug (every batch of
identical prompts reseeded alike) once gave 24 distinct replies of 40; nothing said so. Every
generation manifest therefore records, per prompt, distinct texts / samples, and a stage that asked
for more than one sample per prompt stops before training when a prompt falls below the threshold.
"""

from __future__ import annotations

from charbench.errors import CharbenchError

MIN_DISTINCT = 0.9  # default threshold where more than one sample per prompt is asked for


class CollapsedSamplesError(CharbenchError):
    """Samples of one prompt are mostly copies of each other."""


def samples_by_prompt(keys: list[str], prompt_of: dict[str, str], rows: dict[str, dict]) -> dict[str, list[str]]:
    """Each prompt's sample texts (prompt -> texts), in one pass over the row keys."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(prompt_of[key], []).append(rows[key]["text"])
    return groups


def distinct_ratios(groups: dict[str, list[str]]) -> dict[str, float]:
    """Per group (one prompt's samples): distinct texts / samples, rounded for the manifest."""
    return {name: round(len(set(texts)) / len(texts), 4) for name, texts in groups.items() if texts}


def distinct_summary(groups: dict[str, list[str]], threshold: float = MIN_DISTINCT) -> dict:
    """The manifest entry for `groups` (prompt -> its samples), with the prompts below `threshold`.

    Only prompts with more than one sample can collapse; one sample per prompt is always "distinct".
    """
    ratios = distinct_ratios(groups)
    collapsed = {
        name: f"{len(set(groups[name]))}/{len(groups[name])}"
        for name, ratio in ratios.items()
        if len(groups[name]) > 1 and ratio < threshold
    }
    return {
        "threshold": threshold,
        "samples": sum(len(t) for t in groups.values()),
        "distinct": sum(len(set(t)) for t in groups.values()),
        "min_ratio": min(ratios.values(), default=1.0),
        "collapsed": collapsed,
        "by_prompt": ratios,
    }


def raise_if_collapsed(summary: dict, stage: str) -> None:
    """Called after the manifest is written, so the user can read every prompt's ratio."""
    if summary["collapsed"]:
        name, counts = next(iter(summary["collapsed"].items()))
        more = len(summary["collapsed"]) - 1
        raise CollapsedSamplesError(
            f"{stage}: the samples of prompt '{name[:60]}' are {counts} distinct (threshold "
            f"{summary['threshold']})" + (f", and {more} more prompt(s)" if more else "") + ": raise "
            "--max-tokens or lower --min-distinct; cached samples (raw_*.jsonl) are reused, so delete "
            "them to draw new ones"
        )
