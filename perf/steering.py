"""Steering overhead: tokens/s of the embedded model, base vs steered, same prompts and seed.

    .venv/bin/python perf/steering.py [--layers 4-25] [--tokens 64] [--prompts 16]

Extracts a sarcasm vector (middle 75% of layers by default) and generates with and without the
hooks through the same `generate_chat` path the provider uses. Target: overhead <= 10%.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.models.generation import Sampling, generate_chat  # noqa: E402
from bench.models.loader import load_causal_lm  # noqa: E402
from bench.models.specs import parse_layers  # noqa: E402
from bench.prompts import load_prompts  # noqa: E402
from trainers.steering import extract  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default=None)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    loaded = load_causal_lm("smollm2-135m")
    vector = extract("sarcasm", "smollm2-135m", layers=list(parse_layers(args.layers)) if args.layers else None)
    convs = [[{"role": "user", "content": p.text}] for p in load_prompts("general")[: args.prompts]]
    # min_new_tokens is not exposed; greedy + fixed length keeps the token count equal across runs
    sampling = Sampling(max_new_tokens=args.tokens, seed=0)
    rows = {}
    for label, intervention in (
        ("base", None),
        ("steered (coef 0.1)", lambda: vector.applied(loaded.model, coef=0.1)),
    ):
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = generate_chat(loaded, convs, sampling, batch_size=len(convs), intervention=intervention)
            rates.append(sum(o.output_tokens for o in out) / (time.perf_counter() - start))
        rows[label] = max(rates)
    print(
        f"embedded model, {len(convs)} prompts in one batch, {args.tokens} new tokens max, "
        f"{len(vector.layers)} steered layers ({vector.layers[0]}..{vector.layers[-1]}), best of {args.repeats}"
    )
    print("| mode | tokens/s |\n|---|---|")
    for label, rate in rows.items():
        print(f"| {label} | {rate:.1f} |")
    base, steered = rows["base"], rows["steered (coef 0.1)"]
    print(f"steering overhead: {100 * (base - steered) / base:.1f}% (tokens/s)")


if __name__ == "__main__":
    main()
