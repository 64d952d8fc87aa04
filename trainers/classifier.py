"""Build the persona classifier: data (generated, from logs or jsonl), a split by prompt, and training.

Rows are `{text, persona, prompt_id, source}`. The held-out split never shares a prompt with the
training split (asserted), unlike the reference, whose "default" score was measured in-sample.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.prompts import UserPrompt, prompt_set_hash, split_by_prompt
from charbench.errors import CharbenchError
from trainers.diversity import distinct_summary

MODERNBERT = "answerdotai/ModernBERT-base"


@dataclass
class ClassifierConfig:
    """Defaults follow the reference (1 epoch, lr 5e-4 for ModernBERT, batch 8 x accumulation 2, cosine,
    warmup 0.05); max length is 512 instead of 8192 to stay CPU-safe (replies here are short)."""

    backbone: str = "auto"
    epochs: float = 1.0
    learning_rate: float | None = None  # None: 5e-4 for ModernBERT (reference), 1e-4 otherwise
    batch_size: int = 8
    grad_accum: int = 2
    warmup_ratio: float = 0.05
    scheduler: str = "cosine"
    max_length: int = 512
    held_out: float = 0.2
    seed: int = 0


# ---------------------------------------------------------------- data


def read_jsonl_rows(path: Path) -> list[dict]:
    from charbench.jsonl import read_jsonl

    rows = []
    for n, row in read_jsonl(path):
        missing = [k for k in ("text", "persona", "prompt_id") if k not in row]
        if missing:
            raise CharbenchError(
                f"{path}:{n}: missing field(s) {', '.join(missing)}: rows need text, persona, prompt_id"
            )
        rows.append({**row, "source": row.get("source", str(path))})
    return rows


def read_log_rows(path: Path) -> list[dict]:
    """Replies from an Inspect log; the persona comes from the task's `persona` arg or a prompted model name."""
    from inspect_ai.log import read_eval_log

    from bench.models.specs import parse_model_name

    log = read_eval_log(str(path))
    persona = log.eval.task_args.get("persona")
    if persona is None and log.eval.model.startswith("charbench/"):
        persona = parse_model_name(log.eval.model.removeprefix("charbench/")).persona
    if persona is None:
        raise CharbenchError(
            f"{path}: cannot tell which persona this log is for (no persona task arg or prompted model)"
        )
    return [
        {
            "text": s.output.completion,
            "persona": persona,
            "prompt_id": str((s.metadata or {}).get("prompt_id", s.id)),
            "source": f"{path}:{log.eval.model}",
        }
        for s in log.samples or []
        if s.output is not None and (s.metadata or {}).get("split", "normal") == "normal"
    ]


def read_rows(sources: list[str]) -> list[dict]:
    rows: list[dict] = []
    for source in sources:
        path = Path(source)
        if not path.is_file():
            raise CharbenchError(f"data source {source} does not exist")
        rows += read_log_rows(path) if path.suffix == ".eval" else read_jsonl_rows(path)
    return rows


def generate_rows(
    personas: list[str],
    prompts: list[UserPrompt],
    generator: str = "smollm2-135m",
    out_jsonl: Path | None = None,
    max_new_tokens: int = 256,
    seed: int = 0,
) -> list[dict]:
    """The prompted method's replies for each persona and prompt, through the trainers' generation
    backend (vLLM with a GPU, transformers otherwise); resumable through `out_jsonl`."""
    from bench.models.generation import Sampling
    from personas import load_persona
    from personas.prompting import with_constitution
    from trainers.backend import generate_resumable

    cache = out_jsonl or Path(tempfile.mkdtemp()) / "rows.jsonl"
    jobs = [(name, p) for name in personas for p in prompts]
    constitutions = {name: load_persona(name) for name in personas}
    rows = generate_resumable(
        cache,
        [f"{name}|{p.id}" for name, p in jobs],
        [with_constitution(constitutions[name], [{"role": "user", "content": p.text}]) for name, p in jobs],
        generator,
        Sampling(max_new_tokens=max_new_tokens, seed=seed),
        lambda key, reply: {
            "text": reply.text,
            "persona": key.split("|")[0],
            "prompt_id": key.split("|", 1)[1],
            "source": f"prompted:{generator}",
        },
        label="classifier data",
    )
    return [rows[f"{name}|{p.id}"] for name, p in jobs]


def _by_prompt(rows: list[dict]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["prompt_id"], []).append(row["text"])
    return groups


def split_rows(rows: list[dict], held_out: float, seed: int) -> tuple[list[dict], list[dict]]:
    ids = sorted({r["prompt_id"] for r in rows})
    train_ids, test_ids = split_by_prompt([UserPrompt(i, i) for i in ids], held_out=held_out, salt=f"classifier-{seed}")
    train_set, test_set = {p.id for p in train_ids}, {p.id for p in test_ids}
    train = [r for r in rows if r["prompt_id"] in train_set]
    test = [r for r in rows if r["prompt_id"] in test_set]
    assert not ({r["prompt_id"] for r in train} & {r["prompt_id"] for r in test}), "a prompt is on both sides"
    if not train or not test:
        raise CharbenchError(f"{len(ids)} distinct prompts are too few to hold out {held_out:.0%} by prompt: add data")
    return train, test


# ---------------------------------------------------------------- model


def resolve_backbone(name: str) -> tuple[str, str]:
    """(what to load, a label for the manifest). `auto`: ModernBERT from the HF cache, else embedded MiniLM."""
    from bench.models.loader import encoder_dir
    from bench.models.loader import hf_cache_has as cached

    if name == "auto":
        return (MODERNBERT, MODERNBERT) if cached(MODERNBERT) else (str(encoder_dir()), "all-minilm-l6-v2 (embedded)")
    if name in ("minilm", "all-minilm-l6-v2"):
        return str(encoder_dir()), "all-minilm-l6-v2 (embedded)"
    if Path(name).is_dir():
        return str(Path(name).resolve()), str(Path(name).resolve())
    if name.count("/") == 1 and not name.startswith((".", "/")):
        if not cached(name):
            raise CharbenchError(
                f"backbone {name} is not in the local HF cache: fetch it on a connected machine "
                f"(`huggingface-cli download {name}`), pass a local directory, or use --backbone minilm"
            )
        return name, name
    raise CharbenchError(f"backbone {name} does not exist: use auto, minilm, a local directory or a hub id")


def train_classifier(rows: list[dict], out_dir: str | Path, config: ClassifierConfig, sources: list[str]) -> dict:
    """Train, evaluate on prompts never seen in training, and save model + labels + manifest + metrics."""
    import numpy as np
    import torch
    from datasets import Dataset
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    rows = [r for r in rows if r["text"].strip()]
    if not rows:
        raise CharbenchError("no non-empty texts to train on")
    labels = sorted({r["persona"] for r in rows})
    if len(labels) < 2:
        raise CharbenchError(f"only one persona in the data ({labels[0]}): a classifier needs at least two")
    train, test = split_rows(rows, config.held_out, config.seed)
    backbone, backbone_label = resolve_backbone(config.backbone)
    lr = config.learning_rate or (5e-4 if "modernbert" in backbone.lower() else 1e-4)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
        ignore_mismatched_sizes=True,
    )

    def encode(batch: dict) -> dict:
        enc = tokenizer(batch["text"], truncation=True, max_length=config.max_length)
        enc["labels"] = [label2id[p] for p in batch["persona"]]
        return enc

    columns = ["text", "persona"]
    train_ds = Dataset.from_list([{k: r[k] for k in columns} for r in train]).map(
        encode, batched=True, remove_columns=columns
    )
    gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            num_train_epochs=config.epochs,
            learning_rate=lr,
            per_device_train_batch_size=config.batch_size,
            gradient_accumulation_steps=config.grad_accum,
            lr_scheduler_type=config.scheduler,
            warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of total steps (transformers 5)
            seed=config.seed,
            use_cpu=not gpu,
            bf16=gpu and torch.cuda.is_bf16_supported(),
            report_to=[],
            save_strategy="no",
            logging_steps=10,
            disable_tqdm=False,
        )
        Trainer(
            model=model, args=args, train_dataset=train_ds, data_collator=DataCollatorWithPadding(tokenizer)
        ).train()
    model.eval()
    predictions = []
    for start in range(0, len(test), 32):
        batch = tokenizer(
            [r["text"] for r in test[start : start + 32]],
            truncation=True,
            max_length=config.max_length,
            padding=True,
            return_tensors="pt",
        ).to(model.device)
        with torch.inference_mode():
            predictions += model(**batch).logits.argmax(-1).tolist()
    truth = [label2id[r["persona"]] for r in test]
    metrics = {
        "held_out_texts": len(test),
        "held_out_prompts": len({r["prompt_id"] for r in test}),
        "accuracy": float(accuracy_score(truth, predictions)),
        "macro_f1": float(f1_score(truth, predictions, average="macro", labels=list(range(len(labels))))),
        "chance": float(np.bincount(truth).max() / len(truth)),
        "labels": labels,
        "confusion_matrix": confusion_matrix(truth, predictions, labels=list(range(len(labels)))).tolist(),
    }
    manifest = {
        "sources": sources,
        "backbone": backbone_label,
        "labels": labels,
        "counts": {
            "train": len(train),
            "held_out": len(test),
            "per_persona": {p: sum(r["persona"] == p for r in rows) for p in labels},
        },
        "prompt_ids_hash": prompt_set_hash([UserPrompt(r["prompt_id"], "") for r in rows]),
        # one reply per (persona, prompt): recorded, not enforced; a low ratio means personas read alike
        "distinct_across_personas": distinct_summary(_by_prompt(rows)),
        "config": {**asdict(config), "learning_rate": lr},
        "seed": config.seed,
    }
    out = Path(out_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    (partial / "labels.json").write_text(json.dumps({"labels": labels, "max_length": config.max_length}, indent=2))
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (partial / "metrics.json").write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)  # a crash never leaves a directory that looks like a finished classifier
    return metrics
