"""`charbench classifier train|evaluate` and `charbench robustness report`."""

from __future__ import annotations

import argparse
from pathlib import Path

from charbench.options import deprecated
from charbench.paths import results_dir


def _train(args: argparse.Namespace) -> None:
    from bench.models.specs import refuse_two_way
    from bench.robustness.validation import format_scores
    from personas import list_personas, load_persona
    from trainers.classifier import ClassifierConfig, data_models, generate_logs, read_rows, train_classifier

    out = Path(args.out or results_dir() / "classifiers" / f"persona-classifier-{Path(args.model).name}")
    if args.data:
        rows, skipped = read_rows(args.data, none_class=args.none_class)
        sources = [Path(d).name for d in args.data]
    else:
        provider = f"--data with logs of charbench/prompt/<persona>/{args.model}"
        refuse_two_way(args.model, f"--model {args.model}", f"charbench/{args.model}", provider)
        personas = args.personas.split(",") if args.personas else sorted(list_personas())
        for persona in personas:
            load_persona(persona)
        models = data_models(personas, args.model, args.methods, args.none_class)
        logs = generate_logs(models, out.with_name(out.name + ".data"), args.n_prompts, args.max_tokens, args.seed)
        rows, skipped = read_rows([str(p) for p in logs], none_class=args.none_class)
        sources = [f"{m} (bench/responses, training partition)" for m in models]
    config = ClassifierConfig(
        backbone=args.backbone, epochs=args.epochs, learning_rate=args.lr, max_length=args.max_length, seed=args.seed
    )
    for skip in skipped:
        print(f"skipped {skip['log']} ({skip['model']}): {skip['reason']}")
    metrics = train_classifier(rows, out, config, sources, skipped)
    print(f"saved {out}")
    print(format_scores(metrics, "held-out validation"))
    if not metrics["validated"]:
        from bench.robustness.validation import WEAK_HINT

        print(f"WARNING: not above chance; bench/robustness will refuse it. To fix: {WEAK_HINT}")


def _evaluate(args: argparse.Namespace) -> None:
    from bench.robustness.validation import evaluate, format_scores

    scores, notes = evaluate(args.classifier, args.data, seed=args.seed)
    print(format_scores(scores, f"{args.classifier} on {scores['source']}"))
    for note in notes:
        print(f"note: {note}")


def _report(args: argparse.Namespace) -> None:
    from bench.robustness.report import format_report, report

    print(format_report(report(args.logs, n=args.bootstrap, seed=args.seed)))


def register(sub: argparse._SubParsersAction) -> None:
    clf = sub.add_parser("classifier", help="the persona classifier used by bench/robustness")
    csub = clf.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = csub.add_parser(
        "train",
        help="train on the default replies of every method (generated, or read from logs) and validate it",
        description="Trains the persona classifier on the default (non-adversarial) replies of every method, "
        "validates it on held-out prompts (accuracy and macro-F1 with intervals clustered by prompt, chance, "
        "confusion matrix) and records every prompt it saw, so bench/robustness can refuse overlap.",
    )
    p.add_argument(
        "--data",
        nargs="*",
        help="jsonl files ({text, persona, prompt_id, prompt or prompt_sha}), Inspect logs or log directories "
        "of bench/robustness, bench/responses or bench/coherence (labels from the model name / run metadata; "
        "other tasks are skipped); default: generate",
    )
    p.add_argument("--personas", help="comma-separated personas to generate for (default: all)")
    p.add_argument(
        "--model",
        default="smollm2-135m",
        help="base model whose prompted method writes each persona's replies (default: the embedded model)",
    )
    deprecated(p, "--generator", "--model", "model")
    p.add_argument(
        "--method",
        dest="methods",
        action="append",
        default=[],
        metavar="MODEL[=PERSONA]",
        help="another method model whose replies join the data: MODEL or MODEL=PERSONA, e.g. "
        "charbench/steer/4/vec.safetensors (persona from the vector) or charbench/ft/DIR=loving (repeatable)",
    )
    p.add_argument(
        "--none-class",
        action="store_true",
        help="add a `none` class: the base model's replies (generated from --model, or base-model logs)",
    )
    p.add_argument("--n-prompts", type=int, default=None, help="training prompts per model (default: all 156)")
    deprecated(p, "--prompts", "--n-prompts", "n_prompts", type=int)
    p.add_argument("--max-tokens", type=int, default=256, help="new tokens per generated reply (default 256)")
    p.add_argument(
        "--backbone",
        default="auto",
        help="auto (ModernBERT-base if in the HF cache, else embedded MiniLM), minilm, a hub id or a dir",
    )
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the training texts")
    p.add_argument("--lr", type=float, default=None, help="default 5e-4 for ModernBERT (reference), 1e-4 otherwise")
    p.add_argument("--max-length", type=int, default=512, help="tokens per text (reference: 8192)")
    p.add_argument("--seed", type=int, default=0, help="seed of generation, the held-out split and training")
    p.add_argument("--out", help="output directory (default results/classifiers/persona-classifier-<model>)")
    p.set_defaults(func=_train)

    p = csub.add_parser(
        "evaluate",
        help="score a classifier on labelled texts: accuracy, macro-F1 with intervals, confusion matrix",
    )
    p.add_argument("classifier", help="classifier directory")
    p.add_argument(
        "--data",
        help="jsonl with persona and text (prompt_id optional: rows sharing one are one cluster); "
        "default: the shipped set, cut to the classifier's labels",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=_evaluate)

    rob = sub.add_parser("robustness", help="robustness reports across personas")
    rsub = rob.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = rsub.add_parser("report", help="macro-F1 per split and per adversarial instruction from robustness logs")
    p.add_argument("logs", nargs="+", help="bench/robustness logs of one method, one or more personas")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws, prompts resampled")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=_report)
