"""Generation speed of charbench's own code paths on the embedded model.

    .venv/bin/python perf/generation.py                    # both tables
    .venv/bin/python perf/generation.py --only provider    # the Inspect provider: batched vs one at a time
    .venv/bin/python perf/generation.py --only engines     # transformers vs vLLM (needs `make vllm`)
    .venv/bin/python perf/generation.py --only engines --compiled   # adds vLLM with torch.compile (~75 s start)

Provider table: through Inspect's `get_model` and the `charbench/` provider, as every eval runs, with
the reference sampling. Engine table: `generate_chat` (transformers) and `Engine.generate` (vLLM),
the two engines of the trainers' backend, greedy (as in issue #10's measurements); start-up = load
and a first two-token generation. Tokens are those actually generated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.prompts import load_prompts  # noqa: E402


async def _timed(model, prompts: list[str], tokens: int, concurrent: bool) -> tuple[float, int]:
    from inspect_ai.model import GenerateConfig

    config = GenerateConfig(max_tokens=tokens)
    start = time.perf_counter()
    if concurrent:
        outputs = await asyncio.gather(*(model.generate(p, config=config) for p in prompts))
    else:
        outputs = [await model.generate(p, config=config) for p in prompts]
    return time.perf_counter() - start, sum(o.usage.output_tokens for o in outputs)


async def provider_table(model_name: str, prompts: list[str], tokens: int) -> None:
    from inspect_ai.model import GenerateConfig, get_model

    start = time.perf_counter()
    model = get_model(model_name, memoize=False, batch_size=len(prompts))
    await model.generate("warm-up", config=GenerateConfig(max_tokens=2, cache=False))
    load = time.perf_counter() - start
    rows = []
    for label, concurrent in ((f"batched ({len(prompts)} at once)", True), ("one at a time", False)):
        elapsed, generated = await _timed(model, prompts, tokens, concurrent)
        rows.append((label, generated, elapsed, generated / elapsed))
    print(f"provider {model_name}; load + warm-up {load:.1f}s")
    print(f"| {'mode':<22} | {'tokens':>6} | {'seconds':>7} | {'tokens/s':>8} |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 9}|{'-' * 10}|")
    for label, generated, elapsed, rate in rows:
        print(f"| {label:<22} | {generated:>6} | {elapsed:>7.1f} | {rate:>8.1f} |")
    print(f"speed-up from batching: {rows[0][3] / rows[1][3]:.1f}x")
    print("One-at-a-time includes the provider's 0.3 s batching wait per request.\n")


def engine_rows(prompts: list[str], tokens: int, compiled: bool):
    """(label, start-up s, tokens, seconds) per engine setting, each loaded fresh."""
    from bench.models import loader
    from bench.models.generation import Sampling, generate_chat
    from bench.models.loader import load_causal_lm, resolve_source
    from bench.models.vllm_engine import Engine, vllm_installed

    source = resolve_source("smollm2-135m")
    convs = [[{"role": "user", "content": p}] for p in prompts]
    greedy, warm = Sampling(temperature=0.0, max_new_tokens=tokens), Sampling(temperature=0.0, max_new_tokens=2)
    for dtype in ("float32", "bfloat16"):
        loader._models.clear()  # a fresh load: the provider table may have loaded these weights already
        start = time.perf_counter()
        loaded = load_causal_lm(source, dtype=dtype)
        generate_chat(loaded, convs[:1], warm)
        startup = time.perf_counter() - start
        start = time.perf_counter()
        out = generate_chat(loaded, convs, greedy, batch_size=len(convs))
        yield f"transformers batched, {dtype}", startup, sum(o.output_tokens for o in out), time.perf_counter() - start
    if not vllm_installed():
        print("vLLM is not installed (make vllm): its rows are left out")
        return
    settings = [("float32", True), ("bfloat16", True)] + ([("bfloat16", False)] if compiled else [])
    for dtype, eager in settings:
        start = time.perf_counter()
        engine = Engine.get(source, dtype=dtype, eager=eager)
        engine.generate(convs[:1], warm, ["warm"])
        startup = time.perf_counter() - start
        start = time.perf_counter()
        out = engine.generate(convs, greedy, [str(i) for i in range(len(convs))])
        elapsed = time.perf_counter() - start
        Engine.shutdown()
        mode = "eager" if eager else "compiled"
        yield f"vLLM, {dtype}, {mode}", startup, sum(o.output_tokens for o in out), elapsed


def engines_table(prompts: list[str], tokens: int, compiled: bool) -> None:
    print(f"engines: {len(prompts)} chat prompts in one batch, {tokens} new tokens max, greedy")
    print(f"| {'engine':<30} | {'start-up s':>10} | {'tokens':>6} | {'tokens/s':>8} |")
    print(f"|{'-' * 32}|{'-' * 12}|{'-' * 8}|{'-' * 10}|")
    for label, startup, generated, elapsed in engine_rows(prompts, tokens, compiled):
        print(f"| {label:<30} | {startup:>10.1f} | {generated:>6} | {generated / elapsed:>8.1f} |", flush=True)
    print("start-up: load (vLLM: engine start, first import included) and a 2-token generation.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="charbench/smollm2-135m", help="provider table: model to time")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--only", choices=("provider", "engines"), help="one table only")
    parser.add_argument("--compiled", action="store_true", help="engines: add vLLM bf16 with torch.compile")
    args = parser.parse_args()
    prompts = [p.text for p in load_prompts("general")[: args.prompts]]
    print(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), embedded model\n")
    if args.only in (None, "provider"):
        asyncio.run(provider_table(args.model, prompts, args.tokens))
    if args.only in (None, "engines"):
        engines_table(prompts, args.tokens, args.compiled)


if __name__ == "__main__":
    main()
