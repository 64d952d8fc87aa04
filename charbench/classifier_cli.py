"""`charbench classifier train` and `charbench robustness report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from charbench.paths import results_dir


def _train(args: argparse.Namespace) -> None:
    from bench.prompts import sample_prompts
    from bench.robustness.dataset import classifier_training_prompts
    from personas import list_personas
    from trainers.classifier import ClassifierConfig, generate_rows, read_rows, train_classifier

    out = Path(args.out or results_dir() / "classifiers" / f"persona-classifier-{Path(args.generator).name}")
    if args.data:
        rows, sources = read_rows(args.data), list(args.data)
    else:
        personas = args.personas.split(",") if args.personas else sorted(list_personas())
        prompts = sample_prompts(classifier_training_prompts(), args.prompts, args.seed)
        cache = out.with_name(out.name + ".data.jsonl")
        cache.parent.mkdir(parents=True, exist_ok=True)
        rows = generate_rows(
            personas, prompts, generator=args.generator, out_jsonl=cache, max_new_tokens=args.max_tokens, seed=args.seed
        )
        sources = [f"prompted:{args.generator} ({len(prompts)} prompts, data in {cache})"]
    config = ClassifierConfig(
        backbone=args.backbone, epochs=args.epochs, learning_rate=args.lr, max_length=args.max_length, seed=args.seed
    )
    metrics = train_classifier(rows, out, config, sources)
    print(
        f"saved {out}: held-out accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f} "
        f"on {metrics['held_out_texts']} texts from {metrics['held_out_prompts']} unseen prompts "
        f"(majority-class rate {metrics['chance']:.3f})"
    )


def _report(args: argparse.Namespace) -> None:
    from bench.robustness.report import format_report, report

    print(format_report(report(args.logs, n=args.bootstrap, seed=args.seed)))


def register(sub: argparse._SubParsersAction) -> None:
    clf = sub.add_parser("classifier", help="the persona classifier used by bench/robustness")
    csub = clf.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = csub.add_parser("train", help="generate (or read) persona-labelled replies and train the classifier")
    p.add_argument(
        "--data",
        nargs="*",
        help="jsonl files ({text, persona, prompt_id}) or Inspect .eval logs; "
        "default: generate with the prompted method",
    )
    p.add_argument("--personas", help="comma-separated personas to generate for (default: all)")
    p.add_argument("--generator", default="smollm2-135m", help="model that writes the replies (default embedded)")
    p.add_argument("--prompts", type=int, default=None, help="training prompts per persona (default: all ~216)")
    p.add_argument("--max-tokens", type=int, default=256, help="new tokens per generated reply (default 256)")
    p.add_argument(
        "--backbone",
        default="auto",
        help="auto (ModernBERT-base if in the HF cache, else embedded MiniLM), minilm, a hub id or a dir",
    )
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=None, help="default 5e-4 for ModernBERT (reference), 1e-4 otherwise")
    p.add_argument("--max-length", type=int, default=512, help="tokens per text (reference: 8192)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output directory (default results/classifiers/persona-classifier-<generator>)")
    p.set_defaults(func=_train)

    rob = sub.add_parser("robustness", help="robustness reports across personas")
    rsub = rob.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = rsub.add_parser("report", help="macro-F1 per split and per adversarial instruction from robustness logs")
    p.add_argument("logs", nargs="+", help="bench/robustness logs of one method, one or more personas")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_report)
