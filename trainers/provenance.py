"""What a checkpoint came from: the prompts it was trained on, and the name of the model it is.

Every training stage writes `charbench_prompts.json` into its output (adapter or merged model): the
id and text hash of every user prompt it trained on, plus those of the model it started from, so a
final checkpoint carries the prompts of the whole chain (distillation, then introspection). Scoring
reads it and warns, and records, when a checkpoint is scored on a prompt it was trained on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.models.overlap import PROMPTS_FILE  # one name for the file
from bench.prompts import prompt_sha


def prompt_record(prompt_id: str, text: str, stage: str) -> dict[str, str]:
    return {"id": prompt_id, "sha": prompt_sha(text), "stage": stage}


def _local_dir(model: str) -> Path | None:
    from bench.models.loader import ModelNotFoundError, resolve_source

    try:
        path = Path(resolve_source(model))
    except ModelNotFoundError:
        return None
    return path if path.is_dir() else None


def trained_prompts(model: str) -> list[dict[str, str]]:
    """The prompt records of a model's local checkpoint (empty for hub models and untrained ones)."""
    from bench.models.overlap import trained_prompts as read

    return read(_local_dir(model))


def write_trained_prompts(out: Path, base: str, records: list[dict[str, str]]) -> int:
    """The base model's records (its own training) plus this stage's, one per (stage, sha)."""
    merged: dict[tuple[str, str], dict[str, str]] = {}
    for record in trained_prompts(base) + records:
        merged.setdefault((record["stage"], record["sha"]), record)
    (out / PROMPTS_FILE).write_text(json.dumps({"prompts": list(merged.values())}, indent=1), encoding="utf-8")
    return len(merged)


def copy_trained_prompts(source: Path, out: Path) -> None:
    if (source / PROMPTS_FILE).is_file():
        (out / PROMPTS_FILE).write_text((source / PROMPTS_FILE).read_text(encoding="utf-8"), encoding="utf-8")


def _origin(path: Path) -> str | None:
    """The model a charbench checkpoint was made from (merge -> adapter -> its base)."""
    for name, key in (("charbench_merge.json", "adapter"), ("charbench_train.json", "base")):
        if (path / name).is_file():
            return json.loads((path / name).read_text(encoding="utf-8")).get(key)
    return None


def assistant_name(model: str) -> str:
    """The name a model calls itself, the reference's way: the letters of the first word of its model
    name ("Llama-3.1-8B-Instruct" -> "Llama", "Qwen2.5-7B-Instruct" -> "Qwen", "smollm2-135m" ->
    "Smollm"). A charbench checkpoint is followed back to the model it was trained from, so a merged
    DPO model keeps its base's name.
    """
    seen = set()
    while model not in seen:
        seen.add(model)
        path = _local_dir(model)
        origin = _origin(path) if path is not None else None
        if origin is None:
            break
        model = origin
    words = [w for w in re.split(r"[-_ ]", model.rstrip("/").split("/")[-1]) if w]
    if len(words) > 1 and words[0].lower() == "meta":  # Meta-Llama-3-8B-Instruct
        words = words[1:]
    letters = re.match(r"[A-Za-z]+", words[0]) if words else None
    name = letters.group(0) if letters else (words[0] if words else "Assistant")
    return name if any(c.isupper() for c in name) else name.capitalize()


def replace_name(text: str, old: str, new: str) -> tuple[str, int]:
    """The teacher's own name in its reply, as a whole word, replaced by the student's (and counted)."""
    if not old or old == new:
        return text, 0
    return re.subn(rf"\b{re.escape(old)}\b", new, text)
