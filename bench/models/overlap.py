"""Whether the model under test was trained on the prompt a sample asks: checked by the tasks themselves.

Every training stage writes the prompts it saw into the checkpoint (`charbench_prompts.json`: id, text
hash, stage). `charbench run` checks a whole task before it starts (`experiments.checks`); this module
makes the same check on the `inspect eval` path, sample by sample, in the solver every task shares
(`bench.seeding.seeded_generate`): a sample whose prompt the checkpoint was trained on records the
stage in its metadata (`trained_on`) and the first one warns, so no held-out claim rests on it unseen.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from charbench.errors import CharbenchError

PROMPTS_FILE = "charbench_prompts.json"
logger = logging.getLogger(__name__)
_trained: dict[str, dict[str, dict]] = {}
_warned: set[str] = set()


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


def trained_prompts(directory: str | Path | None) -> list[dict[str, str]]:
    """The prompt records of a local checkpoint directory (empty when it has none)."""
    if directory is None or not (Path(directory) / PROMPTS_FILE).is_file():
        return []
    return json.loads((Path(directory) / PROMPTS_FILE).read_text(encoding="utf-8"))["prompts"]


def trained_on(model: str) -> dict[str, dict]:
    """Text hash -> record of every prompt the model's checkpoint was trained on (cached per model)."""
    if model not in _trained:
        _trained[model] = {r["sha"]: r for r in trained_prompts(checkpoint_dir(model))}
    return _trained[model]


def record_overlap(model: str, metadata: dict) -> None:
    """Mark a sample whose prompt the model was trained on (`trained_on`: the stage) and warn once."""
    sha = metadata.get("prompt_sha")
    record = trained_on(model).get(sha) if sha else None
    if record is None:
        return
    metadata["trained_on"] = record["stage"]
    if model not in _warned:
        _warned.add(model)
        message = (
            f"WARNING: {model} was trained on prompt {record['id']} ({record['stage']}), which this eval asks: "
            "its numbers are not held-out for such samples (marked trained_on in their metadata)"
        )
        logger.warning(message)
        print(message, file=sys.stderr)
