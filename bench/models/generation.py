"""Batched chat generation with transformers: the one generation path of every method on CPU.

The provider (Inspect), the steering calibration, the classifier's data and the trainers' data all
call `generate_chat`, so a persona method can never be sampled differently from another. Sampling
defaults are the reference's (temperature 0.7, top_p 0.95, repetition penalty 1.1).

Randomness: a caller that has row keys (the trainers' and the classifier's data) passes them, and
each batch is seeded from the run seed and the keys of the rows in it (`keyed_batch_seed`), so two
samples of one prompt differ and a re-run of the same rows reproduces (a row still shares its batch's
random stream, so a resumed run that batches the remaining rows differently draws other samples for
them; vLLM seeds each request alone and has no such caveat). Without keys (the Inspect
provider, whose API does not see sample ids) a batch is seeded from its own prompts, so the same
prompts give the same text whatever ran before them (a steered model at coefficient 0 reproduces the
base exactly).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.models.loader import LoadedModel

if TYPE_CHECKING:
    from inspect_ai.model import GenerateConfig

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Generation settings shared by every method (reference defaults)."""

    temperature: float = 0.7
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    max_new_tokens: int = 1024
    top_k: int | None = None
    seed: int = 0
    stop: tuple[str, ...] = field(default=())

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


DEFAULTS = Sampling()


def reference_generate_config(max_tokens: int, seed: int) -> GenerateConfig:
    """The reference sampling as an Inspect `GenerateConfig`, for the tasks' own config.

    The `charbench/` provider fills unset values from `Sampling()` anyway; a `vllm/` or API model would
    otherwise be sampled with its server's defaults (vLLM: temperature 1.0, top_p 1.0). The repetition
    penalty is not an Inspect setting: see `server_extra_body`.
    """
    from inspect_ai.model import GenerateConfig

    return GenerateConfig(temperature=DEFAULTS.temperature, top_p=DEFAULTS.top_p, max_tokens=max_tokens, seed=seed)


def server_extra_body(model: str) -> dict[str, float] | None:
    """The reference repetition penalty for a server that reads it from the request body (vLLM's).

    Not put in the tasks' config: OpenAI's own API rejects unknown body fields. The `charbench/`
    provider takes it from `-M repetition_penalty` instead.
    """
    if model.startswith("charbench/"):
        from bench.models.specs import inspect_delegate, parse_model_name

        spec = parse_model_name(model.removeprefix("charbench/"))
        model = (inspect_delegate(spec.base) or "") if spec.method in ("base", "prompt") else ""
    if model.startswith(("vllm/", "sglang/")):
        return {"repetition_penalty": DEFAULTS.repetition_penalty}
    return None


@dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # "stop" (end of turn) or "max_tokens" (truncated)


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """The chat-template text that starts the assistant's turn.

    A conversation that ends with an assistant message is a prefill: the model continues that text.
    """
    if messages and messages[-1]["role"] == "assistant":
        head = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        return head + messages[-1]["content"]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def batch_seed(seed: int, prompts: Sequence[str]) -> int:
    """The keyless seed (provider): from the batch's prompts. Identical batches repeat: give keys."""
    digest = hashlib.sha256(("\x00".join(prompts) + f"\x01{seed}").encode()).digest()
    return int.from_bytes(digest[:4], "little")


def row_seed(seed: int, key: str) -> int:
    """A generated row's own seed, from (run seed, row key) only: never the prompt or its position.

    31 bits, so it fits every engine's seed type (vLLM's `SamplingParams.seed`, torch's generator).
    """
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def keyed_batch_seed(seed: int, keys: Sequence[str]) -> int:
    """The seed of a transformers batch: from the keys of its rows (order-free), so re-runs reproduce."""
    return row_seed(seed, "\x00".join(sorted(keys)))


_GENERATION_LOCK = threading.Lock()


def _generate_batch(
    loaded: LoadedModel,
    prompts: list[str],
    sampling: Sampling,
    intervention: Callable[[], Any] | None,
    keys: list[str] | None = None,
) -> list[Completion]:
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    kwargs: dict[str, Any] = dict(
        max_new_tokens=sampling.max_new_tokens,
        repetition_penalty=sampling.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
    )
    if sampling.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        kwargs["top_k"] = sampling.top_k if sampling.top_k is not None else 0
    if sampling.stop:
        kwargs.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
    # One generation at a time per process: the seed is torch's global RNG, and a steered model's hooks
    # sit on weights it shares with the base and prompted models of the same base (a coherence
    # baseline or a multiturn prefill runs in the same eval, from another thread).
    with _GENERATION_LOCK:
        torch.manual_seed(batch_seed(sampling.seed, prompts) if keys is None else keyed_batch_seed(sampling.seed, keys))
        with torch.inference_mode(), intervention() if intervention else contextlib.nullcontext():
            sequences = model.generate(**inputs, **kwargs)
    new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
    eos_ids = _eos_ids(loaded)
    completions = []
    for row, attention in zip(new_tokens.tolist(), inputs["attention_mask"]):
        ended = next((i for i, tok in enumerate(row) if tok in eos_ids), None)
        kept = row if ended is None else row[:ended]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        stopped = ended is not None or any(s in text for s in sampling.stop)
        completions.append(
            Completion(
                text=text.strip(),
                input_tokens=int(attention.sum()),
                output_tokens=len(kept),
                stop_reason="stop" if stopped else "max_tokens",
            )
        )
    return completions


def _eos_ids(loaded: LoadedModel) -> set[int]:
    ids = {loaded.tokenizer.eos_token_id, loaded.tokenizer.pad_token_id}
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}


def generate_chat(
    loaded: LoadedModel,
    conversations: Sequence[Messages],
    sampling: Sampling = Sampling(),
    *,
    batch_size: int = 16,
    intervention: Callable[[], Any] | None = None,
    progress: str | None = None,
    keys: Sequence[str] | None = None,
) -> list[Completion]:
    """Generate one assistant reply per conversation, in batches of similar length.

    `intervention` is a context-manager factory entered around each `generate` call (steering hooks).
    `progress` is a label for a tqdm bar; None keeps quiet. `keys` (one per conversation, unique) seed
    each batch from its rows' keys instead of its prompts: see the module docstring.
    """
    if keys is not None and len(keys) != len(conversations):
        raise ValueError(f"{len(keys)} keys for {len(conversations)} conversations")
    prompts = [render_chat(loaded.tokenizer, list(c)) for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Completion | None] = [None] * len(prompts)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts), desc=progress, unit="reply")
    for batch in batches:
        outputs = _generate_batch(
            loaded,
            [prompts[i] for i in batch],
            sampling,
            intervention,
            None if keys is None else [keys[i] for i in batch],
        )
        for i, out in zip(batch, outputs):
            results[i] = out
        if progress:
            bar.update(len(batch))
    if progress:
        bar.close()
    return [r for r in results if r is not None]
