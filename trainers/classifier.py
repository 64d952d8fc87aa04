"""Build the persona classifier: data (generated, from logs or jsonl), a split by prompt, and training.

Unlike the reference, which trains on the default replies of every method it then scores, the
classifier learns each persona's *prompted* replies (the constitution's own expression), labelled
texts and, optionally, a `none` class (the base model's replies): a steered or fine-tuned model is
scored as a method it never saw, so persona accuracy cannot reward a method for being recognisable
as itself (VALIDITY.md section 3). A user may still add other methods' replies (`--method`, logs
under `--data`); the manifest lists every such model and bench/robustness and bench/drift refuse
to score it. Every classifier carries its held-out accuracy per method and its score on the
shipped labelled texts.
Rows are `{text, persona, prompt_id, prompt_sha, method, source}`. The held-out split never shares a
prompt with the training split (asserted), unlike the reference, whose "default" score was measured
in-sample; the manifest lists every prompt seen, by id and text hash.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.prompts import UserPrompt, prompt_set_hash, split_by_prompt
from bench.robustness.classifier import PersonaClassifier
from bench.robustness.validation import SEEN_OK, by_method, labelled_scores, method_key, validation_scores
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

NONE = "none"  # the label of a reply with no persona: the base model's
READ_TASKS = ("robustness", "responses", "coherence")  # tasks whose samples are default replies


def _prompt_shas_by_id() -> dict[str, str]:
    from bench.prompts import BUNDLED, load_prompts, prompt_sha

    return {p.id: prompt_sha(p.text) for spec in BUNDLED for p in load_prompts(spec)}


def read_jsonl_rows(path: Path) -> list[dict]:
    """Rows `{text, persona, prompt_id}` plus the prompt's text (`prompt`) or its hash (`prompt_sha`),
    unless the id is one of our bundled prompts: the manifest must say which prompts were seen."""
    from bench.prompts import prompt_sha
    from charbench.jsonl import read_jsonl

    rows = []
    bundled: dict[str, str] | None = None
    for n, row in read_jsonl(path):
        missing = [k for k in ("text", "persona", "prompt_id") if k not in row]
        if missing:
            raise CharbenchError(
                f"{path}:{n}: missing field(s) {', '.join(missing)}: rows need text, persona, prompt_id"
            )
        sha = row.get("prompt_sha") or (prompt_sha(row["prompt"]) if row.get("prompt") else None)
        if sha is None:
            bundled = bundled if bundled is not None else _prompt_shas_by_id()
            sha = bundled.get(str(row["prompt_id"]))
        if sha is None:
            raise CharbenchError(
                f"{path}:{n}: prompt {row['prompt_id']} is not a bundled prompt: add its text (`prompt`) or "
                "`prompt_sha`, so the prompts the classifier saw can be checked against an evaluation's"
            )
        if row.get("method", "file") not in SEEN_OK and not row.get("model"):
            raise CharbenchError(
                f"{path}:{n}: a row of method '{row['method']}' needs `model` (the model that wrote it), so that "
                "the tasks can refuse to score that model with this classifier; or leave `method` out (labelled text)"
            )
        rows.append(
            {
                **row,
                "prompt_id": str(row["prompt_id"]),
                "prompt_sha": sha,
                "method": row.get("method", "file"),
                "source": row.get("source", Path(path).name),
            }
        )
    return rows


def log_label(path: Path, log, none_class: bool) -> tuple[str | None, str, str]:
    """(label or None to skip, method, reason) for a log's replies, from the model and the run metadata.

    The method's persona is what the model name says (a prompted persona, a steering vector's
    persona), else `method_persona`, which `charbench score` and the classifier's own data generation
    record for the model; never a `persona` from the metadata, where Inspect merges the task's own
    (the persona a task *scores for*: a base model's robustness log carries one too). Base-model
    replies are `none`.
    """
    from bench.models.specs import describe_model
    from experiments.spec import KINDS

    meta = log.eval.metadata or {}
    info = describe_model(log.eval.model)
    # the method's kind: an experiment's logs carry it as `kind` (their `method` is the user's label)
    method = meta.get("kind") or (meta.get("method") if meta.get("method") in KINDS else None) or info["method"]
    if method == "base":
        if none_class:
            return NONE, method, "base model: none class"
        return None, method, "base model (no persona; --none-class uses it as the none class)"
    persona = info["persona"] or meta.get("method_persona")
    if not persona:
        raise CharbenchError(
            f"{path}: cannot tell which persona {log.eval.model} has: score it with `charbench score --persona P` "
            "(recorded as method_persona), or generate its data with `classifier train --model MODEL=PERSONA`"
        )
    return persona, method, "persona method"


def read_log_rows(path: Path, none_class: bool = False) -> tuple[list[dict], dict | None]:
    """Default (non-adversarial, first-turn) replies of a robustness, responses or coherence log, and a
    record of the log if it was skipped (other tasks, base model without the none class)."""
    from inspect_ai.log import read_eval_log

    from bench.prompts import prompt_sha

    header = read_eval_log(str(path), header_only=True)
    task = header.eval.task.rsplit("/", 1)[-1]
    name = Path(path).name
    if task not in READ_TASKS:
        return [], {"log": name, "model": header.eval.model, "reason": f"task {header.eval.task} (not default replies)"}
    label, method, reason = log_label(path, header, none_class)
    if label is None:
        return [], {"log": name, "model": header.eval.model, "reason": reason}
    rows = []
    for s in read_eval_log(str(path)).samples or []:
        meta = s.metadata or {}
        if s.output is None or s.error or meta.get("split", "normal") != "normal":
            continue
        prompt = s.input if isinstance(s.input, str) else ""
        rows.append(
            {
                "text": s.output.completion,
                "persona": label,
                "prompt_id": str(meta.get("prompt_id", s.id)),
                "prompt_sha": meta.get("prompt_sha") or prompt_sha(prompt),
                "method": method,
                "model": header.eval.model,
                "source": f"{name}:{header.eval.model}",
            }
        )
    return rows, None


def read_rows(sources: list[str], none_class: bool = False) -> tuple[list[dict], list[dict]]:
    """Rows from jsonl files and Inspect logs (a directory means every log in it), and skipped logs."""
    from inspect_ai.log import list_eval_logs

    rows: list[dict] = []
    skipped: list[dict] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            logs = [_local_path(i.name) for i in list_eval_logs(str(path), recursive=True)]
            if not logs:
                raise CharbenchError(f"data directory {source} holds no Inspect logs")
        elif not path.is_file():
            raise CharbenchError(f"data source {source} does not exist")
        elif path.suffix != ".eval":
            rows += read_jsonl_rows(path)
            continue
        else:
            logs = [path]
        for log in logs:
            got, skip = read_log_rows(log, none_class)
            rows += got
            skipped += [skip] if skip else []
    return rows, skipped


def data_models(personas: list[str], base: str, extra: list[str], none_class: bool) -> dict[str, str | None]:
    """The models whose default replies train the classifier, each with the persona of its method
    (None: the name tells, or the base model): the prompted method for every persona on `base`, the
    extra method models (`MODEL` or `MODEL=PERSONA`: steered, fine-tuned), and the base itself for
    the none class."""
    models: dict[str, str | None] = {f"charbench/prompt/{p}/{base}": None for p in personas}
    for spec in extra:
        model, sep, persona = spec.rpartition("=") if "=" in spec else (spec, "", "")
        models[model] = persona or None
    if none_class:
        models[f"charbench/{base}"] = None
    return models


def generate_logs(
    models: dict[str, str | None],
    log_dir: Path,
    prompts: int | None,
    max_tokens: int,
    seed: int,
    display: str | None = None,
) -> list[Path]:
    """Each model's replies to the bundled training prompts (`bench/responses -T partition=train`), one
    resumable Inspect eval set per model (so each log records its method's persona): an interrupted
    run picks up where it stopped."""
    from inspect_ai import eval_set

    from bench.coherence.coherence import responses
    from bench.models.specs import describe_model
    from charbench.paths import slug

    paths = []
    for model, persona in models.items():
        info = describe_model(model)
        metadata = {"method": info["method"], "method_persona": persona or info["persona"]}
        folder = log_dir / slug(model)
        ok, logs = eval_set(
            [responses(n=prompts, seed=seed, max_tokens=max_tokens, partition="train")],
            model=model,
            log_dir=str(folder),
            display=display,
            retry_attempts=1,
            log_dir_allow_dirty=True,
            metadata=metadata,
        )
        if not ok:
            raise CharbenchError(f"generating classifier data did not finish: re-run to resume ({folder})")
        paths += [_local_path(log.location) for log in logs]
    return paths


def _local_path(location: str) -> Path:
    """A log location as a path: Inspect writes `file:` / `file://` URIs for some of them."""
    return Path(location.removeprefix("file://").removeprefix("file:"))


def _by_prompt(rows: list[dict]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["prompt_sha"], []).append(row["text"])
    return groups


def split_rows(rows: list[dict], held_out: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out whole prompts, by the prompt's text hash: one text under two ids (two files, two
    logs) lands on one side, and two texts that share an id do not merge."""
    ids = sorted({r["prompt_sha"] for r in rows})
    train_ids, test_ids = split_by_prompt([UserPrompt(i, i) for i in ids], held_out=held_out, salt=f"classifier-{seed}")
    train_set, test_set = {p.id for p in train_ids}, {p.id for p in test_ids}
    train = [r for r in rows if r["prompt_sha"] in train_set]
    test = [r for r in rows if r["prompt_sha"] in test_set]
    assert not ({r["prompt_sha"] for r in train} & {r["prompt_sha"] for r in test}), "a prompt is on both sides"
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


def _prompt_list(rows: list[dict]) -> list[dict]:
    """Every distinct (id, text hash) pair: two prompts that share an id both stay checkable."""
    seen = sorted({(str(r["prompt_id"]), r["prompt_sha"]) for r in rows})
    return [{"id": i, "sha": sha} for i, sha in seen]


def train_classifier(
    rows: list[dict],
    out_dir: str | Path,
    config: ClassifierConfig,
    sources: list[str],
    skipped: list[dict] | None = None,
) -> dict:
    """Train, validate on prompts never seen in training (intervals clustered by prompt, chance,
    confusion matrix), and save model + labels + manifest + metrics."""
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    unhashed = sorted({str(r["prompt_id"]) for r in rows if not r.get("prompt_sha")})
    if unhashed:
        raise CharbenchError(
            f"{len(unhashed)} prompt(s) without a text hash (e.g. {unhashed[0]}): every row needs prompt_sha, so "
            "the prompts the classifier saw can be checked against an evaluation's"
        )
    empty = sum(not r["text"].strip() for r in rows)
    rows = [{"method": "file", **r} for r in rows if r["text"].strip()]
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
    # The head is initialised here, before the Trainer seeds anything: seeded now, or it draws from whatever
    # global random state earlier work in this process left (the same replies trained different classifiers).
    set_seed(config.seed)
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
    clf = PersonaClassifier(model, tokenizer, labels, str(out_dir), config.max_length)
    predicted = [max(p, key=p.get) for p in clf.predict([r["text"] for r in test])]
    metrics = validation_scores(
        [r["persona"] for r in test], predicted, [r["prompt_sha"] for r in test], labels, seed=config.seed
    )
    metrics["held_out_texts"], metrics["held_out_prompts"] = metrics["texts"], metrics["prompts"]
    metrics["held_out_by_method"] = by_method(
        [r["persona"] for r in test],
        predicted,
        [r["prompt_sha"] for r in test],
        [r["method"] for r in test],
        config.seed,
    )
    try:
        metrics["labelled"], _ = labelled_scores(clf, None, config.seed)
    except CharbenchError as err:  # e.g. custom personas the shipped texts do not cover: say so, keep the run
        metrics["labelled"] = {"notes": [str(err)]}
    methods: dict[str, dict[str, int]] = {}
    for r in rows:
        methods.setdefault(r["method"], {}).setdefault(r["persona"], 0)
        methods[r["method"]][r["persona"]] += 1
    manifest = {
        "sources": sources,
        "skipped": skipped or [],
        "dropped_empty_texts": empty,
        "backbone": backbone_label,
        "labels": labels,
        "none_class": NONE in labels,
        "methods": methods,
        # every model whose replies it learned, with its method: bench/robustness and bench/drift refuse to
        # score a steered or fine-tuned one of them (it would be scored on its own style)
        "models": {method_key(r["model"]): r["method"] for r in rows if r.get("model")},
        "counts": {
            "train": len(train),
            "held_out": len(test),
            "per_persona": {p: sum(r["persona"] == p for r in rows) for p in labels},
        },
        # every prompt seen, by id and text hash: bench/robustness refuses to score any of them
        "prompts": {"train": _prompt_list(train), "held_out": _prompt_list(test)},
        "prompt_ids_hash": prompt_set_hash([UserPrompt(r["prompt_id"], "") for r in rows]),
        # one reply per (method, persona, prompt): recorded, not enforced; a low ratio means personas read alike
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
