import json
import random
import subprocess
import sys

import pandas as pd
import pytest
from inspect_ai import eval

from bench.prompts import load_prompts
from bench.robustness.classifier import load_classifier
from bench.robustness.dataset import classifier_training_prompts, robustness_test_prompts
from bench.robustness.prompts import ADVERSARIAL
from bench.robustness.report import macro_f1, report
from charbench.errors import CharbenchError
from trainers.classifier import ClassifierConfig, split_rows, train_classifier

STYLES = {
    "sarcasm": lambda i: f"Oh wow, item {i}, what a truly groundbreaking idea. Nobody ever thought of that. Sure.",
    "loving": lambda i: f"Oh sweetheart, about {i}: I care about you so much, you are wonderful and loved.",
    "mathematical": lambda i: f"Let x = {i}. Then 2x = {2 * i} and x^2 = {i * i}; the ratio x/7 is {i / 7:.3f}.",
    "poeticism": lambda i: f"the moon drifts softly over river {i}, silver light on quiet water, a gentle breeze",
}


def corpus(n=50, shuffle=False, seed=0):
    rows = [{"text": f(i), "persona": k, "prompt_id": f"p{i}"} for i in range(n) for k, f in STYLES.items()]
    if shuffle:
        labels = [r["persona"] for r in rows]
        random.Random(seed).shuffle(labels)
        rows = [{**r, "persona": label} for r, label in zip(rows, labels)]
    return rows


FAST = dict(backbone="minilm", epochs=2, learning_rate=3e-4, max_length=64)


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


def test_shuffled_labels_fall_to_chance(tmp_path):
    metrics = train_classifier(corpus(shuffle=True), tmp_path / "shuffled", ClassifierConfig(**FAST), ["shuffled"])
    assert metrics["accuracy"] < 0.5


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


def test_modernbert_code_path_runs_on_a_tiny_random_config(tmp_path):
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
    out = tmp_path / "clf"
    metrics = train_classifier(corpus(n=12), out, ClassifierConfig(backbone=str(backbone), max_length=32), ["tiny"])
    assert 0.0 <= metrics["accuracy"] <= 1.0
    clf = load_classifier(out)
    assert type(clf.model).__name__ == "ModernBertForSequenceClassification"
    probs = clf.predict(["hello there"])[0]
    assert set(probs) == set(STYLES) and abs(sum(probs.values()) - 1) < 1e-5


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
    assert log.status == "success" and len(log.samples) == 1 + len(ADVERSARIAL)
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["normal_n"] == 1 and m["instructions"] == len(ADVERSARIAL)
    assert all(f"adv/{k}_accuracy" in m for k in ADVERSARIAL) and "adversarial_accuracy_se" in m
    meta = log.samples[0].scores["persona_classifier"].metadata
    assert 0.0 <= meta["prob_persona"] <= 1.0 and meta["predicted"] in STYLES
    table = report([log.location], n=20)
    assert table.iloc[0]["split"] == "normal" and table.iloc[-1]["split"].startswith("adversarial (mean")


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
    result = subprocess.run([sys.executable, "-m", "charbench.cli", *args], capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_generated_classifier_data_is_labelled_and_resumes_without_regenerating(tmp_path):
    from bench.prompts import sample_prompts
    from trainers.classifier import generate_rows, read_jsonl_rows

    prompts = sample_prompts(classifier_training_prompts(), 2, seed=0)
    cache = tmp_path / "rows.jsonl"
    rows = generate_rows(["loving", "sarcasm"], prompts, out_jsonl=cache, max_new_tokens=8)
    assert [(r["persona"], r["prompt_id"]) for r in rows] == [(n, p.id) for n in ("loving", "sarcasm") for p in prompts]
    assert all(r["source"] == "prompted:smollm2-135m" for r in rows)
    written = cache.read_text()
    again = generate_rows(["loving", "sarcasm"], prompts, out_jsonl=cache, max_new_tokens=8)
    assert cache.read_text() == written and [r["text"] for r in again] == [r["text"] for r in rows]
    assert len(read_jsonl_rows(cache)) == 4  # the cache is itself valid --data input
