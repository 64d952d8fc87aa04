"""Tokens/s of the embedded model through the charbench provider: a batch of 16 vs one at a time.

    .venv/bin/python perf/generation.py [--model charbench/smollm2-135m] [--tokens 64] [--prompts 16]

Runs through Inspect's `get_model` and the `charbench/` provider, as every eval does. Sampling uses
the reference defaults; the figures count the tokens actually generated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from inspect_ai.model import GenerateConfig, get_model  # noqa: E402

from bench.prompts import load_prompts  # noqa: E402


async def timed(model, prompts: list[str], tokens: int, concurrent: bool) -> tuple[float, int]:
    config = GenerateConfig(max_tokens=tokens)
    start = time.perf_counter()
    if concurrent:
        outputs = await asyncio.gather(*(model.generate(p, config=config) for p in prompts))
    else:
        outputs = [await model.generate(p, config=config) for p in prompts]
    elapsed = time.perf_counter() - start
    return elapsed, sum(o.usage.output_tokens for o in outputs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="charbench/smollm2-135m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    prompts = [p.text for p in load_prompts("general")[: args.prompts]]
    start = time.perf_counter()
    model = get_model(args.model, memoize=False, batch_size=args.prompts)
    await model.generate("warm-up", config=GenerateConfig(max_tokens=2, cache=False))
    load = time.perf_counter() - start
    rows = []
    for label, concurrent in (("batched (16 at once)", True), ("one at a time", False)):
        elapsed, tokens = await timed(model, prompts, args.tokens, concurrent)
        rows.append((label, tokens, elapsed, tokens / elapsed))
    print(
        f"model {args.model}, {args.prompts} prompts, {args.tokens} new tokens max, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); load + warm-up {load:.1f}s"
    )
    print(f"| {'mode':<22} | {'tokens':>6} | {'seconds':>7} | {'tokens/s':>8} |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 9}|{'-' * 10}|")
    for label, tokens, elapsed, rate in rows:
        print(f"| {label:<22} | {tokens:>6} | {elapsed:>7.1f} | {rate:>8.1f} |")
    print(f"speed-up from batching: {rows[0][3] / rows[1][3]:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
