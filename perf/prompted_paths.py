"""The workload that matters: a prompted persona in the revealed-prefs tournament, through every path.

    .venv/bin/python perf/prompted_paths.py [--n 48] [--tokens 128] [--paths all]   # needs make vllm

Every path runs the same Inspect eval: `bench/revealed_prefs` (constitution + matchup prompt,
reference sampling: temperature 0.7, top_p 0.95, repetition penalty 1.1, seed 0), scoring off, in one
process, one path after another. Start-up is the wall time of a first one-matchup eval (model load,
engine or server start, one reply); tokens/s is output tokens over the wall time of the n-matchup eval
that follows on the warm model. The steered path needs a vector: one is extracted first (not timed).

Prints a Markdown table and the projected wall time of the reference's workload (25,000 matchups of
~400 tokens each per model) at each measured rate, on this machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REFERENCE_MATCHUPS = 25_000
REFERENCE_TOKENS = 400


def paths(model_dir: str, vector: str | None) -> dict[str, tuple[str, dict]]:
    prompted = "charbench/prompt/poeticism/smollm2-135m"
    table = {
        "vLLM server fp32": (
            f"charbench/prompt/poeticism/vllm/{model_dir}",
            {"host": "127.0.0.1", "dtype": "float32", "enforce_eager": True, "max_model_len": 2048},
        ),
        "transformers fp32": (prompted, {"engine": "transformers", "dtype": "float32"}),
        "transformers bf16": (prompted, {"engine": "transformers", "dtype": "bfloat16"}),
        "vLLM engine fp32": (prompted, {"engine": "vllm", "dtype": "float32"}),
        "vLLM engine bf16": (prompted, {"engine": "vllm", "dtype": "bfloat16"}),
    }
    if vector:
        table["steered fp32 (transformers)"] = (f"charbench/steer/0.1/{vector}", {"dtype": "float32"})
    return table


def cpu_name() -> str:
    from bench.models.hardware import cpu_class

    name = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, {cpu_class()}"


def run_path(name: str, args: dict, n: int, tokens: int, log_dir: str) -> dict:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    from bench.revealed_prefs.revealed_prefs import revealed_prefs

    with get_model(name, memoize=False, **args) as model:
        start = time.perf_counter()
        [warm] = inspect_eval(
            revealed_prefs(n=1, max_tokens=tokens, seed=1), model=model, score=False, log_dir=log_dir, display="none"
        )
        startup = time.perf_counter() - start
        if warm.status != "success":
            raise RuntimeError(str(warm.error.message if warm.error else warm.status)[:200])
        start = time.perf_counter()
        [log] = inspect_eval(
            revealed_prefs(n=n, max_tokens=tokens), model=model, score=False, log_dir=log_dir, display="none"
        )
        wall = time.perf_counter() - start
    if log.status != "success":
        raise RuntimeError(str(log.error.message if log.error else log.status)[:200])
    out = sum(s.output.usage.output_tokens for s in log.samples if s.output.usage)
    return {"startup": startup, "tokens": out, "seconds": wall, "rate": out / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="matchups per path (default 48)")
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per reply (default 128)")
    parser.add_argument("--paths", default="all", help="comma-separated labels, or all")
    args = parser.parse_args()
    # Inspect starts `vllm serve` from PATH: the venv's
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    from bench.models.loader import resolve_source
    from bench.models.vllm_engine import Engine

    model_dir = resolve_source("smollm2-135m")
    wanted = None if args.paths == "all" else set(args.paths.split(","))
    vector = None
    if wanted is None or any(w.startswith("steered") for w in wanted):
        from trainers.steering import extract

        vector = str(extract("poeticism", "smollm2-135m").save(Path(tempfile.mkdtemp()) / "poeticism.safetensors"))
    rows = {}
    with tempfile.TemporaryDirectory() as log_dir:
        for label, (name, model_args) in paths(model_dir, vector).items():
            if wanted is not None and label not in wanted:
                continue
            print(f"... {label}", file=sys.stderr, flush=True)
            try:
                rows[label] = run_path(name, model_args, args.n, args.tokens, log_dir)
            except Exception as err:  # a path that cannot run here is reported, not hidden
                rows[label] = {"error": f"{type(err).__name__}: {err}"}
            Engine.shutdown()
            from bench.models.loader import release_all

            release_all()
    print(f"CPU: {cpu_name()}")
    print(
        f"workload: {args.n} prompted revealed-prefs matchups (poeticism constitution), {args.tokens} new tokens max, "
        "reference sampling, scoring off; one process, paths in turn"
    )
    print("| path | start-up s | tokens | seconds | tokens/s | reference workload, hours |")
    print("|---|---|---|---|---|---|")
    for label, row in rows.items():
        if "error" in row:
            print(f"| {label} | failed: {row['error'][:120]} | | | | |")
            continue
        hours = REFERENCE_MATCHUPS * REFERENCE_TOKENS / row["rate"] / 3600
        cells = [f"{row['startup']:.1f}", str(row["tokens"]), f"{row['seconds']:.1f}", f"{row['rate']:.1f}"]
        print(f"| {label} | {' | '.join(cells)} | {hours:.0f} |")


if __name__ == "__main__":
    main()
