"""`charbench judge validate | variants`: how accurate is a trait judge, and which embedded variant is best."""

from __future__ import annotations

import argparse


def _interval(block: dict) -> str:
    lo, hi = block["ci"]
    blo, bhi = block["ci_bootstrap"]
    return f"{block['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] (cluster bootstrap [{blo:.3f}, {bhi:.3f}])"


def report(result: dict) -> str:
    """The lines `judge validate` prints for a validation result."""
    invalid = ", ".join(f"{reason} {n}" for reason, n in result["invalid"].items() if n) or "none"
    bias = (
        "n/a (order-invariant: the same verdict in both orders of every item, 0.5 by construction)"
        if result.get("order_invariant")
        else "n/a (no valid judgements)"
        if result["position_bias"] is None
        else f"{result['position_bias']:.3f} of {result['valid']} valid judgements named the first-shown trait "
        "(0.5 = no bias)"
    )
    lines = [
        f"judge:          {result['judge']}" + (f" (variant {result['variant']})" if result.get("variant") else ""),
        f"data:           {result['data']} (hash {result['data_hash']})",
        f"items:          {result['n_items']} items, {result['n_judgements']} judgements (both orders of each item)",
        f"accuracy:       {_interval(result)}",
    ]
    lines += [
        f"  {kind + ':':<13} {_interval(block)}, {block['n_items']} items" for kind, block in result["by_kind"].items()
    ]
    lines += [
        f"unit:           {result['unit']}",
        f"position bias:  {bias}",
        f"invalid:        {invalid}",
        "validated" if result["validated"] else f"UNVALIDATED (interval not above {result['threshold']})",
    ]
    return "\n".join(lines)


def _validate_coherence(args: argparse.Namespace) -> None:
    import json

    from bench.judges import coherence_validation as cv

    pairs = cv.load_pairs(args.data)[: args.limit]
    data = "shipped" if args.data is None and args.limit is None else f"{args.data or 'shipped'} ({len(pairs)} pairs)"
    result = cv.validate_grader(args.grader, pairs, data) if args.grader else cv.validate_embedded(pairs, data)
    kinds = ", ".join(f"{k} {b['accuracy']:.2f}" for k, b in result["by_kind"].items())
    bias = "n/a" if result["position_bias"] is None else f"{result['position_bias']:.2f} named reply A (0.5 = none)"
    consistency = "n/a" if result["consistency"] is None else f"{result['consistency']:.2f}"
    print(f"judge:          {result['judge']}")
    print(f"data:           {result['data']} (hash {result['data_hash']}), {result['n_items']} pairs x both orders")
    print(f"accuracy:       {_interval(result)}; by kind: {kinds}")
    print(f"position bias:  {bias}; same verdict in both orders: {consistency}; invalid {result['invalid']}")
    print("validated" if result["validated"] else f"UNVALIDATED (interval not above {result['threshold']})")
    path = cv.saved_path(result["judge"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"saved:          {path}")


def _validate(args: argparse.Namespace) -> None:
    if args.coherence:
        return _validate_coherence(args)
    from bench.judges.embedded import DEFAULT_VARIANT
    from bench.judges.validation import load_labelled, save_validation, validate_embedded, validate_grader
    from charbench.errors import CharbenchError

    if args.limit is not None and args.limit < 1:
        raise CharbenchError("--limit must be at least 1 item")
    items = load_labelled(args.data)[: args.limit]
    data = args.data or "shipped"
    if args.limit is not None:
        data += f" (first {len(items)} items)"
    if args.grader:
        result = validate_grader(args.grader, items, data=data, batch_size=args.batch_size)
    else:
        variant = args.variant or (DEFAULT_VARIANT if all(item["question"] for item in items) else "gloss")
        if args.data is None and args.limit is None and variant == DEFAULT_VARIANT:
            from bench.judges.validation import embedded_validation

            result = embedded_validation(variant)  # what every log records: the held-out half
        else:
            result = validate_embedded(items, variant, data=data)
    print(report(result))
    print(f"saved:          {save_validation(result)}")


def _variants(args: argparse.Namespace) -> None:
    from bench.judges.validation import compare_variants, load_labelled

    comparison = compare_variants(load_labelled(args.data), seed=args.seed)
    print(
        f"calibrated on {comparison['calibration_items']} items (seed {comparison['seed']}), reported on the "
        f"held-out {comparison['held_out_items']}; prompt weight {comparison['prompt_weight']}, "
        f"best on calibration: {comparison['chosen']}, abstain below margin {comparison['abstain_below']:.4f}"
    )
    for name, result in comparison["variants"].items():
        kinds = "  ".join(f"{kind} {_interval(block)}" for kind, block in result["by_kind"].items())
        delta = result.get("delta_vs_gloss")
        versus = f"  vs gloss {delta[0]:+.3f} [{delta[1]:+.3f}, {delta[2]:+.3f}]" if delta else ""
        answered = ""
        if result["valid"] < result["n_judgements"]:
            answered = (
                f"  answered {result['valid']}/{result['n_judgements']}, "
                f"accuracy among answered {result['accuracy_valid']:.3f}"
            )
        print(f"{name:<24} all {_interval(result)}  {kinds}{versus}{answered}")


def register(sub: argparse._SubParsersAction) -> None:
    from bench.judges.embedded import DEFAULT_VARIANT, VARIANTS
    from bench.judges.validation import THRESHOLD

    judge = sub.add_parser("judge", help="validate the trait judges on labelled replies")
    jsub = judge.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = jsub.add_parser(
        "validate",
        help="accuracy [95%% CI], by kind, position bias and invalid answers of a judge; saved to results/judges/",
        description="Judge every labelled reply in both orders with the tournament's judge and report accuracy "
        f"with 95% intervals, accuracy by kind, position bias and invalid answers by reason. A judge whose "
        f"interval lies above {THRESHOLD} is 'validated'. The result is saved to results/judges/<judge>.json. "
        "Without --grader the offline embedded similarity judge is validated.",
    )
    p.add_argument(
        "--grader",
        metavar="MODEL",
        help="an Inspect model to validate as the LLM grader (e.g. charbench/smollm2-135m, openai/gpt-4o-mini); "
        "it gets the tournament's judge prompt and temperature",
    )
    p.add_argument(
        "--data",
        metavar="FILE.jsonl",
        help="labelled replies, one JSON object a line: text, trait_a, trait_b, label (one of the two), optional "
        "kind and question (default: the shipped bench/judges/data/labelled_traits.jsonl)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument(
        "--variant",
        choices=VARIANTS,
        help=f"embedded judge variant (default {DEFAULT_VARIANT}, or gloss when a row has no question; "
        "see `charbench judge variants`)",
    )
    p.add_argument("--batch-size", type=int, default=16, help="grader calls run concurrently (default 16)")
    p.add_argument(
        "--coherence",
        action="store_true",
        help="validate bench/coherence's pairwise judge instead (the embedded forced-choice judge, or --grader) "
        "on the shipped pairs where one reply is known better (bench/judges/data/labelled_coherence.jsonl)",
    )
    p.set_defaults(func=_validate)
    p = jsub.add_parser(
        "variants",
        help="every embedded judge variant on a held-out half, calibrated on the other half",
        description="Split the labelled set in two seeded halves (whole questions, every trait pair in both), "
        "calibrate the prompt weight and the abstention margin on one half, and report every variant's "
        "accuracy with intervals on the other, with its difference from the gloss variant.",
    )
    p.add_argument("--data", metavar="FILE.jsonl", help="labelled replies (default: the shipped set)")
    p.add_argument("--seed", type=int, default=0, help="seed of the half split (default 0)")
    p.set_defaults(func=_variants)
