"""What the machine can do fast: the dtype and the engine `auto` means, with the reason recorded.

bf16 halves memory traffic, but on a CPU it is only faster where the CPU computes in bf16 natively
(AVX-512 BF16 or AMX): measured on an AVX-512 machine bf16 was 1.3x (transformers) to 1.5x (vLLM)
faster than fp32, and on an AVX2 machine 2-4x slower (perf/README.md). So `auto` reads the CPU's
flags instead of assuming. The engine for the `charbench/` provider follows `perf/prompted_paths.py`
per CPU class (`CPU_ENGINE`); a GPU always gets vLLM when it is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from charbench.errors import CharbenchError

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
ENGINES = ("auto", "transformers", "vllm")

# The faster engine for the prompted revealed-prefs workload per CPU class, once started
# (perf/README.md). "native-bf16": issue 19's AVX-512 machine, vLLM bf16 192 tokens/s vs transformers fp32
# 80. "no-native-bf16": perf/prompted_paths.py on this repository's 2-core AVX2 machine, vLLM fp32
# 24.8-27.9 tokens/s vs transformers fp32 15.6-19.5 (three runs), after a ~61-77 s start instead of ~10 s.
CPU_ENGINE = {
    "native-bf16": (
        "vllm",
        "vLLM bf16 2.4x transformers fp32 on an AVX-512 BF16 CPU (perf/README.md; measured in bf16, "
        "before the provider's CPU dtype became fp32: bench/models/README.md, Reproducibility)",
    ),
    "no-native-bf16": ("vllm", "vLLM fp32 1.4-1.6x transformers fp32 on an AVX2 CPU, after a 1-minute start"),
}


# Observed building the committed example (experiments/README.md) on a 2-core native-bf16 CPU: vLLM's
# CPU backend served a batch of 36 LoRA-adapter requests at 3 generated tokens/s, where the transformers
# engine (fp32, batched) runs the same model at about 60 (bench/models/README.md, Reproducibility:
# 1,027 tokens in 15 s). That engine padded the rank-16 adapter to rank 64; sized to the adapter
# (`vllm_engine.lora_rank`), 16 prompts x 16 tokens through a rank-8 adapter took 5.4 s on vLLM and 4.5 s
# on transformers (same CPU, one script): transformers stays the CPU's LoRA engine.
CPU_LORA = "CPU: LoRA adapters run on transformers (vLLM's CPU LoRA path served 3 tokens/s in the example run)"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_class() -> str:
    return "native-bf16" if any(f in cpu_flags() for f in NATIVE_BF16_FLAGS) else "no-native-bf16"


def auto_dtype(device: str) -> str:
    """What `dtype='auto'` means everywhere (both engines): bf16 on a GPU or a native-bf16 CPU, else fp32."""
    if device.startswith("cuda"):
        return "bfloat16"
    return "bfloat16" if cpu_class() == "native-bf16" else "float32"


def dtype_reason(device: str) -> str:
    if device.startswith("cuda"):
        return "GPU: bf16"
    if cpu_class() == "native-bf16":
        return "CPU with native bf16 (avx512_bf16/amx_bf16): bf16"
    return "CPU without native bf16: fp32 (bf16 is emulated there, 2-4x slower)"


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def provider_engine(requested: str | None, method: str) -> tuple[str, str]:
    """(engine, reason) for a `charbench/` model: `-M engine`, else $CHARBENCH_ENGINE, else `auto`.

    Steered models run on transformers whatever is asked: steering hooks exist only there (trainers/README.md,
    steering). `auto`: vLLM on a GPU when installed, else `CPU_ENGINE` for this CPU.
    """
    engine = requested or os.environ.get("CHARBENCH_ENGINE") or "auto"
    if engine not in ENGINES:
        raise CharbenchError(f"engine '{engine}' (-M engine or CHARBENCH_ENGINE): use one of {', '.join(ENGINES)}")
    if method == "steer":
        if engine == "vllm":
            raise CharbenchError(
                "engine vllm: steered models run on transformers only (no exact vLLM steering path); drop -M engine"
            )
        return "transformers", "steering hooks run on transformers only"
    if engine == "vllm" and not vllm_installed():
        raise CharbenchError("engine vllm: vLLM is not installed; `make vllm` (CPU) or pip install 'charbench[gpu]'")
    if engine != "auto":
        return engine, "asked for"
    if not vllm_installed():
        return "transformers", "vLLM is not installed"
    if on_gpu():
        return "vllm", "GPU with vLLM installed"
    if method == "ft":
        return "transformers", CPU_LORA
    choice, why = CPU_ENGINE[cpu_class()]
    return choice, f"{cpu_class()} CPU: {why}"
