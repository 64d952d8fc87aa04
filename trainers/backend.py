"""The one generation backend for trainer and classifier data: vLLM when installed with a GPU,
transformers batched generation otherwise, with the same sampling settings and seed either way.

Rows are written to jsonl as they are produced and skipped on a re-run, so long generations resume.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.models.generation import Completion, Messages, Sampling, generate_chat
from charbench.jsonl import read_jsonl


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def generate_replies(
    model: str, conversations: Sequence[Messages], sampling: Sampling, progress: str | None = None
) -> list[Completion]:
    if vllm_available():
        return _vllm_generate(model, conversations, sampling)
    from bench.models.loader import load_causal_lm

    return generate_chat(load_causal_lm(model), conversations, sampling, progress=progress)


_engines: dict[str, object] = {}


def _vllm_generate(model: str, conversations: Sequence[Messages], sampling: Sampling) -> list[Completion]:
    """Offline `LLM.chat`; a LoRA adapter directory is served through `LoRARequest` on its base."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    from bench.models.loader import _adapter_base, resolve_source

    source = resolve_source(model)
    base = _adapter_base(source)
    engine_source = resolve_source(base) if base else source
    if engine_source not in _engines:
        _engines[engine_source] = LLM(
            model=engine_source, enable_lora=base is not None, max_lora_rank=64, seed=sampling.seed
        )
    llm = _engines[engine_source]
    params = SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        repetition_penalty=sampling.repetition_penalty,
        max_tokens=sampling.max_new_tokens,
        seed=sampling.seed,
        stop=list(sampling.stop) or None,
    )
    lora = LoRARequest("adapter", 1, source) if base else None
    outputs = llm.chat([list(c) for c in conversations], params, lora_request=lora, use_tqdm=True)
    return [
        Completion(
            text=o.outputs[0].text.strip(),
            input_tokens=len(o.prompt_token_ids),
            output_tokens=len(o.outputs[0].token_ids),
            stop_reason="max_tokens" if o.outputs[0].finish_reason == "length" else "stop",
        )
        for o in outputs
    ]


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
    """Generate the rows whose `key` is not yet in `path`, appending as chunks finish; return all rows by key."""
    done = {row["key"]: row for _, row in read_jsonl(path, missing_ok=True)}
    todo = [i for i, key in enumerate(keys) if key not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        replies = generate_replies(
            model, [conversations[i] for i in part], sampling, progress=f"{label} {start + len(part)}/{len(todo)}"
        )
        with path.open("a", encoding="utf-8") as handle:
            for i, reply in zip(part, replies):
                row = {"key": keys[i], **make_row(keys[i], reply)}
                done[keys[i]] = row
                handle.write(json.dumps(row) + "\n")
    return done
