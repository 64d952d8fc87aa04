"""Checks a run makes on its rows before they generate: a checkpoint's train/eval overlap."""

from __future__ import annotations

import sys
from pathlib import Path

from inspect_ai import Task

from charbench.errors import CharbenchError


def checkpoint_dir(model: str) -> str | None:
    """The local checkpoint behind an Inspect model name (charbench/ft/<dir>[:<subfolder>], vllm/<dir>,
    vllm/<base>:<adapter dir>, hf/<dir>, ...)."""
    from bench.models.loader import adapter_subfolder
    from bench.models.specs import parse_model_name

    name = model.split("/", 1)[1] if "/" in model else model
    if model.startswith("charbench/"):
        try:
            name = parse_model_name(name).base
            name = str(adapter_subfolder(name) or name)
        except CharbenchError:
            return None
    elif model.startswith("vllm/") and ":" in name and not Path(name).exists():
        name = name.rpartition(":")[2]  # Inspect's spelling for a LoRA adapter on a base model
    return name if Path(name).expanduser().is_dir() else None


def train_eval_overlap(model: str, tasks: list[Task]) -> dict[str, dict]:
    """Per task: how many of its samples' prompts the checkpoint was trained on (by text hash).

    Reads `charbench_prompts.json`, written by every training stage; a model without one (hub models,
    checkpoints trained elsewhere) cannot be checked and gives {}.
    """
    from trainers.provenance import trained_prompts

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
