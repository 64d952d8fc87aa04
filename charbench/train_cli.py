"""`charbench train distill | dpo | introspect | sft | merge | all`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from charbench.errors import CharbenchError
from charbench.options import deprecated


def _distill(args: argparse.Namespace) -> None:
    from trainers.distill import DistillConfig, distill

    if args.model is None:
        raise CharbenchError("train distill: give the student model with --model")

    manifest = distill(
        DistillConfig(
            persona=args.persona,
            teacher=args.teacher,
            student=args.model,
            out=args.out,
            repeats=args.repeats,
            limit=args.limit,
            max_new_tokens=args.max_tokens,
            seed=args.seed,
            teacher_name=args.teacher_name,
            student_name=args.student_name,
            min_distinct=args.min_distinct,
        )
    )
    print(json.dumps(manifest["counts"], indent=2))
    _print_distinct(manifest)
    print(f"pairs: {args.out}/pairs.jsonl")


def _print_distinct(manifest: dict) -> None:
    for stage, summary in manifest["distinct"].items():
        print(
            f"distinct {stage}: {summary['distinct']}/{summary['samples']} texts, lowest per-prompt ratio "
            f"{summary['min_ratio']:.2f} (threshold {summary['threshold']})"
        )


def _dpo(args: argparse.Namespace) -> None:
    from trainers.finetune import DPOSettings, train_dpo

    settings = DPOSettings(
        learning_rate=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        beta=args.beta,
        nll_weight=args.nll_weight,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        batch_size=args.batch_size,
        effective_batch=args.effective_batch,
        grad_accum=args.grad_accum,
        seed=args.seed,
    )
    print(f"adapter: {train_dpo(args.data, args.model, args.out, settings)}")


def _sft(args: argparse.Namespace) -> None:
    from trainers.finetune import SFTSettings, train_sft

    settings = SFTSettings(
        learning_rate=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        batch_size=args.batch_size,
        effective_batch=args.effective_batch,
        grad_accum=args.grad_accum,
        seed=args.seed,
    )
    print(f"adapter: {train_sft(args.data, args.model, args.out, settings)}")


def _introspect(args: argparse.Namespace) -> None:
    from trainers.introspect import IntrospectConfig, introspect

    manifest = introspect(
        IntrospectConfig(
            persona=args.persona,
            model=args.model,
            out=args.out,
            reflection_samples=args.samples,
            conversations=args.conversations,
            turns=args.turns,
            max_new_tokens=args.max_tokens,
            seed=args.seed,
            name=args.name,
            min_distinct=args.min_distinct,
        )
    )
    print(json.dumps(manifest["counts"], indent=2))
    _print_distinct(manifest)
    print(f"SFT data: {args.out}/sft.jsonl")


def _merge(args: argparse.Namespace) -> None:
    from trainers.finetune import merge

    print(f"merged: {merge(args.adapter, args.out)}")


def _all(args: argparse.Namespace) -> None:
    from experiments.shortcuts import score_model
    from trainers.pipeline import PipelineConfig, run_pipeline

    overrides = {"persona": args.persona, "base": args.model, "teacher": args.teacher, "out": args.out}
    if args.config:
        config = PipelineConfig.from_yaml(args.config, **overrides)
    else:
        config = PipelineConfig.from_dict({k: v for k, v in overrides.items() if v is not None}, source="flags")
    suite = None if args.no_score else _suite_for(config)  # a bad `score:` section fails now, not after training
    result = run_pipeline(config)
    print(f"checkpoint: {result['checkpoint']}   (DPO only: {result['dpo_adapter']})")
    if suite is None:
        return
    logs = score_model(f"charbench/ft/{Path(result['checkpoint']).resolve()}", config.persona, suite)
    for log in logs:
        print(f"log: {log.location}")


def _suite_for(config):
    """The suite the trained checkpoint is scored with (`score:` in the pipeline config)."""
    from experiments.shortcuts import SuiteConfig

    try:
        suite = SuiteConfig(**{"seed": config.seed, **config.score})
    except TypeError as err:
        raise CharbenchError(f"train all: bad 'score' section: {err}") from None
    if suite.capabilities != "none":
        from bench.capabilities.capabilities import SMOKE, parse_tasks
        from bench.capabilities.standard import require_cached

        require_cached([n for n in parse_tasks(suite.capabilities) if n != SMOKE])
    return suite


def _lora_args(p: argparse.ArgumentParser, lr: float) -> None:
    p.add_argument("--lr", type=float, default=lr, help="learning rate (the reference's)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the data")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (-1: full epochs)")
    p.add_argument("--lora-r", type=int, default=64, help="LoRA rank (the reference's)")
    p.add_argument("--lora-alpha", type=int, default=128, help="LoRA alpha (the reference's)")
    p.add_argument("--batch-size", type=int, default=4, help="rows per device per forward pass")
    p.add_argument(
        "--effective-batch",
        type=int,
        default=32,
        help="rows per optimiser step over all processes (reference 32): sets the gradient accumulation",
    )
    p.add_argument(
        "--grad-accum", type=int, help="gradient accumulation steps (default: derived from --effective-batch)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of data order and initialisation")


def _min_distinct_arg(p: argparse.ArgumentParser) -> None:
    from trainers.diversity import MIN_DISTINCT

    p.add_argument(
        "--min-distinct",
        type=float,
        default=MIN_DISTINCT,
        help="stop before training when a prompt's samples have a lower distinct-text ratio (default %(default)s)",
    )


def _max_tokens(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, default=1024, help="new tokens per generated reply")
    deprecated(p, "--max-new-tokens", "--max-tokens", "max_tokens", type=int)


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="DPO distillation + introspection SFT character training (TRL + PEFT)")
    tsub = train.add_subparsers(dest="action", required=True, metavar="STAGE")
    p = tsub.add_parser("distill", help="DPO pairs: teacher with the constitution (chosen) vs student (rejected)")
    p.add_argument("--persona", required=True, help="persona name or file")
    p.add_argument("--teacher", required=True, help="teacher model (gets the constitution as system prompt)")
    p.add_argument("--model", help="the student model, trained later (answers without the constitution)")
    deprecated(p, "--student", "--model", "model")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--repeats", type=int, default=5, help="times each prompt is used (reference 5)")
    p.add_argument("--limit", type=int, help="use only the first N prompts (smoke runs)")
    _max_tokens(p)
    p.add_argument("--seed", type=int, default=0, help="seed of every generated row")
    p.add_argument("--teacher-name", help="the name the teacher calls itself (default: from its model name)")
    p.add_argument("--student-name", help="the name that replaces it in chosen replies (default: from the model)")
    _min_distinct_arg(p)
    p.set_defaults(func=_distill)
    p = tsub.add_parser("dpo", help="DPO + 0.1 NLL on chosen with a LoRA adapter")
    p.add_argument("--data", required=True, help="pairs.jsonl from `train distill`")
    p.add_argument("--model", required=True, help="the student model")
    p.add_argument("--out", required=True, help="adapter output directory")
    p.add_argument("--beta", type=float, default=0.1, help="DPO beta (the reference's)")
    p.add_argument("--nll-weight", type=float, default=0.1, help="weight of the NLL loss on chosen replies")
    _lora_args(p, 5e-5)
    p.set_defaults(func=_dpo)
    p = tsub.add_parser("introspect", help="self-reflection and self-interaction transcripts from the DPO model")
    p.add_argument("--persona", required=True, help="persona name or file")
    p.add_argument("--model", required=True, help="the merged DPO model")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--samples", type=int, default=1000, help="samples per self-reflection prompt (reference 1000)")
    p.add_argument("--conversations", type=int, default=2000, help="self-interaction conversations (reference 2000)")
    p.add_argument("--turns", type=int, default=10, help="turns per self-interaction conversation")
    _max_tokens(p)
    p.add_argument("--seed", type=int, default=0, help="seed of every generated row")
    p.add_argument("--name", help="the model's name in the self-interaction system line (default: from the model)")
    _min_distinct_arg(p)
    p.set_defaults(func=_introspect)
    p = tsub.add_parser("sft", help="SFT with a LoRA adapter on the introspection data")
    p.add_argument("--data", required=True, help="sft.jsonl from `train introspect`")
    p.add_argument("--model", required=True, help="the merged DPO model")
    p.add_argument("--out", required=True, help="adapter output directory")
    _lora_args(p, 5e-5)
    p.set_defaults(func=_sft)
    p = tsub.add_parser("merge", help="merge a LoRA adapter into its base (safetensors)")
    p.add_argument("adapter", help="LoRA adapter directory")
    p.add_argument("out", help="directory of the merged model")
    p.set_defaults(func=_merge)
    p = tsub.add_parser(
        "all",
        help="distill -> dpo -> merge -> introspect -> sft -> combine (the reference's 1.0 x DPO + 0.25 x SFT "
        "adapter) -> charbench score",
    )
    p.add_argument("--config", help="YAML with any PipelineConfig setting (dpo:, sft:, score: sections)")
    p.add_argument("--persona", help="persona name or file (overrides --config)")
    p.add_argument("--model", help="the base model trained (overrides --config's base)")
    deprecated(p, "--base", "--model", "model")
    p.add_argument("--teacher", help="teacher model (overrides --config)")
    p.add_argument("--out", help="output directory (overrides --config)")
    p.add_argument(
        "--no-score",
        action="store_true",
        help="stop after training (score the adapters later, e.g. as fine-tuned methods of an experiment spec)",
    )
    p.set_defaults(func=_all)
