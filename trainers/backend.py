"""The one generation backend for trainer and classifier data: two engines, transformers (batched)
and vLLM, with the same rendered prompts, sampling settings and seed. `choose_engine` decides: vLLM
when it is installed and a GPU is present, unless `CHARBENCH_ENGINE=transformers|vllm` says otherwise.

Rows are written to jsonl as they are produced and skipped on a re-run, so long generations resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.models.generation import Completion, Messages, Sampling, generate_chat
from bench.models.vllm_engine import choose_engine, vllm_generate
from charbench.jsonl import read_jsonl


def generate_replies(
    model: str,
    conversations: Sequence[Messages],
    sampling: Sampling,
    keys: Sequence[str],
    progress: str | None = None,
    engine: str | None = None,
) -> list[Completion]:
    """One reply per conversation; `keys` name the rows, and a row's randomness comes from its key."""
    if choose_engine(engine) == "vllm":
        return vllm_generate(model, conversations, sampling, keys)
    from bench.models.loader import load_causal_lm

    return generate_chat(load_causal_lm(model), conversations, sampling, progress=progress, keys=keys)


def generate_resumable(
    path: Path,
    keys: list[str],
    conversations: Sequence[Messages],
    model: str,
    sampling: Sampling,
    make_row: Callable[[str, Completion], dict],
    chunk: int = 64,
    label: str = "generating",
) -> dict[str, dict]:
    """Generate the rows whose `key` is not yet in `path`, appending as chunks finish; return all rows by key.

    Each row records the engine that wrote it: a resumed run may have used another.
    """
    engine = choose_engine()
    done = {row["key"]: row for _, row in read_jsonl(path, missing_ok=True)}
    todo = [i for i, key in enumerate(keys) if key not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        replies = generate_replies(
            model,
            [conversations[i] for i in part],
            sampling,
            [keys[i] for i in part],
            progress=f"{label} {start + len(part)}/{len(todo)}",
            engine=engine,
        )
        with path.open("a", encoding="utf-8") as handle:
            for i, reply in zip(part, replies):
                row = {"key": keys[i], "engine": engine, **make_row(keys[i], reply)}
                done[keys[i]] = row
                handle.write(json.dumps(row) + "\n")
    return done
