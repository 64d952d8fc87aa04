"""Checks a run makes on its rows before they generate: a checkpoint's train/eval overlap."""

from __future__ import annotations

import sys

from inspect_ai import Task


def train_eval_overlap(model: str, tasks: list[Task]) -> dict[str, dict]:
    """Per task: how many of its samples' prompts the checkpoint was trained on (by text hash).

    Reads `charbench_prompts.json`, written by every training stage; a model without one (hub models,
    checkpoints trained elsewhere) cannot be checked and gives {}.
    """
    from bench.models.overlap import checkpoint_dir, trained_prompts

    directory = checkpoint_dir(model)
    trained = {r["sha"]: r for r in trained_prompts(directory)} if directory else {}
    if not trained:
        return {}
    overlap = {}
    for task in tasks:
        shas = {(s.metadata or {}).get("prompt_sha") for s in task.dataset} - {None}
        seen = shas & set(trained)
        if seen:
            overlap[task.name] = {
                "prompts": len(shas),
                "trained_on": len(seen),
                "stages": sorted({trained[sha]["stage"] for sha in seen}),
                "ids": sorted(trained[sha]["id"] for sha in seen)[:20],
            }
    return overlap


def warn_overlap(model: str, overlap: dict[str, dict]) -> None:
    """Loud on stderr; the same facts go into every log's metadata (`train_eval_overlap`)."""
    for task, facts in overlap.items():
        print(
            f"WARNING: {model} was trained on {facts['trained_on']} of the {facts['prompts']} prompts of "
            f"{task} (stages: {', '.join(facts['stages'])}): its {task} numbers are not held-out. "
            "Recorded in the log as train_eval_overlap.",
            file=sys.stderr,
        )
