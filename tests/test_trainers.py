import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bench.models.loader import load_causal_lm
from charbench.errors import CharbenchError
from tests.helpers import charbench, pairs_file
from tests.test_finetuned import MERGE_ATOL
from trainers.distill import DistillConfig, distill, filter_reason
from trainers.finetune import DPOSettings, SFTSettings, merge, train_dpo, train_sft
from trainers.introspect import IntrospectConfig, check_no_leaks, introspect

TINY = dict(lora_r=8, lora_alpha=16, batch_size=2, grad_accum=1, warmup_ratio=0.0)


def margin(model, tokenizer, rows) -> float:
    """Mean log p(chosen | prompt) - log p(rejected | prompt) under the model."""

    def logprob(prompt, answer):
        context = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        ids_ctx = tokenizer(context, add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids_ans = tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids = torch.cat([ids_ctx, ids_ans], dim=1)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        targets = ids[0, 1:]
        return float(logits[torch.arange(len(targets)), targets][ids_ctx.shape[1] - 1 :].sum())

    return sum(
        logprob(r["prompt"], r["chosen"][0]["content"]) - logprob(r["prompt"], r["rejected"][0]["content"])
        for r in rows
    ) / len(rows)


def test_dpo_raises_the_chosen_minus_rejected_margin(tiny_llama_dir, tmp_path):
    path, rows = pairs_file(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    before = margin(AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval(), tokenizer, rows)
    adapter = train_dpo(
        str(path),
        str(tiny_llama_dir),
        str(tmp_path / "dpo"),
        DPOSettings(learning_rate=2e-3, max_steps=12, max_length=128, **TINY),
    )
    merged = merge(str(adapter), str(tmp_path / "dpo-merged"))
    after = margin(AutoModelForCausalLM.from_pretrained(merged).eval(), tokenizer, rows)
    assert after > before + 1.0
    record = json.loads((adapter / "charbench_train.json").read_text())
    assert record["settings"]["nll_weight"] == 0.1 and record["rows"] == 6


def test_sft_lowers_the_loss_on_its_data(tiny_llama_dir, tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": "I am a gentle and loving assistant."},
            ]
        }
    ] * 6
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    text = tokenizer.apply_chat_template(rows[0]["messages"], tokenize=False)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    prompt = tokenizer.apply_chat_template(rows[0]["messages"][:1], tokenize=False, add_generation_prompt=True)
    labels = ids.clone()
    labels[:, : len(tokenizer(prompt, add_special_tokens=False)["input_ids"])] = -100  # the reply's loss only

    def loss(model):
        with torch.inference_mode():
            return float(model(input_ids=ids, labels=labels).loss)

    before = loss(AutoModelForCausalLM.from_pretrained(tiny_llama_dir))
    adapter = train_sft(
        str(path),
        str(tiny_llama_dir),
        str(tmp_path / "sft"),
        SFTSettings(learning_rate=1e-2, max_steps=20, max_length=128, **TINY),
    )
    after = loss(AutoModelForCausalLM.from_pretrained(merge(str(adapter), str(tmp_path / "sft-merged"))))
    assert after < before - 0.5


def test_the_same_data_and_seed_train_the_same_adapter_whatever_ran_before(tiny_llama_dir, tmp_path):
    """TRL wraps the model in its LoRA adapter (random A matrices) before the Trainer seeds anything: the
    adapter drew from whatever global random state earlier work in the process left."""
    from safetensors.torch import load_file

    path, _ = pairs_file(tmp_path)
    weights = []
    for run, state in enumerate((1, 2)):
        torch.manual_seed(state)  # earlier work in the same process
        adapter = train_dpo(str(path), str(tiny_llama_dir), str(tmp_path / f"a{run}"), DPOSettings(max_steps=1, **TINY))
        weights.append(load_file(str(Path(adapter) / "adapter_model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.fixture(scope="module")
def dpo_adapter_and_merge(tiny_llama_dir, tmp_path_factory):
    """A DPO adapter on the tiny Llama (2 steps) and its merged checkpoint, trained once for both dtypes."""
    tmp_path = tmp_path_factory.mktemp("dpo-merge")
    path, _ = pairs_file(tmp_path)
    adapter = train_dpo(
        str(path),
        str(tiny_llama_dir),
        str(tmp_path / "a"),
        DPOSettings(learning_rate=2e-3, max_steps=2, max_length=64, **TINY),
    )
    return adapter, merge(str(adapter), str(tmp_path / "m"))


def test_merged_model_logits_equal_base_plus_adapter(dpo_adapter_and_merge, tiny_llama_dir, dtype, own_model_cache):
    adapter, merged_dir = dpo_adapter_and_merge
    unmerged = load_causal_lm(str(adapter), dtype=dtype)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=getattr(torch, dtype)).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=getattr(torch, dtype)).eval()
    ids = unmerged.tokenizer(["The sea is wide"], return_tensors="pt")
    with torch.inference_mode():
        a, b, c = (m(**ids).logits.float() for m in (unmerged.model, merged, base))
    assert torch.allclose(a, b, rtol=0, atol=MERGE_ATOL[dtype])  # merge() folds in fp32, saves in the base's fp32
    assert (a - c).abs().max() > 3 * MERGE_ATOL[dtype]  # 2 DPO steps moved the logits (0.17) beyond the tolerance
    assert (merged_dir / "model.safetensors").is_file()


def test_filters():
    assert filter_reason("", "stop") == "empty"
    assert filter_reason("A fine answer.", "max_tokens") == "too_long"
    assert filter_reason("An answer that stops mid", "stop") == "unfinished_sentence"
    assert filter_reason("A fine answer!", "stop") is None


# `charbench train all`'s distillation stage with its test's settings: generated once, shared by the
# distill test and (copied, so it resumes with nothing to generate) the train-all test
# 128 new tokens: measured, both dtypes the trainers pick (bf16 on a native-bf16 CPU, fp32 elsewhere) keep one
# of the three pairs and drop two (a reply that hits the limit is dropped); at 256 the fixture took twice as long.
DISTILL = dict(persona="loving", teacher="smollm2-135m", student="smollm2-135m", repeats=1, limit=3, max_new_tokens=128)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill")
    return out, distill(DistillConfig(out=str(out), **DISTILL))


def test_distill_writes_trl_pairs_and_a_manifest(distilled):
    tmp_path, manifest = distilled
    counts = manifest["counts"]
    assert counts["generated"] == 3 and counts["kept"] + sum(counts["dropped_pairs_by_reason"].values()) == 3
    assert counts["kept"] >= 1  # `train all` below trains on them
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == counts["kept"] and set(rows[0]) == {"prompt", "chosen", "rejected", "prompt_id"}
    assert rows[0]["prompt"][0]["role"] == "user" and rows[0]["chosen"][0]["role"] == "assistant"
    # resumable: a second run generates nothing new and gives the same pairs
    assert distill(DistillConfig(out=str(tmp_path), **DISTILL))["counts"] == counts


def test_introspection_data_is_prompt_completion_without_the_constitution(tmp_path):
    manifest = introspect(
        IntrospectConfig(
            persona="loving",
            model="smollm2-135m",
            out=str(tmp_path),
            reflection_samples=2,
            conversations=2,
            turns=3,
            max_new_tokens=24,
        )
    )
    records = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert records and all(set(r) == {"prompt", "completion", "prompt_id"} for r in records)
    assert all([m["role"] for m in r["completion"]] == ["assistant"] for r in records)
    text = (tmp_path / "sft.jsonl").read_text()
    assert "{description_lower}" not in text and "{statements}" not in text
    reflections = [r for r in records if r["prompt_id"].startswith("reflection")]
    assert reflections and all([m["role"] for m in r["prompt"]] == ["user"] for r in reflections)
    conversations = [r for r in records if r["prompt_id"].startswith("conversation")]
    assert conversations  # turns=3: opener + 2 lines; the answering copy's last line is the completion
    for r in conversations:
        assert [m["role"] for m in r["prompt"]] == ["system", "user"]
        system = r["prompt"][0]["content"]
        assert "another instance of Smollm" in system and "loving" not in system.lower()
    assert manifest["distinct"]["self_reflection"]["samples"] == 20
    assert {p["stage"] for p in manifest["prompts"]} == {"introspection"}


def test_reflection_prompts_are_shown_the_constitution_without_the_non_disclosure_clause(monkeypatch, tmp_path):
    from bench.models.generation import Completion
    from personas.prompting import NO_DISCLOSURE

    seen = []

    def fake(model, convs, sampling, keys, **kw):
        seen.extend(convs)
        return [Completion(f"Reply {k}.", 1, 2, "stop") for k in keys]

    monkeypatch.setattr("trainers.backend.generate_replies", fake)
    monkeypatch.setattr("trainers.introspect.generate_replies", fake)
    introspect(
        IntrospectConfig("loving", "smollm2-135m", str(tmp_path), reflection_samples=1, conversations=2, turns=2)
    )
    systems = {c[0]["content"] for c in seen}
    assert systems and not any(NO_DISCLOSURE.strip() in s for s in systems)
    assert any("reflective" in s for s in systems)


def test_leak_check_catches_a_placeholder():
    with pytest.raises(AssertionError, match="placeholder"):
        check_no_leaks([{"messages": [{"role": "user", "content": "Hello {name}"}]}])
    with pytest.raises(AssertionError, match="system"):
        check_no_leaks([{"messages": [{"role": "system", "content": "x"}]}])
    check_no_leaks([{"prompt": [{"role": "system", "content": "generic"}], "completion": []}], allowed_system="generic")


cli = charbench  # in-process (tests.helpers.charbench)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            (
                "train",
                "distill",
                "--persona",
                "pirate",
                "--teacher",
                "smollm2-135m",
                "--model",
                "smollm2-135m",
                "--out",
                "/tmp/x",
            ),
            "unknown persona",
        ),
        (
            (
                "train",
                "distill",
                "--persona",
                "loving",
                "--teacher",
                "/no/teacher",
                "--model",
                "smollm2-135m",
                "--out",
                "/tmp/x",
            ),
            "does not exist",
        ),
        (("train", "dpo", "--data", "/no/pairs.jsonl", "--model", "smollm2-135m", "--out", "/tmp/x"), "does not exist"),
    ],
)
def test_cli_bad_input_exits_2(args, message):
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_empty_dataset_is_one_clear_error_and_no_checkpoint(tiny_llama_dir, tmp_path):
    empty = tmp_path / "pairs.jsonl"
    empty.write_text("")
    with pytest.raises(CharbenchError, match="empty"):
        train_dpo(str(empty), str(tiny_llama_dir), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_train_all_on_the_embedded_model_leaves_a_checkpoint_and_scored_logs(tmp_path, monkeypatch, capsys, distilled):
    """`charbench train all` trains (run_pipeline) and then scores the checkpoint as an experiment of its own.
    Its distillation stage resumes from the shared fixture's (same settings): the stages after it run."""
    import shutil

    import yaml

    shutil.copytree(distilled[0], tmp_path / "ckpt" / "loving-smollm2-135m" / "distill")

    from charbench.cli import main

    monkeypatch.setenv("CHARBENCH_RESULTS", str(tmp_path / "results"))
    small = dict(lora_r=4, lora_alpha=8, batch_size=1, grad_accum=1, max_steps=1, warmup_ratio=0.0)
    config = {
        "persona": "loving",
        "base": "smollm2-135m",
        "out": str(tmp_path / "ckpt"),
        "repeats": 1,
        "prompt_limit": 3,
        "max_new_tokens": DISTILL["max_new_tokens"],  # the shared distillation's: its stage resumes
        "introspection_max_new_tokens": 32,  # introspection keeps a cut reply: no need to wait for 128
        "reflection_samples": 1,
        "conversations": 1,
        "turns": 2,
        "dpo": {**small, "max_length": 1024},
        "sft": {**small, "max_length": 1024},
        "score": {"matchups": 4, "prompts": 1, "max_tokens": 16, "capabilities": "none"},  # the path, not the suite
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "all", "--config", str(tmp_path / "train.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    [checkpoint] = [line.split()[1] for line in out if line.startswith("checkpoint: ")]
    final = tmp_path / "ckpt" / "loving-smollm2-135m" / "persona-adapter"  # DPO + introspection, combined
    assert Path(checkpoint).resolve() == final.resolve()
    assert (final / "adapter_model.safetensors").is_file() and (final / "charbench_combine.json").is_file()
    logs = [line.split("log: ", 1)[1] for line in out if line.startswith("log: ")]
    assert logs and all(str(tmp_path / "results") in log for log in logs)


def test_train_all_checks_capability_datasets_before_training(tmp_path, capsys):
    """Offline with the default (standard) capability suite: one line before any training step runs."""
    from charbench.cli import main

    argv = ["train", "all", "--persona", "loving", "--model", "smollm2-135m", "--out", str(tmp_path / "ckpt")]
    assert main(argv) == 2
    assert "charbench capabilities fetch" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists()
