"""Batched chat generation with transformers: the one generation path of every method on CPU.

The provider (Inspect), the steering calibration, the classifier's data and the trainers' data all
call `generate_chat`, so a persona method can never be sampled differently from another. Sampling
defaults are the reference's (temperature 0.7, top_p 0.95, repetition penalty 1.1).

Randomness, one rule on every engine: each generated row has its own seed, `row_seed(run seed, row
key)`, and its own random stream from that seed; never the prompt text, its batch position or which
requests shared its batch. The trainers' and the classifier's rows are keyed by their row keys; an
Inspect sample's reply by `sample_key(sample id, epoch, turn...)`, which the tasks' solvers turn into
the generate config's seed (`bench.seeding`), so delegated models whose API takes a seed (vLLM,
SGLang, OpenAI-compatible servers) get the same per-sample seed. Engines take the row seeds as ints:
- transformers (`generate_chat`): a row draws one uniform per new token from a `torch.Generator` of
  its own and samples by inverse CDF of its filtered distribution (`RowSampler`), so a reply does not
  depend on the other rows of its batch. Padding and batch shape still change the logits in the last
  bits; how often that flips a sampled token is measured by `perf/batch_invariance.py`
  (bench/models/README.md, Reproducibility).
- vLLM (`vllm_engine.Engine.generate`): `SamplingParams(seed=row seed)`, a generator per request.
A caller without keys or seeds gets `row_seed(seed, str(index))`: its rows' order in the call.
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


def row_seed(seed: int, key: str) -> int:
    """A generated row's own seed, from (run seed, row key) only: never the prompt or its position.

    31 bits, so it fits every engine's seed type (vLLM's `SamplingParams.seed`, torch's generator,
    OpenAI-compatible servers' `seed`).
    """
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def sample_key(sample_id: int | str, epoch: int, *tags: str | int) -> str:
    """The row key of an Inspect sample's generation: its id, its epoch and what the call is for.

    No tags is the sample's (first) reply; `("turn", 2)` a second assistant turn, `("user", 1)` a
    simulated user message, `("judge",)` a judge's verdict (see `bench.seeding`).
    """
    return "\x00".join(str(part) for part in (sample_id, epoch, *tags))


def sample_seed(seed: int, sample_id: int | str, epoch: int, *tags: str | int) -> int:
    """`row_seed(run seed, sample_key(...))`: the seed of one generation of one sample in one epoch."""
    return row_seed(seed, sample_key(sample_id, epoch, *tags))


def row_seeds(seed: int, n: int, keys: Sequence[str] | None = None, seeds: Sequence[int] | None = None) -> list[int]:
    """Each row's seed: given `seeds`, else `row_seed(seed, key)`, else the row's index in the call as key."""
    if seeds is not None and keys is not None:
        raise ValueError("give keys or seeds, not both")
    if seeds is not None:
        if len(seeds) != n:
            raise ValueError(f"{len(seeds)} seeds for {n} conversations")
        return [int(s) for s in seeds]
    if keys is not None:
        if len(keys) != n:
            raise ValueError(f"{len(keys)} keys for {n} conversations")
        return [row_seed(seed, k) for k in keys]
    return [row_seed(seed, str(i)) for i in range(n)]


_GENERATION_LOCK = threading.Lock()


class RowSampler:
    """Sampling as the last logits processor, one random stream per row: generate runs it greedily.

    Row i's uniforms come from `torch.Generator().manual_seed(seeds[i])`, one per new token, drawn up
    front; at each step the row's token is the first whose cumulative probability (float64, over the
    distribution left by the temperature, top-k and top-p warpers) exceeds its uniform. The returned
    scores keep only that token, so `generate(do_sample=False)` picks it. A row's tokens depend on its
    seed and its own logits only, not on its batch-mates or on torch's global RNG.
    """

    def __init__(self, seeds: Sequence[int], steps: int, device: Any) -> None:
        import torch

        draws = [torch.rand(steps, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in seeds]
        self.uniforms = torch.stack(draws).to(device)
        self.step = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.to(torch.float64), dim=-1)
        cdf = probs.cumsum(dim=-1)
        target = (self.uniforms[:, self.step] * cdf[:, -1]).unsqueeze(1)
        self.step += 1
        token = torch.searchsorted(cdf, target, right=True).clamp_(max=probs.shape[-1] - 1)
        # rounding at the top end can land past the last kept token: take the likeliest one then
        kept = probs.gather(1, token) > 0
        token = torch.where(kept, token, probs.argmax(dim=-1, keepdim=True))
        chosen = torch.full_like(scores, float("-inf"))
        return chosen.scatter_(1, token, 0.0)


def _logits_processors(sampling: Sampling, seeds: Sequence[int], device: Any) -> list[Any]:
    """The reference warpers in transformers' own order (temperature, top-k, top-p), then `RowSampler`."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    processors: list[Any] = []
    if sampling.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_k:
        processors.append(TopKLogitsWarper(top_k=sampling.top_k))
    if sampling.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=sampling.top_p))
    # any (input_ids, scores) callable serves transformers as a logits processor
    processors.append(RowSampler(seeds, sampling.max_new_tokens, device))
    return processors


def _generate_batch(
    loaded: LoadedModel,
    prompts: list[str],
    sampling: Sampling,
    intervention: Callable[[], Any] | None,
    seeds: list[int],
) -> list[Completion]:
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    # Always greedy in transformers' terms: sampling happens in `RowSampler`, the last logits processor.
    # The repetition penalty is one of transformers' own processors and runs before ours.
    kwargs: dict[str, Any] = dict(
        max_new_tokens=sampling.max_new_tokens,
        repetition_penalty=sampling.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        temperature=None,
        top_p=None,
        top_k=None,
    )
    if not sampling.greedy:
        kwargs["logits_processor"] = _logits_processors(sampling, seeds, model.device)
    if sampling.stop:
        kwargs.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
    # One generation at a time per process: a steered model's hooks sit on weights it shares with the
    # base and prompted models of the same base (a coherence baseline or a multiturn prefill runs in the
    # same eval, from another thread).
    with _GENERATION_LOCK:
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
    seeds: Sequence[int] | None = None,
) -> list[Completion]:
    """Generate one assistant reply per conversation, in batches of similar length.

    `intervention` is a context-manager factory entered around each `generate` call (steering hooks).
    `progress` is a label for a tqdm bar; None keeps quiet. Each row samples from its own seed: `seeds`
    (the provider's, from the generate config), else `row_seed(sampling.seed, key)` for `keys` (the
    trainers' row keys), else its index in this call (`row_seeds`; module docstring).
    """
    row_seed_list = row_seeds(sampling.seed, len(conversations), keys, seeds)
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
            [row_seed_list[i] for i in batch],
        )
        for i, out in zip(batch, outputs):
            results[i] = out
        if progress:
            bar.update(len(batch))
    if progress:
        bar.close()
    return [r for r in results if r is not None]
