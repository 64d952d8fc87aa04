"""Stage trainers on TRL + PEFT: DPO (with the reference's NLL term), SFT, and adapter merging.

Each writes its checkpoint to `<out>.partial` and renames it when complete, with the resolved settings
in `charbench_train.json` and the prompts it trained on in `charbench_prompts.json` (with those of its
base), so an interrupted run never leaves a directory that looks finished, and scoring can tell when a
checkpoint has seen an eval prompt. Under `accelerate launch` (configs in `accelerate/`) every process
trains and only the main one writes; gradient accumulation is derived so that the effective batch stays
the reference's 32 on any number of GPUs.

The reference's recipe: AdamW with beta2 0.98, a cosine schedule that ends at 0.1 x lr (TRL/transformers
`cosine_with_min_lr`), warmup 0.1, LoRA r=64/alpha=128 on every linear layer. DPO pairs longer than
`max_length` are dropped and counted (as the reference did), not cut by TRL (which would cut off the
end-of-turn token). SFT rows are prompt/completion, so only the final assistant turn carries loss.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from charbench.errors import CharbenchError


@dataclass
class LoraSettings:
    """LoRA and optimisation defaults from the reference (r=64, alpha=128, lr 5e-5, 1 epoch, batch 32).

    `batch_size` is per device; `grad_accum` None derives it from `effective_batch` (see `batch_plan`).
    """

    lora_r: int = 64
    lora_alpha: int = 128
    learning_rate: float = 5e-5
    epochs: float = 1.0
    batch_size: int = 4
    effective_batch: int = 32  # rows per optimiser step over all processes (reference)
    grad_accum: int | None = None  # None: enough steps to reach effective_batch (8 on one device)
    warmup_ratio: float = 0.1
    adam_beta2: float = 0.98  # reference
    min_lr_rate: float = 0.1  # cosine down to 0.1 x lr (reference)
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


def batch_plan(settings: LoraSettings, world_size: int) -> dict:
    """How many rows each optimiser step sees on `world_size` processes, recorded with the checkpoint.

    A step sees per-device batch x processes x grad_accum rows. Derived, grad_accum is rounded up so a
    step sees at least `effective_batch` rows, and exactly that when it divides (4 x 2 GPUs x 4 = 32);
    the achieved value is what is recorded, so a run that could not hit 32 says so. An explicit
    grad_accum wins.
    """
    derived = settings.grad_accum is None
    if settings.batch_size < 1 or settings.effective_batch < 1 or (not derived and settings.grad_accum < 1):
        raise CharbenchError("batch_size, grad_accum and effective_batch must be at least 1")
    per_step = settings.batch_size * world_size
    grad_accum = -(-settings.effective_batch // per_step) if derived else settings.grad_accum
    return {
        "world_size": world_size,
        "per_device_batch": settings.batch_size,
        "grad_accum": grad_accum,
        "grad_accum_from": "effective_batch" if derived else "explicit",
        "effective_batch": per_step * grad_accum,
        "effective_batch_requested": settings.effective_batch,
    }


def _world_size() -> int:
    """The processes training together, as the launcher (accelerate/torchrun, MPI) told them; 1 for a plain run.

    Read from the environment with accelerate's reader, not by creating a `PartialState`: that would set
    up the process group before the trainer does, without the trainer's timeout.
    """
    from accelerate.utils.environment import get_cpu_distributed_information

    return get_cpu_distributed_information().world_size


def _load_rows(path: str, needed: tuple[str, ...], convert=None) -> list[dict]:
    """The rows of a training file, each `convert`ed (if given) and checked for the `needed` keys."""
    from charbench.jsonl import read_jsonl

    if not Path(path).is_file():
        raise CharbenchError(f"training data {path} does not exist")
    rows = [row for _, row in read_jsonl(path)]
    if not rows:
        raise CharbenchError(f"{path} holds no rows: the dataset is empty")
    if convert is not None:
        rows = [convert(row) for row in rows]
    for n, row in enumerate(rows, 1):
        missing = [k for k in needed if k not in row]
        if missing:
            raise CharbenchError(f"{path}:{n}: the row lacks {', '.join(missing)}")
    return rows


def as_prompt_completion(row: dict) -> dict:
    """An SFT row in TRL's prompt/completion form (TRL then puts loss on the completion only).

    A `{"messages": [...]}` row (the reference's format) becomes prompt = every turn but the last,
    completion = the last, which must be the assistant's.
    """
    if "prompt" in row and "completion" in row:
        return row
    messages = row.get("messages")
    if (
        not isinstance(messages, list)
        or len(messages) < 2
        or not all(isinstance(m, dict) for m in messages)
        or messages[-1].get("role") != "assistant"
    ):
        raise CharbenchError(
            "an SFT row needs prompt+completion, or messages ending with an assistant turn: fix the data file"
        )
    return {**{k: v for k, v in row.items() if k != "messages"}, "prompt": messages[:-1], "completion": messages[-1:]}


def first_user_text(messages: list[dict]) -> str:
    return next((m["content"] for m in messages if m.get("role") == "user"), "")


def fitting_rows(
    rows: list[dict], tokenizer, max_length: int, answers: tuple[str, ...]
) -> tuple[list[dict], dict[str, int]]:
    """The rows whose templated prompt + each answer column fits in `max_length` tokens; the rest counted.

    TRL would cut a longer row from the end, losing its end-of-turn token (DPO) or its only trained
    tokens (SFT, where the completion is last), without saying so.
    """
    kept, dropped = [], {}
    for row in rows:
        if not all(isinstance(row[k], list) for k in ("prompt", *answers)):
            raise CharbenchError(
                "training rows must be conversational (lists of {role, content} messages), not plain text"
            )
        longest = max(
            len(
                tokenizer(
                    tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=False), add_special_tokens=False
                )["input_ids"]
            )
            for side in answers
        )
        if longest > max_length:
            dropped["longer_than_max_length"] = dropped.get("longer_than_max_length", 0) + 1
        else:
            kept.append(row)
    return kept, dropped


def fitting_pairs(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], dict[str, int]]:
    """The DPO pairs whose templated prompt + chosen and prompt + rejected both fit in `max_length` tokens."""
    return fitting_rows(rows, tokenizer, max_length, ("chosen", "rejected"))


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


def _common(settings: LoraSettings, scratch: str, gpu: bool, grad_accum: int) -> dict:
    import torch

    return dict(
        output_dir=scratch,
        learning_rate=settings.learning_rate,
        adam_beta2=settings.adam_beta2,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": settings.min_lr_rate},
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=grad_accum,
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


@contextmanager
def _main_process_writes():
    """`with _main_process_writes() as writer:` the body writes only where `writer` is true.

    Under `accelerate launch` every process runs the stage; only the main one may clear, write and
    rename, or they race on the same paths. All leave together (the barrier is in a `finally`, so a
    failing main process does not leave the others waiting), and none goes on to the next stage before
    the files exist. A plain run is one process, its own main.
    """
    from accelerate import PartialState

    state = PartialState()
    try:
        yield state.is_main_process
    finally:
        state.wait_for_everyone()


def _finish(trainer, out: Path, record: dict, base: str, prompts: list[dict]) -> Path:
    """Save the adapter (safetensors) to `<out>.partial`, record and rename it; every process calls it.

    `save_model` must run on every process: under DeepSpeed ZeRO-3 it is a collective that gathers the
    sharded weights. It writes the adapter and tokenizer from the main process only.
    """
    from trainers.provenance import write_trained_prompts

    partial = out.with_name(out.name + ".partial")
    with _main_process_writes() as writer:
        if writer:
            shutil.rmtree(partial, ignore_errors=True)
    trainer.save_model(str(partial))
    with _main_process_writes() as writer:
        if writer:
            if not (partial / "adapter_model.safetensors").is_file():
                raise CharbenchError(f"{partial}: the trainer saved no adapter_model.safetensors")
            (partial / "training_args.bin").unlink(missing_ok=True)  # a pickle; the settings are recorded below
            history = [h for h in trainer.state.log_history if "loss" in h]
            (partial / "charbench_train.json").write_text(json.dumps({**record, "log_history": history}, indent=2))
            write_trained_prompts(partial, base, prompts)
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
    convert=None,
    keep=None,
    train: bool = True,
    **config_extra,
):
    """Shared by DPO and SFT: load rows and a fresh model, train a LoRA adapter, save it atomically.

    `convert(row) -> row` rewrites each row (SFT: to prompt/completion); `keep(rows, tokenizer) ->
    (rows, dropped_by_reason)` filters them before training (DPO: pairs that fit). Only the columns TRL
    needs reach it; each row's first user turn is recorded as a trained prompt.
    `train=False` returns the configured trainer instead (tests read its tokenized dataset and masks).
    """
    from datasets import Dataset

    from trainers.provenance import prompt_record

    rows = _load_rows(data, needed, convert)
    batch = batch_plan(settings, _world_size())
    policy, tokenizer, gpu, source = _training_model(model)
    rows, dropped = keep(rows, tokenizer) if keep else (rows, {})
    if not rows:
        raise CharbenchError(f"{data}: no row left to train on ({dropped}): raise max_length or check the data")
    prompts = {}
    for n, row in enumerate(rows):
        text = first_user_text(row["prompt"])
        prompts.setdefault(text, prompt_record(str(row.get("prompt_id", f"{Path(data).stem}-{n:05d}")), text, stage))
    with tempfile.TemporaryDirectory() as scratch:
        trainer = trainer_class(
            model=policy,
            args=config_class(**_common(settings, scratch, gpu, batch["grad_accum"]), **config_extra),
            train_dataset=Dataset.from_list([{k: row[k] for k in needed} for row in rows]),
            processing_class=tokenizer,
            peft_config=_lora(settings),
        )
        if trainer.args.world_size != batch["world_size"]:
            raise CharbenchError(
                f"the launcher set {batch['world_size']} processes but the trainer runs {trainer.args.world_size}"
            )
        if not train:
            return trainer
        trainer.train()
        record = {
            "stage": stage,
            "data": data,
            "base": source,
            "settings": asdict(settings),
            "batch": batch,
            "rows": len(rows),
            "dropped_by_reason": dropped,
        }
        return _finish(trainer, Path(out), record, model, list(prompts.values()))


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
        keep=lambda rows, tokenizer: fitting_pairs(rows, tokenizer, settings.max_length),
        beta=settings.beta,
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, settings.nll_weight],
    )


def train_sft(data: str, model: str, out: str, settings: SFTSettings = SFTSettings(), train: bool = True):
    """SFT on prompt/completion rows (or `messages` rows, converted): loss on the final assistant turn."""
    from trl import SFTConfig, SFTTrainer

    return _train(
        "sft",
        data,
        model,
        out,
        settings,
        ("prompt", "completion"),
        SFTConfig,
        SFTTrainer,
        convert=as_prompt_completion,
        keep=lambda rows, tokenizer: fitting_rows(rows, tokenizer, settings.max_length, ("completion",)),
        train=train,
        completion_only_loss=True,
    )


def checkpoint_dtype(model: str) -> str:
    """The dtype a checkpoint's config says its weights are in (what users load); float32 if unsaid."""
    from transformers import AutoConfig

    from bench.models.loader import resolve_source

    config = AutoConfig.from_pretrained(resolve_source(model))
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return str(dtype).removeprefix("torch.") if dtype else "float32"


def merge(adapter: str, out: str) -> Path:
    """Fold a LoRA adapter into its base and save a standalone safetensors checkpoint.

    The merge is computed in float32 and saved in the base checkpoint's dtype (bf16 for a bf16 base:
    half the disk of fp32, and what `from_pretrained` users would load anyway). Under `accelerate launch`
    (`train all` on several GPUs) the main process merges and the others wait for it.
    """
    if not (Path(adapter) / "adapter_config.json").is_file():
        raise CharbenchError(f"{adapter} is not a LoRA adapter directory (no adapter_config.json)")
    target = Path(out)
    with _main_process_writes() as writer:
        if writer:
            _write_merged(adapter, target)
    return target


def _write_merged(adapter: str, target: Path) -> None:
    import torch

    from bench.models.loader import adapter_base, load_causal_lm, release
    from trainers.provenance import copy_trained_prompts

    dtype = checkpoint_dtype(adapter_base(str(Path(adapter).resolve())) or adapter)
    merged = load_causal_lm(adapter, merge_adapter=True, device="cpu", dtype="float32")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    release(merged)  # cast in place below: no later load may get this copy
    merged.model.to(getattr(torch, dtype)).save_pretrained(partial, safe_serialization=True)
    merged.tokenizer.save_pretrained(partial)
    copy_trained_prompts(Path(adapter), partial)
    (partial / "charbench_merge.json").write_text(
        json.dumps({"adapter": str(Path(adapter).resolve()), "dtype": dtype}, indent=2)
    )
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


# The reference's published persona adapter: its DPO adapter and its introspection SFT adapter combined
# into one LoRA on the base model by PEFT's add_weighted_adapter, "linear", weights 1.0 and 0.25
# (`tools/merge_loras.py` in maiush/OpenCharacterTraining).
REFERENCE_COMBINATION = {"weights": (1.0, 0.25), "combination_type": "linear"}


def combine(
    adapters: list[str],
    out: str,
    weights: tuple[float, ...] = REFERENCE_COMBINATION["weights"],
    combination_type: str = REFERENCE_COMBINATION["combination_type"],
) -> Path:
    """One LoRA adapter on the first adapter's base from a weighted combination of `adapters`.

    PEFT's "linear" combination (the reference's) sums the adapters' factors scaled by sqrt(weight), so
    it is a weighted sum of the deltas only up to cross terms; "cat" gives the exact weighted sum at the
    sum of the ranks. The weights and the type are recorded in `charbench_combine.json` beside the
    adapter, so a `dpo+introspection` row says what it is.
    """
    if len(adapters) != len(weights):
        raise CharbenchError(f"combine: {len(adapters)} adapters but {len(weights)} weights")
    for adapter in adapters:
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise CharbenchError(f"{adapter} is not a LoRA adapter directory (no adapter_config.json)")
    target = Path(out)
    with _main_process_writes() as writer:
        if writer:
            _write_combined(adapters, target, weights, combination_type)
    return target


def _write_combined(adapters: list[str], target: Path, weights: tuple[float, ...], combination_type: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from bench.models.loader import adapter_base, resolve_source
    from trainers.provenance import copy_trained_prompts

    base = adapter_base(str(Path(adapters[0]).resolve()))
    assert base is not None
    model = AutoModelForCausalLM.from_pretrained(resolve_source(base), dtype=torch.float32)
    names = [f"a{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(model, adapters[0], adapter_name=names[0])
    for name, adapter in zip(names[1:], adapters[1:]):
        model.load_adapter(adapter, adapter_name=name)
    model.add_weighted_adapter(
        adapters=names, weights=list(weights), adapter_name="combined", combination_type=combination_type
    )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, selected_adapters=["combined"], safe_serialization=True)
    for file in (partial / "combined").iterdir():  # PEFT puts a non-default adapter in a subfolder
        file.rename(partial / file.name)
    (partial / "combined").rmdir()
    config = json.loads((partial / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base  # the base the first adapter was trained on
    (partial / "adapter_config.json").write_text(json.dumps(config, indent=2))
    copy_trained_prompts(Path(adapters[-1]), partial)  # the last stage's record holds the earlier ones
    record = {
        "adapters": [str(Path(a).resolve()) for a in adapters],
        "weights": list(weights),
        "combination_type": combination_type,
        "base": base,
    }
    (partial / "charbench_combine.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
