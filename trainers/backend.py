"""The one generation backend for trainer and classifier data: two engines, transformers (batched)
and vLLM, with the same rendered prompts, sampling settings and seed. `choose_engine` decides: vLLM
when it is installed and a GPU is present, unless `CHARBENCH_ENGINE=transformers|vllm` says otherwise.

Rows are written to jsonl as they are produced and skipped on a re-run, so long generations resume.
Prompts are fitted to the context here, before rendering, so both engines see the same truncation.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.models.generation import Completion, Messages, Sampling, generate_chat, render_chat
from bench.models.vllm_engine import Engine, choose_engine, max_model_len, tensor_parallel_size, vllm_generate
from charbench.errors import CharbenchError
from charbench.jsonl import read_jsonl

TRANSFORMERS_CHUNK = 64  # rows per resumable chunk; vLLM takes a whole stage at once


def require_single_process() -> None:
    """Generation runs one engine in one process; under `accelerate launch`/`torchrun` every rank would
    start its own engine on the same GPUs and write the same rows."""
    if int(os.environ.get("WORLD_SIZE") or 1) > 1:
        raise CharbenchError(
            f"generation runs in one process (WORLD_SIZE={os.environ['WORLD_SIZE']}): run `charbench train "
            "distill|introspect|all` without accelerate launch/torchrun; only `charbench train dpo|sft` may be "
            "launched multi-process"
        )


def engine_record(*models: str) -> dict[str, Any]:
    """What a data manifest says about generation: the engine, each model's context, and (vLLM) the GPUs
    one engine spans."""
    engine = choose_engine()
    record: dict[str, Any] = {"engine": engine, "max_model_len": {m: max_model_len(m) for m in dict.fromkeys(models)}}
    if engine == "vllm":
        record["tensor_parallel_size"] = tensor_parallel_size()
    return record


def release_generation() -> None:
    """Free what generation holds (the vLLM engine, memoised transformers models) before the next stage:
    one GPU cannot hold the teacher, the student and a training run at once."""
    from bench.models import loader

    Engine.shutdown()
    loader.release_all()


@functools.lru_cache(maxsize=8)
def _prompt_tokenizer(model: str) -> Any:
    """The tokenizer both engines render with: the model's own, or an adapter's base's."""
    from transformers import AutoTokenizer

    from bench.models.loader import weights_source

    return AutoTokenizer.from_pretrained(weights_source(model))


def fit_conversations(
    model: str, conversations: Sequence[Messages], max_new_tokens: int
) -> tuple[list[Messages], list[bool]]:
    """Each conversation left-truncated to `max_model_len(model) - max_new_tokens` prompt tokens, and
    whether it was. Without this vLLM rejects the whole call when one prompt is too long.

    The reference cut the rendered token ids from the left, losing the system prompt and the template's
    head with them. Here the leading system message stays and whole turns go, oldest first, two at a
    time so the first kept turn has the role the first dropped one had; a turn too long to fit even alone
    (with the system message) loses its oldest tokens instead.
    """
    limit = max_model_len(model)
    budget = limit - max_new_tokens
    if budget < 1:
        raise CharbenchError(
            f"max_new_tokens {max_new_tokens} leaves no room for a prompt in max_model_len {limit} of {model}: "
            "lower max_new_tokens or raise CHARBENCH_MAX_MODEL_LEN"
        )
    tokenizer = _prompt_tokenizer(model)

    def length(messages: Messages) -> int:
        return len(tokenizer(render_chat(tokenizer, messages), add_special_tokens=False).input_ids)

    fitted, truncated = [], []
    for conversation in conversations:
        messages = list(conversation)
        over = length(messages) - budget
        if over <= 0:
            fitted.append(messages)
            truncated.append(False)
            continue
        head = messages[:1] if messages and messages[0]["role"] == "system" else []
        turns = messages[len(head) :]
        while len(turns) > 2 and over > 0:
            turns = turns[2:]
            over = length(head + turns) - budget
        for i in range(len(turns)):
            while over > 0 and turns[i]["content"]:
                ids = tokenizer(turns[i]["content"], add_special_tokens=False).input_ids
                text = tokenizer.decode(ids[over:]) if over < len(ids) else ""
                content = turns[i]["content"]
                turns[i] = {**turns[i], "content": text if len(text) < len(content) else ""}
                over = length(head + turns) - budget
        if over > 0:
            raise CharbenchError(
                f"the system prompt alone is longer than max_model_len {limit} - max_new_tokens {max_new_tokens}: "
                "lower max_new_tokens or raise CHARBENCH_MAX_MODEL_LEN"
            )
        fitted.append(head + turns)
        truncated.append(True)
    return fitted, truncated


def generate_replies(
    model: str,
    conversations: Sequence[Messages],
    sampling: Sampling,
    keys: Sequence[str],
    progress: str | None = None,
    engine: str | None = None,
) -> list[Completion]:
    """One reply per conversation; `keys` name the rows, and a row's randomness comes from its key.

    Conversations must fit the context: callers pass them through `fit_conversations` first.
    """
    require_single_process()
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
    chunk: int = TRANSFORMERS_CHUNK,
    label: str = "generating",
) -> dict[str, dict]:
    """Generate the rows whose `key` is not yet in `path`, appending as chunks finish; return all rows by key.

    Transformers works in chunks of `chunk` rows, each appended when done, so a stopped run loses at most
    one chunk. vLLM gets every remaining row in one call: its scheduler batches far better than our chunks,
    and a stage takes minutes there. Each row records the engine that wrote it (a resumed run may have used
    another) and whether its prompt was truncated to fit the context.
    """
    require_single_process()
    engine = choose_engine()
    done = {row["key"]: row for _, row in read_jsonl(path, missing_ok=True)}
    todo = [i for i, key in enumerate(keys) if key not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    step = max(len(todo), 1) if engine == "vllm" else chunk
    for start in range(0, len(todo), step):
        part = todo[start : start + step]
        fitted, truncated = fit_conversations(model, [conversations[i] for i in part], sampling.max_new_tokens)
        replies = generate_replies(
            model,
            fitted,
            sampling,
            [keys[i] for i in part],
            progress=f"{label} {start + len(part)}/{len(todo)}",
            engine=engine,
        )
        with path.open("a", encoding="utf-8") as handle:
            for i, reply, cut in zip(part, replies, truncated):
                row = {"key": keys[i], "engine": engine, "truncated": cut, **make_row(keys[i], reply)}
                done[keys[i]] = row
                handle.write(json.dumps(row) + "\n")
    return done


def truncated_count(rows: dict[str, dict], keys: Sequence[str]) -> int:
    """How many of `keys`' prompts were truncated (rows from before truncation was recorded count as not)."""
    return sum(1 for key in keys if rows[key].get("truncated"))
