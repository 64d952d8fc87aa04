"""Stage trainers on TRL + PEFT: DPO (with the reference's NLL term), SFT, and adapter merging.

Each writes its checkpoint to `<out>.partial` and renames it when complete, with the resolved settings
in `charbench_train.json`, so an interrupted run never leaves a directory that looks finished.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from charbench.errors import CharbenchError


@dataclass
class LoraSettings:
    """LoRA and optimisation defaults from the reference (r=64, alpha=128, lr 5e-5, 1 epoch, batch 32)."""

    lora_r: int = 64
    lora_alpha: int = 128
    learning_rate: float = 5e-5
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 8  # 4 x 8 = effective batch 32
    warmup_ratio: float = 0.1
    max_steps: int = -1
    seed: int = 0


@dataclass
class DPOSettings(LoraSettings):
    beta: float = 0.1
    nll_weight: float = 0.1  # the reference's 0.1 x NLL on the chosen answer -> TRL loss_type ["sigmoid", "sft"]
    max_length: int = 1024


@dataclass
class SFTSettings(LoraSettings):
    max_length: int = 3072


def _load_rows(path: str, needed: tuple[str, ...]) -> list[dict]:
    from charbench.jsonl import read_jsonl

    if not Path(path).is_file():
        raise CharbenchError(f"training data {path} does not exist")
    rows = [row for _, row in read_jsonl(path)]
    if not rows:
        raise CharbenchError(f"{path} holds no rows: the dataset is empty")
    missing = [k for k in needed if k not in rows[0]]
    if missing:
        raise CharbenchError(f"{path}: rows lack {', '.join(missing)}")
    return rows


def _training_model(model: str):
    """A fresh copy for training (training mutates weights; generation keeps its memoised copy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bench.models.loader import resolve_source

    source = resolve_source(model)
    gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(source, dtype=dtype), tokenizer, gpu, source


def _lora(settings: LoraSettings):
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        target_modules="all-linear",
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )


def _common(settings: LoraSettings, scratch: str, gpu: bool) -> dict:
    import torch

    return dict(
        output_dir=scratch,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        warmup_steps=settings.warmup_ratio,
        max_steps=settings.max_steps,
        seed=settings.seed,
        use_cpu=not gpu,
        bf16=gpu and torch.cuda.is_bf16_supported(),
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        max_length=settings.max_length,
    )


def _finish(trainer, tokenizer, out: Path, record: dict) -> Path:
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    trainer.model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    history = [h for h in trainer.state.log_history if "loss" in h]
    (partial / "charbench_train.json").write_text(json.dumps({**record, "log_history": history}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def _train(
    stage: str,
    data: str,
    model: str,
    out: str,
    settings: LoraSettings,
    needed: tuple[str, ...],
    config_class,
    trainer_class,
    **config_extra,
) -> Path:
    """Shared by DPO and SFT: load rows and a fresh model, train a LoRA adapter, save it atomically."""
    from datasets import Dataset

    rows = _load_rows(data, needed)
    policy, tokenizer, gpu, source = _training_model(model)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = trainer_class(
            model=policy,
            args=config_class(**_common(settings, scratch, gpu), **config_extra),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=_lora(settings),
        )
        trainer.train()
        record = {"stage": stage, "data": data, "base": source, "settings": asdict(settings), "rows": len(rows)}
        return _finish(trainer, tokenizer, Path(out), record)


def train_dpo(data: str, model: str, out: str, settings: DPOSettings = DPOSettings()) -> Path:
    """DPO + `nll_weight` x NLL of the chosen answer (TRL loss_type ["sigmoid", "sft"]) on a LoRA adapter."""
    from trl import DPOConfig, DPOTrainer

    return _train(
        "dpo",
        data,
        model,
        out,
        settings,
        ("prompt", "chosen", "rejected"),
        DPOConfig,
        DPOTrainer,
        beta=settings.beta,
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, settings.nll_weight],
    )


def train_sft(data: str, model: str, out: str, settings: SFTSettings = SFTSettings()) -> Path:
    from trl import SFTConfig, SFTTrainer

    return _train("sft", data, model, out, settings, ("messages",), SFTConfig, SFTTrainer)


def merge(adapter: str, out: str) -> Path:
    """Fold a LoRA adapter into its base and save a standalone safetensors checkpoint."""
    from bench.models.loader import load_causal_lm

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise CharbenchError(f"{adapter} is not a LoRA adapter directory (no adapter_config.json)")
    merged = load_causal_lm(adapter, merge_adapter=True, device="cpu", dtype="float32")
    target = Path(out)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    merged.model.save_pretrained(partial, safe_serialization=True)
    merged.tokenizer.save_pretrained(partial)
    (partial / "charbench_merge.json").write_text(json.dumps({"adapter": str(adapter)}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
