"""Where vLLM's engine core runs on a CPU: in this process (charbench's CPU default) or in a process of
its own (vLLM's default, kept on GPUs).

    .venv/bin/python perf/vllm_core.py --core in-process   # needs `make vllm`
    .venv/bin/python perf/vllm_core.py --core separate

One process per call: start the in-process engine of `bench.models.vllm_engine` on the embedded model
(fp32, eager, LoRA-enabled at rank 8, as tests/test_vllm_engine.py does), generate `--n` chat prompts of
the `general` set greedily to `--tokens` new tokens, twice (the second is the warm figure), and stop the
engine. Prints start-up, the warm generation's seconds and tokens/s, and a digest of the replies, which
must be the same in both modes. Time the two side by side as whole processes to compare them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--core", choices=("in-process", "separate"), default="in-process")
    parser.add_argument("--n", type=int, default=16, help="prompts (default: %(default)s)")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per reply (default: %(default)s)")
    args = parser.parse_args()
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if args.core == "in-process" else "1"

    from bench.models.generation import Sampling
    from bench.models.loader import embedded_model_dir
    from bench.models.vllm_engine import Engine
    from bench.prompts import load_prompts

    conversations = [[{"role": "user", "content": p.text}] for p in load_prompts("general")[: args.n]]
    keys = [f"row{i}" for i in range(args.n)]
    greedy = Sampling(temperature=0.0, max_new_tokens=args.tokens)
    start = time.perf_counter()
    engine = Engine.get(str(embedded_model_dir()), dtype="float32", lora=True, eager=True, lora_rank=8)
    started = time.perf_counter() - start
    engine.generate(conversations, greedy, keys)
    start = time.perf_counter()
    replies = engine.generate(conversations, greedy, keys)
    seconds = time.perf_counter() - start
    tokens = sum(r.output_tokens for r in replies)
    digest = hashlib.sha256("\n".join(r.text for r in replies).encode()).hexdigest()[:12]
    Engine.shutdown()
    print("| core | start-up s | tokens | seconds | tokens/s | replies digest |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.core} | {started:.1f} | {tokens} | {seconds:.2f} | {tokens / seconds:.1f} | {digest} |")


if __name__ == "__main__":
    main()
