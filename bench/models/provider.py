"""The `charbench/...` Inspect model provider: base, prompted, steered and fine-tuned models.

All four methods load through `bench.models.loader` and generate through
`bench.models.generation.generate_chat`, with the same sampling defaults and seed, so a difference in
scores is a difference in the method, not in the plumbing. Weights load lazily on the first
`generate`, so Inspect's extra model-info instance never loads them (INSPECT_NOTES.md).

A base or prompted model whose base is another Inspect model (`charbench/prompt/loving/vllm//dir`,
`.../openai-api/...`) is delegated: that model is made once through `get_model` with the `-M` args,
and gets the conversation with the constitution prepended by the same template (`with_constitution`),
so a prompted persona runs on a vLLM server (continuous batching, prefix caching) or an API model.

Seeding: every reply's randomness comes from the generate config's `seed`, which charbench's tasks set
per sample to `sample_seed(run seed, sample id, epoch, turn...)` (`bench.seeding`; Inspect does not
pass sample ids to a model). Our engines seed that one row with it (transformers: a generator of the
row's own, `generation.RowSampler`; vLLM: `SamplingParams(seed=...)`), so a reply does not depend on
which requests shared its batch; a delegate gets the same seed in its request. A call without a seed
(another package's task) is seeded `sample_seed(-M seed, sample id, epoch)` from the sample running
it. Each reply's metadata records the seed it used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Hashable
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from bench.models import hardware
from bench.models.batcher import Batcher
from bench.models.generation import (
    DEFAULTS,
    Completion,
    Messages,
    Sampling,
    generate_chat,
    sample_seed,
    server_extra_body,
)
from bench.models.loader import LoadedModel, load_causal_lm
from bench.models.specs import MethodSpec, ModelSpecError, inspect_delegate, own_base, parse_model_name
from personas.prompting import with_constitution

DEFAULT_MAX_TOKENS = 1024


# perf/batch_invariance.py on a 2-core native-bf16 CPU (bench/models/README.md, Reproducibility): 32
# prompts x 32 sampled tokens, the same row seeds, batch 1 vs batches of 8 and 32
BATCH_INVARIANCE = "32 of 32 replies identical at batch 1, 8 and 32 in fp32; 9 and 7 of 32 in bf16"


def provider_dtype(device: str) -> tuple[str, str]:
    """(dtype, reason) for `-M dtype=auto`: fp32 on every CPU, `hardware.auto_dtype` on a GPU.

    In bf16 a row's logits change with its batch's shape (the CPU kernels are chosen by matrix size),
    enough to fork most sampled replies, and which requests share a batch depends on timing; in fp32
    the change stays below what moves a sampled token. On that CPU fp32 was also the faster batched
    path for the transformers engine (15 s vs 41 s at batch 32, the same script). The trainers keep
    `auto`: their batches are fixed by their rows, not by timing.
    """
    if device.startswith("cuda"):
        return hardware.auto_dtype(device), hardware.dtype_reason(device)
    return "float32", f"CPU: fp32, so a reply does not depend on its batch ({BATCH_INVARIANCE})"


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")


class CharbenchAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        self.spec = parse_model_name(model_name)
        self._persona = None
        if self.spec.method == "prompt":
            from personas import load_persona

            self._persona = load_persona(self.spec.persona or "")  # fails at start-up, not after a batch
        self.repetition_penalty = float(model_args.pop("repetition_penalty", DEFAULTS.repetition_penalty))
        self.delegate = None
        delegate = inspect_delegate(self.spec.base) if self.spec.method in ("base", "prompt") else None
        if delegate is not None:
            # Every other -M arg belongs to the delegate (host, port, dtype, max_model_len for vLLM).
            self.delegate = get_model(
                delegate, config=config, base_url=base_url, api_key=api_key, memoize=False, **model_args
            )
            return
        self.spec = MethodSpec(**{**self.spec.__dict__, "base": own_base(self.spec.base)})
        self.seed = int(model_args.pop("seed", DEFAULTS.seed))
        self.engine, self.engine_reason = hardware.provider_engine(model_args.pop("engine", None), self.spec.method)
        if self.engine == "vllm":
            # transformers resolves its names lazily and not thread-safely: the engine starts in a batch's
            # worker thread, beside other models' threads, so resolve what its start reads here, once
            from transformers import AutoConfig, AutoTokenizer  # noqa: F401
        self.device = model_args.pop("device", None)
        device = str(self.device or ("cuda" if hardware.on_gpu() else "cpu"))
        self.dtype = str(model_args.pop("dtype", "auto"))
        self.dtype_reason = "asked for"
        if self.dtype == "auto":
            self.dtype, self.dtype_reason = provider_dtype(device)
        # Batches that fill the device: vLLM schedules its own (continuous batching), so it gets many.
        default_batch = 256 if self.engine == "vllm" else 64 if device.startswith("cuda") else 16
        self.batch_size = int(model_args.pop("batch_size", default_batch))
        self.trust_remote_code = _as_bool(model_args.pop("trust_remote_code", False))
        if model_args:
            known = "repetition_penalty, seed, engine, batch_size, dtype, device, trust_remote_code"
            raise ModelSpecError(f"unknown model args for charbench/: {', '.join(model_args)} (known: {known})")
        self._steering = None
        if self.spec.method == "steer":
            from bench.models.steering import SteeringVector

            self._steering = SteeringVector.load(self.spec.vector or "")
            self.spec = MethodSpec(**{**self.spec.__dict__, "base": self._steering.base_model})
        self._loaded: LoadedModel | None = None
        self._batcher = Batcher(self._run_batch, self.batch_size)

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_causal_lm(
                self.spec.base, dtype=self.dtype, device=self.device, trust_remote_code=self.trust_remote_code
            )
            if self._steering is not None:
                self._steering.check_compatible(self._loaded)
        return self._loaded

    def intervention(self) -> Callable[[], Any] | None:
        if self._steering is None:
            return None
        steering, loaded, spec = self._steering, self.loaded, self.spec
        return lambda: steering.applied(loaded.model, coef=spec.coef or 0.0, layers=spec.layers)

    def sampling(self, config: GenerateConfig) -> Sampling:
        return Sampling(
            temperature=DEFAULTS.temperature if config.temperature is None else config.temperature,
            top_p=DEFAULTS.top_p if config.top_p is None else config.top_p,
            top_k=config.top_k,
            repetition_penalty=self.repetition_penalty,
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            seed=self.seed if config.seed is None else config.seed,
            stop=tuple(config.stop_seqs or ()),
        )

    def row_seed(self, config: GenerateConfig) -> int:
        """This reply's seed: the config's (per sample, set by the task), else one from the running sample."""
        if config.seed is not None:
            return int(config.seed)
        from inspect_ai.log._samples import sample_active

        active = sample_active()
        if active is None:
            return self.seed
        return sample_seed(self.seed, active.sample.id if active.sample.id is not None else "", active.epoch)

    def _run_batch(self, key: Hashable, rows: list[tuple[Messages, int]]) -> list[Completion]:
        sampling = key
        assert isinstance(sampling, Sampling)
        conversations, seeds = [r[0] for r in rows], [r[1] for r in rows]
        if self.engine == "vllm":
            return self._run_vllm(conversations, sampling, seeds)
        return generate_chat(
            self.loaded,
            conversations,
            sampling,
            batch_size=len(conversations),
            intervention=self.intervention(),
            seeds=seeds,
        )

    def _run_vllm(self, conversations: list[Messages], sampling: Sampling, seeds: list[int]) -> list[Completion]:
        """The in-process vLLM engine; each request seeded with its own row seed (`SamplingParams.seed`)."""
        from bench.models.generation import _GENERATION_LOCK
        from bench.models.vllm_engine import vllm_generate

        with _GENERATION_LOCK:  # one engine per process: no other model may swap it out mid-call
            return vllm_generate(self.spec.base, conversations, sampling, dtype=self.dtype, seeds=seeds)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if self.delegate is not None:
            return await self._delegated(input, tools, tool_choice, config)
        messages = [{"role": m.role, "content": m.text} for m in input]
        if self._persona is not None:  # the prompted method
            messages = with_constitution(self._persona, messages)
        start = time.monotonic()
        seed = self.row_seed(config)
        # rows with different seeds share a batch: the batch key is the sampling without the seed
        batch_key = dataclasses.replace(self.sampling(config), seed=self.seed)
        completion: Completion = await self._batcher.submit(batch_key, (messages, seed))
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content=completion.text, model=self.model_name, source="generate"),
                    stop_reason="stop" if completion.stop_reason == "stop" else "max_tokens",
                )
            ],
            usage=ModelUsage(
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                total_tokens=completion.input_tokens + completion.output_tokens,
            ),
            time=time.monotonic() - start,
            metadata={
                "method": self.spec.label,
                "base": self.spec.base,
                "seed": seed,
                "engine": self.engine,
                "engine_reason": self.engine_reason,
                "dtype": self.dtype,
                "dtype_reason": self.dtype_reason,
            },
        )

    async def _delegated(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput | tuple[ModelOutput | Exception, Any]:
        """The delegate's own API call, with the constitution as first system message.

        The delegate's API is called directly (not its `Model.generate`): the outer `Model` already
        retries, caches and logs this call under the charbench name; doing it twice would log every
        generation under two models.
        """
        assert self.delegate is not None
        if self._persona is not None:
            flat = with_constitution(self._persona, [{"role": m.role, "content": m.text} for m in input])
            rest = [m for m in input if m.role != "system"]
            input = [ChatMessageSystem(content=flat[0]["content"]), *rest]
        # the repetition penalty (-M, default the reference's), for servers that read it from the body
        if config.extra_body is None and server_extra_body(self.delegate.api.qualified_model_name or ""):
            config = config.merge(GenerateConfig(extra_body={"repetition_penalty": self.repetition_penalty}))
        result = await self.delegate.api.generate(input, tools, tool_choice, config)
        output = result[0] if isinstance(result, tuple) else result
        if isinstance(output, ModelOutput):
            output.metadata = {
                **(output.metadata or {}),
                "method": self.spec.label,
                "base": self.spec.base,
                "persona": self.spec.persona,
                "delegate": self.spec.base,
            }
        return result

    def max_tokens(self) -> int | None:
        return self.delegate.api.max_tokens() if self.delegate is not None else DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        return self.delegate.api.max_connections() if self.delegate is not None else self.batch_size

    def connection_key(self) -> str:
        return self.delegate.api.connection_key() if self.delegate is not None else super().connection_key()

    def should_retry(self, ex: BaseException) -> Any:
        return self.delegate.api.should_retry(ex) if self.delegate is not None else super().should_retry(ex)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loaded = None
        if self.delegate is not None:
            self.delegate.api.close()
