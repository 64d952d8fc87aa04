"""bench/capabilities: the bundled smoke set, scoring against its answers, the standard (inspect_evals)
path on a local stand-in dataset, the offline one-line failure, and paired deltas."""

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from inspect_ai import eval

from bench.capabilities import standard
from bench.capabilities.capabilities import capabilities, parse_tasks
from bench.capabilities.report import paired_deltas
from bench.capabilities.smoke import SMOKE_FILE, load_smoke
from charbench.errors import CharbenchError
from tests.helpers import scripted, smoke_oracle

ROWS = [json.loads(line) for line in SMOKE_FILE.read_text().splitlines()]
ANSWERS = {r["id"]: r["answer"] for r in ROWS}


def run(model, log_dir, **task_args):
    return eval(capabilities(**task_args), model=model, log_dir=str(log_dir), display="none")[0]


def metrics(log):
    return {k: v.value for k, v in log.results.scores[0].metrics.items()}


def test_smoke_set_is_at_least_100_distinct_balanced_questions():
    assert len(ROWS) >= 100
    assert len({r["id"] for r in ROWS}) == len(ROWS) and len({r["question"] for r in ROWS}) == len(ROWS)
    categories = Counter(r["category"] for r in ROWS)
    assert set(categories) == {"general_knowledge", "reasoning", "reading"} and min(categories.values()) >= 30
    assert all(len(r["choices"]) == 4 and len(set(r["choices"])) == 4 for r in ROWS)
    positions = Counter(r["answer"] for r in ROWS)
    assert set(positions) == set("ABCD") and max(positions.values()) - min(positions.values()) <= 2


def test_always_a_scores_exactly_the_fraction_of_a_answers(tmp_path):
    log = run(scripted(["ANSWER: A"] * len(ROWS)), tmp_path, tasks="smoke")
    m = metrics(log)
    expected = sum(r["answer"] == "A" for r in ROWS) / len(ROWS)
    assert m["smoke/n"] == len(ROWS) and m["smoke/accuracy"] == pytest.approx(expected)
    assert m["smoke/accuracy_lo"] < expected < m["smoke/accuracy_hi"]
    assert m["smoke/unparsed"] == 0 and log.eval.metadata["seed"] == 0


def test_subset_is_seeded_and_scored_against_the_bundled_answers(tmp_path):
    first = run(scripted(["ANSWER: B"] * 30), tmp_path / "a", tasks="smoke", limit_per_task=30, seed=3)
    again = run(scripted(["ANSWER: B"] * 30), tmp_path / "b", tasks="smoke", limit_per_task=30, seed=3)
    ids = [s.id.removeprefix("smoke/") for s in first.samples]
    assert ids == [s.id.removeprefix("smoke/") for s in again.samples] and len(set(ids)) == 30
    assert metrics(first)["smoke/accuracy"] == pytest.approx(sum(ANSWERS[i] == "B" for i in ids) / 30)


def test_replies_without_an_answer_line_are_wrong_and_counted(tmp_path):
    log = run(scripted(["I think it is B, probably."] * 5 + [""] * 5), tmp_path, tasks="smoke", limit_per_task=10)
    m = metrics(log)
    assert m["smoke/accuracy"] == 0 and m["smoke/unparsed"] == 5 and m["smoke/empty"] == 5 and m["smoke/n"] == 10


def test_paired_delta_of_a_perfect_model_against_always_a(tmp_path):
    base = run(scripted(["ANSWER: A"] * 40), tmp_path / "base", tasks="smoke", limit_per_task=40)
    targets = [s.target for s in base.samples]
    model = run(smoke_oracle(), tmp_path / "model", tasks="smoke", limit_per_task=40)
    assert metrics(model)["smoke/accuracy"] == 1.0
    d = paired_deltas(model, base)["smoke"]
    expected = 1 - sum(t == "A" for t in targets) / 40
    assert d["delta"] == pytest.approx(expected) and d["n"] == 40 and 0 < d["lo"] <= expected <= d["hi"]
    # the paired bootstrap's width is that of the mean of 40 paired differences: about 2 * 1.96 * sd / sqrt(40)
    sd = (expected * (1 - expected)) ** 0.5
    assert d["hi"] - d["lo"] == pytest.approx(2 * 1.96 * sd / 40**0.5, rel=0.3)


def test_unknown_task_and_bad_smoke_file_are_one_line_errors(tmp_path):
    with pytest.raises(CharbenchError, match="unknown capability task 'arc'"):
        parse_tasks("arc")
    assert parse_tasks("standard,smoke") == [*standard.STANDARD, "smoke"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**ROWS[0], "answer": "E"}) + "\n")
    with pytest.raises(CharbenchError, match=r"bad.jsonl:1: 'answer' must be one of A, B, C, D"):
        load_smoke(bad)


def test_standard_path_uses_inspect_evals_task_on_a_local_dataset(tmp_path, monkeypatch):
    """The inspect_evals ARC task (its record_to_sample, solver, template) on a local stand-in with
    ARC's schema: the same code path a cached hub dataset takes."""
    import inspect_evals.arc.arc as arc

    data = tmp_path / "fake_arc"
    (data / "ARC-Challenge").mkdir(parents=True)
    (data / "README.md").write_text(
        "---\nconfigs:\n- config_name: ARC-Challenge\n  data_files:\n  - split: test\n"
        "    path: ARC-Challenge/test.jsonl\n---\n"
    )
    records = [
        {
            "id": f"q{i}",
            "question": f"Stand-in question {i}?",
            "choices": {"text": ["w", "x", "y", "z"], "label": ["A", "B", "C", "D"]},
            "answerKey": "ABCD"[i % 4],
        }
        for i in range(8)
    ]
    (data / "ARC-Challenge" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(arc, "DATASET_PATH", str(data))
    patched = dataclasses.replace(
        standard.STANDARD["arc_challenge"], datasets=((str(data), "ARC-Challenge", "ARC_DATASET_REVISION"),)
    )
    monkeypatch.setitem(standard.STANDARD, "arc_challenge", patched)

    log = run(scripted(["ANSWER: C"] * 12), tmp_path / "logs", tasks="arc_challenge,smoke", limit_per_task=6)
    m = metrics(log)
    arc_samples = [s for s in log.samples if s.id.startswith("arc_challenge/")]
    assert len(arc_samples) == 6 and m["arc_challenge/n"] == 6 and m["smoke/n"] == 6
    assert (
        "Stand-in question" in arc_samples[0].messages[0].text and "ANSWER: $LETTER" in arc_samples[0].messages[0].text
    )
    assert m["arc_challenge/accuracy"] == pytest.approx(sum(s.target == "C" for s in arc_samples) / 6)
    facts = log.eval.metadata["benchmarks"]["arc_challenge"]
    assert facts["reference_shots"] == 25 and facts["shots"] == 0 and facts["available"] == 8


def test_offline_without_cached_datasets_fails_fast_with_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "INSPECT_DISPLAY": "plain"}
    inspect = os.path.join(os.path.dirname(sys.executable), "inspect")
    start = time.perf_counter()
    proc = subprocess.run(
        [inspect, "eval", "bench/capabilities", "--model", "mockllm/model", "-T", "tasks=arc_challenge,smoke"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    elapsed = time.perf_counter() - start
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "Traceback" not in out
    assert "not in the local Hugging Face cache: arc_challenge: allenai/ai2_arc (ARC-Challenge)" in out
    assert "charbench capabilities fetch arc_challenge" in out and "smoke" in out
    assert elapsed < 60


def test_end_to_end_on_the_embedded_model(tmp_path):
    log = eval(
        "bench/capabilities",
        model="charbench/smollm2-135m",
        task_args={"tasks": "smoke", "limit_per_task": 6, "max_tokens": 24},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success"
    m = metrics(log)
    assert m["smoke/n"] == 6 and len(log.samples) == 6
    for sample in log.samples:  # targets are the bundled answers
        assert sample.target == ANSWERS[sample.id.removeprefix("smoke/")]
    correct = sum(s.scores["capability_choice"].value == "C" for s in log.samples)
    assert m["smoke/accuracy"] == pytest.approx(correct / 6)
    unparsed = sum(s.scores["capability_choice"].metadata["reason"] == "invalid_response_format" for s in log.samples)
    assert m["smoke/unparsed"] == unparsed


def test_the_headline_capability_change_weighs_benchmarks_equally_with_a_stratified_interval():
    import pandas as pd

    from bench.capabilities.report import stratified_mean_delta

    # benchmark a: 100 questions, the model loses 20 points; benchmark b: 10 questions, no change
    rows = [{"id": f"a{i}", "task": "a", "correct_model": float(i >= 20), "correct_base": 1.0} for i in range(100)]
    rows += [{"id": f"b{i}", "task": "b", "correct_model": 1.0, "correct_base": 1.0} for i in range(10)]
    result = stratified_mean_delta(pd.DataFrame(rows), n=500)
    assert result["delta"] == pytest.approx(-0.10) and result["benchmarks"] == 2 and result["n"] == 110
    assert result["lo"] < -0.10 < result["hi"] < 0  # b never varies, a's interval excludes zero
    assert stratified_mean_delta(pd.DataFrame(columns=["task", "correct_model", "correct_base"])) is None
