"""Does a sampled reply depend on which rows shared its batch? Identical replies of N at batch sizes 1, 8, 32.

    .venv/bin/python perf/batch_invariance.py                      # embedded model, fp32 and bf16
    .venv/bin/python perf/batch_invariance.py --n 32 --tokens 32 --dtypes float32
    .venv/bin/python perf/batch_invariance.py --engine vllm       # the in-process vLLM engine (make vllm)

Each of N chat prompts (the bundled general set) is sampled with the reference settings and its own
seed (`row_seed(0, str(i))`, as `generate_chat` does), alone (batch 1) and in batches of 8 and 32
(sorted by length, left-padded, as the provider batches; with `--engine vllm`, requests per
`Engine.generate` call, which vLLM schedules together). The row seeds are the same in every run,
so any difference comes from the logits: padding and batch shape change them in the last bits, and
where that moves a token's cumulative probability across the row's uniform the reply forks.
Printed per dtype and batch size: replies identical to batch 1, and tokens generated before the
first fork (of all tokens generated at batch 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def replies(engine, conversations, tokens: int, batch_size: int) -> tuple[list[list[int]], float]:
    """Token ids of each reply (so a fork is counted where it happens), and the seconds it took.

    `engine` is a `LoadedModel` (transformers) or a `vllm_engine.Engine`."""
    from bench.models.generation import Sampling, generate_chat, row_seeds

    sampling = Sampling(max_new_tokens=tokens)
    seeds = row_seeds(sampling.seed, len(conversations))
    start = time.perf_counter()
    if hasattr(engine, "llm"):
        out = []
        for i in range(0, len(conversations), batch_size):
            out += engine.generate(conversations[i : i + batch_size], sampling, seeds=seeds[i : i + batch_size])
    else:
        out = generate_chat(engine, conversations, sampling, batch_size=batch_size, seeds=seeds)
    elapsed = time.perf_counter() - start
    return [engine.tokenizer(o.text, add_special_tokens=False).input_ids for o in out], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the embedded model")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--engine", choices=("transformers", "vllm"), default="transformers")
    args = parser.parse_args()

    import torch

    from bench.models.loader import embedded_model_dir, load_causal_lm
    from bench.prompts import load_prompts

    model = args.model or str(embedded_model_dir())
    prompts = load_prompts("general")[: args.n]
    conversations = [[{"role": "user", "content": p.text}] for p in prompts]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{model} on {args.engine}: {len(conversations)} prompts x {args.tokens} tokens, reference sampling")
    print("| dtype | batch size | identical replies | tokens before the first fork | seconds |")
    print("|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        if args.engine == "vllm":
            from bench.models.vllm_engine import Engine

            loaded = Engine.get(model, dtype=dtype)
        else:
            loaded = load_causal_lm(model, dtype=dtype)
        reference, _ = replies(loaded, conversations, args.tokens, sizes[0])
        total = sum(len(r) for r in reference)
        for size in sizes:
            got, elapsed = replies(loaded, conversations, args.tokens, size)
            same = sum(a == b for a, b in zip(reference, got))
            kept = sum(shared_prefix(a, b) for a, b in zip(reference, got))
            print(f"| {dtype} | {size} | {same}/{len(got)} | {kept}/{total} | {elapsed:.1f} |")


if __name__ == "__main__":
    main()
