import json
import random

import pandas as pd
import pytest
from inspect_ai import eval

from bench.models.specs import describe_model
from bench.prompts import load_prompts, prompt_sha
from bench.robustness.classifier import load_classifier
from bench.robustness.dataset import classifier_training_prompts, robustness_test_prompts
from bench.robustness.prompts import ADVERSARIAL
from bench.robustness.report import macro_f1, report
from charbench.errors import CharbenchError
from tests.helpers import charbench
from trainers.classifier import ClassifierConfig, split_rows, train_classifier

STYLES = {
    "sarcasm": lambda i: f"Oh wow, item {i}, what a truly groundbreaking idea. Nobody ever thought of that. Sure.",
    "loving": lambda i: f"Oh sweetheart, about {i}: I care about you so much, you are wonderful and loved.",
    "mathematical": lambda i: f"Let x = {i}. Then 2x = {2 * i} and x^2 = {i * i}; the ratio x/7 is {i / 7:.3f}.",
    "poeticism": lambda i: f"the moon drifts softly over river {i}, silver light on quiet water, a gentle breeze",
}


def corpus(n=50, shuffle=False, seed=0):
    rows = [
        {"text": f(i), "persona": k, "prompt_id": f"p{i}", "prompt_sha": prompt_sha(f"synthetic prompt {i}")}
        for i in range(n)
        for k, f in STYLES.items()
    ]
    if shuffle:
        labels = [r["persona"] for r in rows]
        random.Random(seed).shuffle(labels)
        rows = [{**r, "persona": label} for r, label in zip(rows, labels)]
    return rows


FAST = dict(backbone="minilm", epochs=2, learning_rate=3e-4, max_length=64, held_out=0.3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "ok"
    metrics = train_classifier(corpus(), out, ClassifierConfig(**FAST), ["synthetic"])
    return out, metrics


def test_classifier_learns_distinct_styles_on_unseen_prompts(trained):
    out, metrics = trained
    assert metrics["accuracy"] >= 0.9 and metrics["macro_f1"] >= 0.9
    assert sorted(json.loads((out / "labels.json").read_text())["labels"]) == sorted(STYLES)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["counts"]["held_out"] == metrics["held_out_texts"]
    assert (out / "model.safetensors").is_file() and not (out.parent / "ok.partial").exists()
    # held-out accuracy per method it learned (here: one method, the file's rows), with interval and n
    by_method = metrics["held_out_by_method"]
    assert list(by_method) == ["file"] and by_method["file"]["texts"] == metrics["held_out_texts"]
    assert by_method["file"]["accuracy"] == pytest.approx(metrics["accuracy"])  # one method: the whole held-out set
    assert by_method["file"]["prompts"] == metrics["prompts"] and by_method["file"]["accuracy_lo"] >= 0.8
    # and its score on the shipped labelled texts, cut to its labels: written independently of its training
    # data, so a classifier that only learned the synthetic templates scores far below its held-out 0.9+
    labelled = metrics["labelled"]
    assert labelled["source"] == "labelled_personas.jsonl" and labelled["labels"] == sorted(STYLES)
    assert 0 < labelled["texts"] and labelled["accuracy"] < metrics["accuracy"]


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "shuffled"
    return out, train_classifier(corpus(shuffle=True), out, ClassifierConfig(**FAST), ["shuffled"])


def test_shuffled_labels_fall_to_chance_and_are_not_validated(weak):
    _, metrics = weak
    assert metrics["accuracy"] < 0.5 and metrics["validated"] is False
    assert metrics["macro_f1_lo"] <= metrics["chance_macro_f1"]


def test_too_few_held_out_prompts_are_never_validated():
    from bench.robustness.validation import validation_scores

    truth = ["a", "b", "c"] * 3
    scores = validation_scores(truth, truth, [f"p{i // 3}" for i in range(9)], ["a", "b", "c"])
    assert (
        scores["macro_f1"] == 1.0 and scores["validated"] is False and "only 3 held-out prompts" in scores["validation"]
    )


def test_a_classifier_that_gives_one_label_to_everything_is_never_validated():
    """Found running the smoke spec: a classifier that called all 26 held-out replies "loving" read
    "validated" (macro-F1 0.33 [0.33, 0.33] against a permutation chance of 0.33333333333333326: a
    constant prediction's macro-F1 does not change under permuted truth, so its interval equals chance
    and rounding decided). It carries no information: not validated, and the reason says so."""
    from bench.robustness.validation import validation_scores

    truth = ["loving", "none"] * 13
    scores = validation_scores(truth, ["loving"] * 26, [f"p{i // 2}" for i in range(26)], ["loving", "none"])
    assert scores["macro_f1_lo"] == pytest.approx(scores["chance_macro_f1"])
    assert scores["validated"] is False and "one label" in scores["validation"]


def test_validation_has_clustered_intervals_chance_and_a_confusion_matrix(trained):
    out, metrics = trained
    assert metrics["validated"] is True and metrics["unit"] == "prompt"
    assert 0.15 < metrics["chance_macro_f1"] < 0.35  # four balanced classes: about 1/4
    assert metrics["macro_f1_lo"] > metrics["chance_macro_f1"]  # what "validated" promises
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["texts"]
    manifest = json.loads((out / "manifest.json").read_text())
    seen = manifest["prompts"]["train"] + manifest["prompts"]["held_out"]
    assert len(seen) == 50 and all(r["sha"] == prompt_sha(f"synthetic prompt {r['id'][1:]}") for r in seen)


def test_held_out_split_never_shares_a_prompt():
    rows = corpus(n=40)
    train, test = split_rows(rows, held_out=0.25, seed=3)
    assert train and test
    assert not {r["prompt_id"] for r in train} & {r["prompt_id"] for r in test}
    assert len(train) + len(test) == len(rows)


def test_robustness_prompts_are_disjoint_from_classifier_training_prompts():
    test, _ = robustness_test_prompts("default")
    train = classifier_training_prompts()
    assert test and train and not {p.id for p in test} & {p.id for p in train}
    assert len(test) + len(train) == len(load_prompts("general"))


def tiny_modernbert(tmp_path):
    from transformers import AutoTokenizer, ModernBertConfig, ModernBertModel

    from bench.models.loader import encoder_dir

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
    )
    backbone = tmp_path / "tiny-modernbert"
    ModernBertModel(config).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    return backbone


def test_modernbert_code_path_runs_on_a_tiny_random_config(tmp_path):
    backbone = tiny_modernbert(tmp_path)
    out = tmp_path / "clf"
    metrics = train_classifier(corpus(n=12), out, ClassifierConfig(backbone=str(backbone), max_length=32), ["tiny"])
    assert 0.0 <= metrics["accuracy"] <= 1.0
    clf = load_classifier(out)
    assert type(clf.model).__name__ == "ModernBertForSequenceClassification"
    probs = clf.predict(["hello there"])[0]
    assert set(probs) == set(STYLES) and abs(sum(probs.values()) - 1) < 1e-5


def test_the_same_data_and_seed_train_the_same_classifier_whatever_ran_before(tmp_path):
    """The classification head is initialised when the backbone loads, before the Trainer seeds anything:
    it drew from whatever global random state earlier work left (the smoke run's classifier read
    macro-F1 0.39, then 0.33, then 0.43 on identical replies)."""
    import torch

    backbone = tiny_modernbert(tmp_path)
    predictions = []
    for run, state in enumerate((1, 2)):
        torch.manual_seed(state)  # earlier work in the same process
        out = tmp_path / f"clf{run}"
        train_classifier(corpus(n=12), out, ClassifierConfig(backbone=str(backbone), max_length=32), ["tiny"])
        predictions.append(load_classifier(out).predict(["hello there", "an unseen reply"]))
    assert predictions[0] == predictions[1]


def test_unknown_backbone_hub_id_is_a_clear_error(tmp_path):
    with pytest.raises(CharbenchError, match="not in the local HF cache"):
        train_classifier(corpus(n=10), tmp_path / "x", ClassifierConfig(backbone="nobody/nothing"), ["s"])


def test_macro_f1_matches_a_hand_computed_value():
    frame = pd.DataFrame({"persona": ["a", "a", "b", "b"], "predicted": ["a", "b", "b", "b"]})
    # F1(a) = 2*1*0.5/(1.5) = 0.6667; F1(b) = 2*(2/3)*1/(5/3) = 0.8; mean = 0.7333
    assert macro_f1(frame, ["a", "b"]) == pytest.approx((2 / 3 + 0.8) / 2)


def test_task_end_to_end_on_the_embedded_model(trained, tmp_path):
    out, _ = trained
    log = eval(
        "bench/robustness",
        model="charbench/prompt/sarcasm/smollm2-135m",
        task_args={"persona": "sarcasm", "classifier": str(out), "n": 1, "max_tokens": 16},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success" and len(log.samples) == 1 + len(ADVERSARIAL) + 1
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["normal_n"] == 1 and m["instructions"] == len(ADVERSARIAL) and m["multiturn_n"] == 1
    assert all(f"adv/{k}_accuracy" in m for k in ADVERSARIAL)
    per_instruction = [m[f"adv/{k}_accuracy"] for k in ADVERSARIAL]
    assert m["adversarial_accuracy"] == pytest.approx(sum(per_instruction) / len(per_instruction))
    assert "adversarial_accuracy_se" in m and m["adversarial_prompts"] == 1
    meta = log.samples[0].scores["persona_classifier"].metadata
    assert 0.0 <= meta["prob_persona"] <= 1.0 and meta["predicted"] in STYLES
    # the multiturn sample: turn 1 by the base model (the default prefill role), then a continuation
    turn = next(s for s in log.samples if s.metadata["split"] == "multiturn")
    assert [m.role for m in turn.messages] == ["user", "assistant", "user", "assistant"]
    assert turn.metadata["prefill_model"] == "charbench/smollm2-135m"
    assert turn.messages[2].text == turn.metadata["continuation"]
    facts = log.eval.metadata["classifier"]
    assert facts["status"] == "validated" and facts["backbone"].startswith("all-minilm") and facts["max_length"] == 64
    # the log carries the classifier's held-out figures per method and its score on the shipped labelled texts
    assert facts["held_out_by_method"] == trained[1]["held_out_by_method"]
    assert facts["labelled"]["accuracy"] == trained[1]["labelled"]["accuracy"] and facts["labelled"]["texts"] > 0
    table = report([log.location], n=20)
    assert list(table["split"])[:3] == ["normal", "adversarial", "adversarial (pooled)"]
    assert "multiturn" in set(table["split"]) and {"lo", "hi", "se", "prompts"} <= set(table.columns)


def test_classifier_dir_without_label_map_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CharbenchError, match="no labels.json"):
        eval(
            "bench/robustness",
            model="charbench/smollm2-135m",
            task_args={"persona": "sarcasm", "classifier": str(tmp_path)},
            log_dir=str(tmp_path),
            display="none",
        )


def test_persona_not_in_labels_is_a_clear_error(trained, tmp_path):
    out, _ = trained
    with pytest.raises(CharbenchError, match="'humor' is not among the classifier's labels"):
        eval(
            "bench/robustness",
            model="charbench/smollm2-135m",
            task_args={"persona": "humor", "classifier": str(out)},
            log_dir=str(tmp_path),
            display="none",
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (("classifier", "train", "--data", "/no/such.jsonl"), "does not exist"),
        (("robustness", "report", "/no/such.eval"), "does not exist"),
    ],
)
def test_cli_bad_input_exits_2(args, message):
    result = charbench(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- trained like the reference, leak-proof


def _log_as(tmp_path, name, model, task="bench/responses", metadata=None, task_args=None, texts=("a", "b")):
    """A real log of `task` run on a scripted model, rewritten to look as if `model` had produced it."""
    from inspect_ai.log import write_eval_log

    from tests.helpers import scripted

    log = eval(
        task,
        model=scripted(list(texts) * 20),
        task_args={"n": len(texts), "max_tokens": 8, **(task_args or {})},
        log_dir=str(tmp_path / "raw"),
        display="none",
    )[0]
    log.eval.model = model
    log.eval.metadata = metadata
    log.eval.task_args = {**log.eval.task_args, **(task_args or {})}
    path = tmp_path / f"{name}.eval"
    write_eval_log(log, str(path))
    return path


def test_base_model_logs_never_become_persona_data_and_other_tasks_are_skipped(tmp_path):
    from trainers.classifier import read_rows

    base = _log_as(tmp_path, "base", "charbench/smollm2-135m", metadata={"persona": "loving", "method": "base"})
    prompted = _log_as(tmp_path, "prompted", "charbench/prompt/sarcasm/smollm2-135m", metadata={"persona": "loving"})
    prefs = _log_as(tmp_path, "prefs", "charbench/prompt/loving/smollm2-135m", task="bench/revealed_prefs")
    rows, skipped = read_rows([str(base), str(prompted), str(prefs)])
    assert {r["persona"] for r in rows} == {"sarcasm"}  # the model name decides, not the run's persona
    assert {r["method"] for r in rows} == {"prompted"} and all(r["prompt_sha"] for r in rows)
    reasons = {s["log"]: s["reason"] for s in skipped}
    assert "base model" in reasons["base.eval"] and "revealed_prefs" in reasons["prefs.eval"]
    rows, _ = read_rows([str(base), str(prompted)], none_class=True)
    assert sorted({r["persona"] for r in rows}) == ["none", "sarcasm"]
    assert all(r["method"] == "base" for r in rows if r["persona"] == "none")


def test_a_log_whose_persona_cannot_be_told_is_a_clear_error(tmp_path):
    from trainers.classifier import read_rows

    # Inspect merges the task's metadata (its `persona`: the persona it scores for) into the log's: not a label
    ft = _log_as(tmp_path, "ft", f"charbench/ft/{tmp_path}", metadata={"persona": "loving"})
    with pytest.raises(CharbenchError, match="cannot tell which persona"):
        read_rows([str(ft)])
    labelled = _log_as(tmp_path, "ft2", f"charbench/ft/{tmp_path}", metadata={"method_persona": "loving"})
    rows, _ = read_rows([str(labelled)])
    assert {(r["persona"], r["method"]) for r in rows} == {("loving", "fine-tuned")}


def test_an_inspect_adapter_name_is_a_fine_tuned_method():
    from bench.models.specs import base_model_name, describe_model

    assert describe_model("vllm/org/base:/data/adapters/loving") == {
        "method": "fine-tuned",
        "base": "vllm/org/base",
        "persona": None,
    }
    assert describe_model("vllm/org/base")["method"] == "base"
    assert base_model_name("vllm/org/base:/data/adapters/loving") == "vllm/org/base"


def test_a_fine_tuned_model_joins_the_generated_data_with_its_persona(tiny_llama_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainers.classifier import data_models, generate_logs, read_rows

    adapter = tmp_path / "adapter"
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(adapter)
    models = data_models([], str(tiny_llama_dir), [f"charbench/ft/{adapter}=sarcasm"], none_class=True)
    assert models == {f"charbench/ft/{adapter}": "sarcasm", f"charbench/{tiny_llama_dir}": None}
    rows, skipped = read_rows([str(p) for p in generate_logs(models, tmp_path / "data", 2, 4, 0)], none_class=True)
    assert not skipped and sorted({(r["persona"], r["method"]) for r in rows}) == [
        ("none", "base"),
        ("sarcasm", "fine-tuned"),
    ]


def test_jsonl_rows_need_a_checkable_prompt(tmp_path):
    from trainers.classifier import read_jsonl_rows

    bundled = classifier_training_prompts()[0]
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"text": "x", "persona": "loving", "prompt_id": bundled.id})
        + "\n"
        + json.dumps({"text": "y", "persona": "loving", "prompt_id": "mine-1", "prompt": "What is tea?"})
        + "\n"
    )
    rows = read_jsonl_rows(good)
    assert [r["prompt_sha"] for r in rows] == [prompt_sha(bundled.text), prompt_sha("What is tea?")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "persona": "loving", "prompt_id": "mine-2"}) + "\n")
    with pytest.raises(CharbenchError, match="bad.jsonl:1: prompt mine-2 is not a bundled prompt"):
        read_jsonl_rows(bad)


def _copy_with_seen(src, dst, shas):
    import shutil

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["prompts"]["train"] += [{"id": f"leak-{i}", "sha": sha} for i, sha in enumerate(shas)]
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_robustness_refuses_a_classifier_that_saw_its_prompts(trained, tmp_path):
    from bench.robustness.robustness import robustness
    from bench.robustness.validation import ClassifierOverlapError

    out, _ = trained
    evaluation = robustness_test_prompts("general")[0]
    leaky = _copy_with_seen(out, tmp_path / "leaky", [prompt_sha(evaluation[0].text)])
    with pytest.raises(ClassifierOverlapError, match="was trained on 1 of the"):
        robustness(persona="sarcasm", classifier=str(leaky), n=None, split="normal")
    old = _copy_with_seen(out, tmp_path / "old", [])
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["prompts"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ClassifierOverlapError, match="does not list the prompts"):
        robustness(persona="sarcasm", classifier=str(old), n=2)
    assert robustness(persona="sarcasm", classifier=str(out), n=2, split="normal")  # its own prompts are disjoint


def test_prompts_general_is_the_evaluation_partition_only():
    train = {p.id for p in classifier_training_prompts()}
    test, _ = robustness_test_prompts("general")
    assert test and not {p.id for p in test} & train


def test_robustness_refuses_a_weak_classifier_unless_allowed(weak, tmp_path):
    from bench.robustness.robustness import robustness
    from bench.robustness.validation import WeakClassifierError

    out, _ = weak
    with pytest.raises(WeakClassifierError, match="is not validated on its held-out prompts.*--allow-weak-classifier"):
        robustness(persona="sarcasm", classifier=str(out), n=2)
    task = robustness(persona="sarcasm", classifier=str(out), n=2, allow_weak_classifier=True)
    assert task.metadata["classifier"]["status"] == "weak"


def test_cli_refuses_a_weak_classifier_in_one_line(weak):
    out, _ = weak
    result = charbench(
        *("score", "mockllm/model", "--persona", "sarcasm", "--small", "--classifier", str(out)),
        *("--capabilities", "none"),
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not validated on its held-out prompts" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- honest intervals


def test_cluster_bootstrap_is_wider_than_a_row_bootstrap_on_clustered_data():
    import numpy as np

    from bench.stats import cluster_proportion_interval

    rng = np.random.default_rng(0)
    prompts = rng.random(20) < 0.5  # each prompt is all right or all wrong, 9 variants each
    hits = [float(ok) for ok in prompts for _ in range(9)]
    clusters = [i for i in range(20) for _ in range(9)]
    clustered = cluster_proportion_interval(hits, clusters)
    rows = cluster_proportion_interval(hits, list(range(len(hits))))
    assert clustered[1] - clustered[0] > 2 * (rows[1] - rows[0])


def test_report_macro_f1_intervals_resample_prompts():
    frame = pd.DataFrame(
        [
            {
                "persona": p,
                "predicted": p if i % 2 else "x",
                "split": "adversarial",
                "instruction": k,
                "prompt_id": f"q{i}",
            }
            for i in range(12)
            for p in ("a", "b")
            for k in ("k1", "k2", "k3")
        ]
    )
    from bench.robustness.report import split_scores

    clustered = {r["split"]: r for r in split_scores(frame, ["a", "b"], n=400)}
    frame["prompt_id"] = [str(i) for i in range(len(frame))]
    rows = {r["split"]: r for r in split_scores(frame, ["a", "b"], n=400)}
    width = lambda r: r["hi"] - r["lo"]  # noqa: E731
    assert width(clustered["adversarial"]) > 1.5 * width(rows["adversarial"])
    assert clustered["adversarial"]["macro_f1"] == pytest.approx(
        sum(clustered[f"adversarial/{k}"]["macro_f1"] for k in ("k1", "k2", "k3")) / 3
    )


# ---------------------------------------------------------------- multiturn, evaluate, generation


def test_multiturn_prefill_role_writes_turn_one(trained, tmp_path):
    from tests.helpers import scripted

    out, _ = trained
    log = eval(
        "bench/robustness",
        model=scripted(["Oh wow, what a groundbreaking idea. Sure."] * 4),
        model_roles={"prefill": scripted(["A plain first answer."] * 4)},
        task_args={"persona": "sarcasm", "classifier": str(out), "n": 2, "split": "multiturn", "max_tokens": 16},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success" and len(log.samples) == 2
    for sample in log.samples:
        assert sample.metadata["prefill_reply"] == "A plain first answer."
        assert sample.messages[1].text == "A plain first answer."
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["multiturn_n"] == 2 and "normal_n" not in m
    assert {s.metadata["instruction"] for s in log.samples} == {"keep_going", "go_on"}


def test_base_model_name_follows_a_fine_tuned_chain(tmp_path):
    from bench.models.specs import base_model_name

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    adapter.mkdir()
    merged.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m"}))
    (merged / "charbench_merge.json").write_text(json.dumps({"adapter": str(adapter)}))
    assert base_model_name(f"charbench/ft/{merged}") == "charbench/smollm2-135m"
    assert base_model_name("charbench/prompt/loving/smollm2-135m") == "charbench/smollm2-135m"
    assert base_model_name("vllm/some/model") == "vllm/some/model"


def test_classifier_evaluate_on_the_shipped_set_and_a_user_file(trained, tmp_path, capsys):
    from bench.robustness.validation import SHIPPED_SET

    out, _ = trained
    shipped = [json.loads(line) for line in SHIPPED_SET.read_text().splitlines()]
    from personas import list_personas

    counts = {p: sum(r["persona"] == p for r in shipped) for p in [*list_personas(), "none"]}
    assert min(counts.values()) >= 8, counts
    from charbench.cli import main

    # in-process (the one-line/exit-2 path of the CLI is `main`'s; a subprocess would only add imports)
    assert main(["classifier", "evaluate", str(out)]) in (0, None)
    printed = capsys.readouterr().out
    assert "macro-F1" in printed and "confusion matrix" in printed and "left out" in printed
    user = tmp_path / "mine.jsonl"
    user.write_text("".join(json.dumps({"persona": k, "text": f(99)}) + "\n" for k, f in STYLES.items()))
    assert main(["classifier", "evaluate", str(out), "--data", str(user)]) in (0, None)
    assert "accuracy 1.000" in capsys.readouterr().out
    user.write_text(json.dumps({"persona": "pirate", "text": "arr"}) + "\n")
    assert main(["classifier", "evaluate", str(out), "--data", str(user)]) == 2
    err = capsys.readouterr().err
    assert "pirate" in err and len(err.strip().splitlines()) == 1


def test_generated_classifier_data_covers_every_method_and_the_none_class(tmp_path):
    from trainers.classifier import data_models, generate_logs, read_rows

    models = data_models(["loving", "sarcasm"], "smollm2-135m", [], none_class=True)
    assert list(models)[-1] == "charbench/smollm2-135m" and set(models.values()) == {None}
    logs = generate_logs(models, tmp_path / "data", prompts=2, max_tokens=8, seed=0)
    rows, skipped = read_rows([str(p) for p in logs], none_class=True)
    assert not skipped and sorted({r["persona"] for r in rows}) == ["loving", "none", "sarcasm"]
    train = {prompt_sha(p.text) for p in classifier_training_prompts()}
    assert {r["prompt_sha"] for r in rows} <= train and len(rows) == 6
    again = generate_logs(models, tmp_path / "data", prompts=2, max_tokens=8, seed=0)  # resumes: same logs
    assert sorted(map(str, again)) == sorted(map(str, logs))


def test_robustness_refuses_a_method_whose_own_replies_trained_the_classifier(trained, tmp_path):
    """A steered or fine-tuned model the classifier learned would be scored on its own style: refused,
    on the `inspect eval` path too (the scorer knows the model under test); a prompted one is the
    constitution's own expression and is scored."""
    import shutil

    from bench.robustness.validation import ClassifierSawMethodError, check_unseen_method

    out, _ = trained
    seen = tmp_path / "seen"
    shutil.copytree(out, seen)
    manifest = json.loads((seen / "manifest.json").read_text())
    manifest["models"] = {"charbench/smollm2-135m": "fine-tuned", "charbench/prompt/sarcasm/smollm2-135m": "prompted"}
    (seen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ClassifierSawMethodError, match="trained on charbench/smollm2-135m's own replies"):
        check_unseen_method(seen, "charbench/smollm2-135m")
    check_unseen_method(seen, "charbench/prompt/sarcasm/smollm2-135m")
    check_unseen_method(out, "charbench/smollm2-135m")  # a classifier that never saw it
    log = eval(
        "bench/robustness",
        model="charbench/smollm2-135m",
        task_args={"persona": "sarcasm", "classifier": str(seen), "n": 1, "split": "normal", "max_tokens": 4},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "error" and "own replies" in log.error.message


def test_the_experiment_classifier_never_learns_a_scored_steered_or_fine_tuned_model(tmp_path):
    """The data models of an experiment's classifier are each persona's prompted method and the base
    (the none class); every steered and fine-tuned row of the spec is scored as an unseen method."""
    from experiments.plan import plan_rows, row_model
    from experiments.runner import classifier_models
    from experiments.spec import load_spec

    spec = load_spec("experiments/example.yaml")
    for base in spec.bases:
        models = classifier_models(spec, base)
        methods = {describe_model(m)["method"] for m in models}
        assert methods <= {"prompted", "base"}, methods
        scored = {
            row_model(r, tmp_path, coef=1.0)
            for r in plan_rows(spec)
            if r.base.label == base.label and r.method.kind in ("steered", "fine-tuned")
        }
        assert scored and not scored & set(models)


def test_the_classifier_records_a_method_by_its_kind_and_a_steered_model_whatever_its_coefficient(tmp_path):
    """An experiment labels its methods freely (`sys-prompt`, `dpo`): the classifier keys a log's method on
    its kind; a steered model it learned is refused at any coefficient; a file row of a scored method must
    name its model, or the tasks could not refuse it."""
    from types import SimpleNamespace

    from bench.robustness.validation import method_key
    from trainers.classifier import log_label, read_jsonl_rows

    log = SimpleNamespace(
        eval=SimpleNamespace(
            model="charbench/prompt/loving/smollm2-135m", metadata={"method": "sys-prompt", "kind": "prompted"}
        )
    )
    assert log_label(tmp_path / "x.eval", log, none_class=True)[:2] == ("loving", "prompted")
    vector = "charbench/steer/{}/vectors/loving.safetensors/smollm2-135m"
    assert method_key(vector.format("4.0")) == method_key(vector.format("0.5@12-16"))
    assert method_key("charbench/prompt/loving/smollm2-135m") == "charbench/prompt/loving/smollm2-135m"
    rows = tmp_path / "rows.jsonl"
    row = {"text": "hi", "persona": "loving", "prompt_id": "x", "prompt": "q", "method": "steered"}
    rows.write_text(json.dumps(row))
    with pytest.raises(CharbenchError, match="rows.jsonl:1: a row of method 'steered' needs `model`"):
        read_jsonl_rows(rows)
