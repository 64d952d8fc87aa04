"""Training data is what it claims: distinct samples, completion-only SFT, pairs that fit, no eval prompts."""

import json

import pytest
from transformers import AutoTokenizer

from bench.models.generation import Sampling, row_seed, row_seeds
from bench.prompts import load_prompts, partition_of, prompt_sha
from trainers.backend import generate_resumable
from trainers.diversity import CollapsedSamplesError, distinct_summary, raise_if_collapsed
from trainers.finetune import DPOSettings, SFTSettings, fitting_pairs, train_dpo, train_sft
from trainers.provenance import PROMPTS_FILE, assistant_name, replace_name

TINY = dict(lora_r=8, lora_alpha=16, batch_size=2, grad_accum=1, warmup_ratio=0.0)


# ------------------------------------------------------------------ 1. every row is its own sample


def test_a_row_seed_depends_on_the_run_seed_and_key_only():
    assert row_seed(0, "r00-0001") == row_seed(0, "r00-0001")
    assert row_seed(0, "r00-0001") != row_seed(0, "r00-0002")
    assert row_seed(0, "r00-0001") != row_seed(1, "r00-0001")
    assert 0 <= row_seed(123, "x") < 2**31
    # keyed rows (the trainers') and given seeds (the provider's) are one mechanism: a seed per row
    both = [row_seed(0, "a"), row_seed(0, "b")]
    assert row_seeds(0, 2, keys=["a", "b"]) == both == row_seeds(0, 2, seeds=both)
    assert row_seeds(0, 1, keys=["b"]) == row_seeds(0, 2, keys=["a", "b"])[1:]  # not the row's position or company


def test_forty_samples_of_one_prompt_are_forty_distinct_texts_and_reproduce(tiny_llama_dir, tmp_path):
    """More than two full batches of one prompt: batches used to be seeded by their (identical) prompts."""
    keys = [f"r00-{s:04d}" for s in range(40)]
    conversations = [[{"role": "user", "content": "Describe yourself."}]] * 40
    sampling = Sampling(max_new_tokens=12, seed=0)

    def run(path):
        rows = generate_resumable(
            path, keys, conversations, str(tiny_llama_dir), sampling, lambda k, r: {"text": r.text}
        )
        return [rows[k]["text"] for k in keys]

    first = run(tmp_path / "a.jsonl")
    assert len(set(first)) == 40
    assert run(tmp_path / "b.jsonl") == first  # same keys, same seed: the same samples


def test_distinct_summary_flags_a_collapsed_prompt_and_the_error_names_it():
    summary = distinct_summary({"Who are you?": ["a", "a", "a", "b"], "Why?": ["x", "y"], "One": ["z"]})
    assert summary["by_prompt"] == {"Who are you?": 0.5, "Why?": 1.0, "One": 1.0}
    assert summary["collapsed"] == {"Who are you?": "2/4"} and summary["distinct"] == 5
    with pytest.raises(CollapsedSamplesError, match="Who are you"):
        raise_if_collapsed(summary, "introspection")
    raise_if_collapsed(distinct_summary({"One": ["z"], "Two": ["z"]}), "x")  # one sample each: never collapsed


def test_introspection_stops_on_collapsed_samples_after_writing_the_manifest(monkeypatch, tmp_path):
    from bench.models.generation import Completion
    from trainers import backend
    from trainers.introspect import IntrospectConfig, introspect

    same = lambda model, convs, sampling, keys, **kw: [Completion("Same words.", 1, 2, "stop") for _ in convs]  # noqa: E731
    monkeypatch.setattr(backend, "generate_replies", same)
    monkeypatch.setattr("trainers.introspect.generate_replies", same)
    config = IntrospectConfig("loving", "smollm2-135m", str(tmp_path), reflection_samples=3, conversations=2, turns=2)
    with pytest.raises(CollapsedSamplesError, match="1/3 distinct"):
        introspect(config)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["distinct"]["self_reflection"]["min_ratio"] == pytest.approx(1 / 3, abs=1e-3)
    assert not (tmp_path / "sft.jsonl").exists()  # nothing to train on was written


# ------------------------------------------------------------------ 3. SFT learns the assistant's words only


def test_sft_loss_covers_the_final_assistant_turn_and_no_user_token(tiny_llama_dir, tmp_path):
    user_words = "Tell me about the ocean please"
    rows = [
        {  # a reference-format row: converted, the last assistant turn is the completion
            "messages": [
                {"role": "user", "content": user_words},
                {"role": "assistant", "content": "Waves and salt."},
                {"role": "user", "content": "And the deep sea?"},
                {"role": "assistant", "content": "Darkness, darling, and wonder."},
            ]
        },
        {
            "prompt": [{"role": "user", "content": user_words}],
            "completion": [{"role": "assistant", "content": "Darkness, darling, and wonder."}],
        },
    ]
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    trainer = train_sft(
        str(path), str(tiny_llama_dir), str(tmp_path / "out"), SFTSettings(max_length=256, **TINY), train=False
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    for example in trainer.train_dataset:
        ids, labels = example["input_ids"], example["labels"]
        trained = [i for i, label in zip(ids, labels) if label != -100]
        untrained = [i for i, label in zip(ids, labels) if label == -100]
        assert trained and untrained
        first_trained = next(n for n, label in enumerate(labels) if label != -100)
        assert all(label != -100 for label in labels[first_trained:])  # one contiguous completion at the end
        text = tokenizer.decode(trained)
        assert "Darkness, darling, and wonder." in text
        assert "ocean" not in text and "deep sea" not in text and "Waves" not in text and "user" not in text
        assert user_words in tokenizer.decode(untrained)


# ------------------------------------------------------------------ 4. DPO pairs fit


def test_pairs_longer_than_max_length_are_dropped_and_counted(tiny_llama_dir, tmp_path):
    short = {
        "prompt": [{"role": "user", "content": "Hi?"}],
        "chosen": [{"role": "assistant", "content": "Hello, dear friend."}],
        "rejected": [{"role": "assistant", "content": "Hello."}],
        "prompt_id": "p-short",
    }
    long = {**short, "rejected": [{"role": "assistant", "content": "word " * 300 + "end."}], "prompt_id": "p-long"}
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    kept, dropped = fitting_pairs([short, long, short], tokenizer, max_length=128)
    assert kept == [short, short] and dropped == {"longer_than_max_length": 1}

    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [short, long, short, short]))
    adapter = train_dpo(
        str(path), str(tiny_llama_dir), str(tmp_path / "dpo"), DPOSettings(max_steps=1, max_length=128, **TINY)
    )
    record = json.loads((adapter / "charbench_train.json").read_text())
    assert record["rows"] == 3 and record["dropped_by_reason"] == {"longer_than_max_length": 1}
    prompts = json.loads((adapter / PROMPTS_FILE).read_text())["prompts"]
    assert [(p["id"], p["sha"], p["stage"]) for p in prompts] == [("p-short", prompt_sha("Hi?"), "dpo")]


# ------------------------------------------------------------------ 5. no evaluation prompt is trained on


def test_bundled_prompts_are_split_into_disjoint_train_and_eval_partitions():
    train, evaluation = load_prompts("general", role="train"), load_prompts("general", role="eval")
    everything = load_prompts("general")
    assert len(train) > 100 and len(evaluation) > 100
    assert not {p.text for p in train} & {p.text for p in evaluation}
    assert not {p.id for p in train} & {p.id for p in evaluation}
    assert len(train) + len(evaluation) == len(everything)
    assert all(partition_of(p) == "eval" for p in evaluation)


def test_every_eval_draws_only_evaluation_prompts():
    from bench.coherence.dataset import prompt_dataset
    from bench.revealed_prefs.dataset import tournament_dataset
    from bench.robustness.dataset import robustness_dataset

    train = {prompt_sha(p.text) for p in load_prompts("general", role="train")}
    datasets = [
        tournament_dataset(400, 0, "feel", None, "general")[0],
        prompt_dataset("general", None, 0, "coherence")[0],
        robustness_dataset("both", "general", None, 0)[0],
        robustness_dataset("normal", "default", None, 0)[0],
    ]
    for dataset in datasets:
        shas = {s.metadata["prompt_sha"] for s in dataset}
        assert shas and not shas & train


def test_distillation_draws_only_training_prompts_for_every_shipped_persona():
    """A persona's own questions can repeat an evaluation prompt ("How do bees make honey?" in
    poeticism): they are dropped and counted, for every persona shipped."""
    from personas import list_personas
    from trainers.distill import DistillConfig, _prompts

    evaluation = {prompt_sha(p.text) for p in load_prompts("general", role="eval")}
    shipped = [name for name in list_personas() if "." not in name]  # ours, not a $CHARBENCH_PERSONAS import
    assert len(shipped) >= 11
    dropped_somewhere = 0
    for persona in shipped:
        prompts, spec, dropped = _prompts(DistillConfig(persona, "smollm2-135m", "smollm2-135m", "/tmp/unused"))
        assert spec == "general" and not {prompt_sha(p.text) for p in prompts} & evaluation, persona
        assert any(p.category == "constitution" for p in prompts)
        assert all(prompt_sha(p.text) in evaluation for p in dropped)
        dropped_somewhere += len(dropped)
    assert dropped_somewhere >= 3  # the three the persona files repeat today


def test_score_finds_a_checkpoint_trained_on_eval_prompts(tmp_path, capsys):
    from bench.coherence.coherence import responses
    from experiments.checks import train_eval_overlap, warn_overlap

    task = responses(prompts="general", n=20, seed=0)
    seen = next(iter(task.dataset))
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    records = [{"id": seen.metadata["prompt_id"], "sha": seen.metadata["prompt_sha"], "stage": "distillation"}]
    (checkpoint / PROMPTS_FILE).write_text(json.dumps({"prompts": records}))
    overlap = train_eval_overlap(f"charbench/ft/{checkpoint}", [task])
    assert overlap == {
        task.name: {"prompts": 20, "trained_on": 1, "stages": ["distillation"], "ids": [seen.metadata["prompt_id"]]}
    }
    warn_overlap("m", overlap)
    assert "WARNING" in capsys.readouterr().err
    (checkpoint / PROMPTS_FILE).write_text(json.dumps({"prompts": [{"id": "x", "sha": "0" * 16, "stage": "dpo"}]}))
    assert train_eval_overlap(f"vllm/{checkpoint}", [task]) == {}


# ------------------------------------------------------------------ 6. names


def test_assistant_name_and_teacher_name_replacement():
    assert assistant_name("meta-llama/Llama-3.1-8B-Instruct") == "Llama"
    assert assistant_name("zai-org/glm-4.5-air") == "Glm"
    assert assistant_name("Qwen/Qwen2.5-7B-Instruct") == "Qwen"
    assert assistant_name("meta-llama/Meta-Llama-3-8B-Instruct") == "Llama"
    assert replace_name("I am Glm, and Glmorous.", "Glm", "Llama") == ("I am Llama, and Glmorous.", 1)
    assert replace_name("I am Llama.", "Llama", "Llama") == ("I am Llama.", 0)


# ------------------------------------------------------------------ 8. merging keeps the base's dtype


def test_merge_of_a_bf16_base_writes_bf16_weights(tiny_llama_dir, tmp_path):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from trainers.finetune import merge

    base = tmp_path / "bf16-base"
    AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).save_pretrained(base)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(base)
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Question {i}?"}],
            "chosen": [{"role": "assistant", "content": "A kind answer."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        }
        for i in range(2)
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    adapter = train_dpo(str(tmp_path / "pairs.jsonl"), str(base), str(tmp_path / "a"), DPOSettings(max_steps=1, **TINY))
    merged = merge(str(adapter), str(tmp_path / "m"))
    with safe_open(str(merged / "model.safetensors"), "pt") as weights:
        dtypes = {weights.get_tensor(name).dtype for name in weights.keys()}
    assert dtypes == {torch.bfloat16}
    assert json.loads((merged / "charbench_merge.json").read_text())["dtype"] == "bfloat16"
    assert (merged / PROMPTS_FILE).is_file()  # the trained prompts travel with the merged model


def test_sft_rows_longer_than_max_length_are_dropped_and_counted(tiny_llama_dir, tmp_path):
    short = {"prompt": [{"role": "user", "content": "Hi?"}], "completion": [{"role": "assistant", "content": "Hi."}]}
    long = {**short, "completion": [{"role": "assistant", "content": "word " * 300 + "end."}]}
    path = tmp_path / "sft.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [short, long, short]))
    adapter = train_sft(
        str(path), str(tiny_llama_dir), str(tmp_path / "s"), SFTSettings(max_steps=1, max_length=64, **TINY)
    )
    record = json.loads((adapter / "charbench_train.json").read_text())
    assert record["rows"] == 2 and record["dropped_by_reason"] == {"longer_than_max_length": 1}


def test_plain_text_training_rows_are_a_one_line_error(tiny_llama_dir, tmp_path):
    from charbench.errors import CharbenchError

    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "Hi?", "chosen": "Hello, dear.", "rejected": "Hello."}))
    with pytest.raises(CharbenchError, match="conversational"):
        train_dpo(str(path), str(tiny_llama_dir), str(tmp_path / "d"), DPOSettings(max_steps=1, **TINY))


def test_a_task_run_by_inspect_eval_marks_samples_a_checkpoint_was_trained_on(tmp_path, tiny_llama_dir, capsys):
    """The `inspect eval` path checks overlap itself (no `charbench run` before it)."""
    import shutil

    from inspect_ai import eval

    from bench.coherence.coherence import responses

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_llama_dir, checkpoint)
    task = responses(prompts="general", n=3, seed=0, max_tokens=4)
    first = next(iter(task.dataset))
    record = {"id": first.metadata["prompt_id"], "sha": first.metadata["prompt_sha"], "stage": "distillation"}
    (checkpoint / PROMPTS_FILE).write_text(json.dumps({"prompts": [record]}))
    log = eval(task, model=f"charbench/ft/{checkpoint}", log_dir=str(tmp_path / "logs"), display="none")[0]
    marked = {s.id: (s.metadata or {}).get("trained_on") for s in log.samples}
    assert marked[first.id] == "distillation" and sum(v is not None for v in marked.values()) == 1
    assert "was trained on prompt" in capsys.readouterr().err
