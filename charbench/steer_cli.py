"""`charbench steer extract | calibrate`."""

from __future__ import annotations

import argparse

from charbench.errors import CharbenchError
from charbench.options import deprecated
from charbench.paths import results_dir, slug


def _extract(args: argparse.Namespace) -> None:
    from bench.models.specs import parse_layers
    from trainers.steering import extract

    layers = list(parse_layers(args.layers)) if args.layers else None
    vector = extract(args.persona, args.model, layers=layers, method=args.method, seed=args.seed)
    out = args.out or results_dir() / "vectors" / f"{args.persona}-{slug(args.model, 60)}-{args.method}.safetensors"
    path = vector.save(out)
    norms = vector.metadata["norms"]
    print(
        f"saved {path} (+ .json): {len(norms)} layers {vector.layers[0]}..{vector.layers[-1]}, "
        f"norms {min(norms.values()):.2f}..{max(norms.values()):.2f}, method {args.method}"
    )
    print(f"use it as --model charbench/steer/<coef>/{path}  (or calibrate: charbench steer calibrate {path})")


def _calibrate(args: argparse.Namespace) -> None:
    from trainers.calibration import calibrate

    coefs = tuple(float(c) for c in args.coefs.split(","))
    result = calibrate(
        args.vector,
        coefs=coefs,
        n_prompts=args.n_prompts,
        max_new_tokens=args.max_tokens,
        seed=args.seed,
        max_ppl_ratio=args.max_ppl_ratio,
    )
    print(f"{'coef':>6} {'persona sim':>12} {'perplexity':>11} {'empty':>6}")
    for row in result["sweep"]:
        print(f"{row['coef']:>6g} {row['persona_similarity']:>12.4f} {row['perplexity']:>11.2f} {row['empty']:>6}")
    if result["coef"] is None:
        raise CharbenchError(
            f"no coefficient raised the persona's similarity above the unsteered replies' while staying fluent "
            f"({result['criterion']}; the sweep above is in the vector's metadata): try --coefs with larger "
            "values, more --n-prompts, other --layers when extracting, or leave the steered method out"
        )
    print(f"chosen coefficient: {result['coef']:g} ({result['criterion']}); recorded in the vector's metadata")


def register(sub: argparse._SubParsersAction) -> None:
    steer = sub.add_parser("steer", help="persona vectors for activation steering: extract, calibrate")
    ssub = steer.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = ssub.add_parser("extract", help="contrastive persona vector: base with vs without the persona's system prompt")
    p.add_argument("--persona", required=True, help="persona name or file")
    p.add_argument("--model", default="smollm2-135m", help="base model: smollm2-135m, a local dir or a hub id")
    p.add_argument("--layers", help="e.g. 12, 4-9 or 3,5,7 (default: the middle 75%% of layers)")
    p.add_argument(
        "--method", choices=["mean-diff", "pca-center"], default="mean-diff", help="how the contrast becomes a vector"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for pairing prompts with reply openings")
    p.add_argument("--out", help="output .safetensors path (default results/vectors/<persona>-<model>-<method>)")
    p.set_defaults(func=_extract)
    p = ssub.add_parser("calibrate", help="sweep the coefficient: persona strength vs fluency; record the choice")
    p.add_argument("vector", help="vector .safetensors file")
    p.add_argument("--coefs", default="0,0.05,0.1,0.2,0.4,0.8", help="comma-separated coefficients (include 0)")
    p.add_argument("--n-prompts", type=int, default=8, help="prompts in the sweep (default 8)")
    deprecated(p, "--prompts", "--n-prompts", "n_prompts", type=int)
    p.add_argument("--max-tokens", type=int, default=48, help="new tokens per reply (default 48)")
    p.add_argument("--max-ppl-ratio", type=float, default=2.0, help="allowed perplexity vs unsteered (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sweep's sampled replies")
    p.set_defaults(func=_calibrate)
