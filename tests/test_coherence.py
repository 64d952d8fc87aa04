import contextvars
import math

import numpy as np
import pytest
from inspect_ai import eval

from bench.coherence.coherence import coherence, responses
from bench.coherence.scorers import pair_outcome
from bench.judges.parsing import Verdict
from bench.stats import length_controlled_win_rate, wilson_interval
from charbench.errors import CharbenchError
from tests.helpers import scripted

A, B, BAD = Verdict("A"), Verdict("B"), Verdict("invalid", "no_answer_tag")


@pytest.mark.parametrize(
    "first, second, outcome",
    [
        (A, B, "win"),
        (B, A, "loss"),
        (A, A, "inconsistent"),
        (B, B, "inconsistent"),
        (A, BAD, "invalid"),
        (BAD, B, "invalid"),
        (BAD, BAD, "invalid"),
    ],
)
def test_every_verdict_combination_maps_to_its_outcome(first, second, outcome):
    assert pair_outcome(first, second) == outcome


def wilson_by_hand(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_wilson_matches_the_formula():
    assert wilson_interval(7, 10) == pytest.approx(wilson_by_hand(7, 10), abs=1e-9)


def test_scripted_judge_end_to_end_metrics_match_hand_computed_values(tmp_path):
    # six samples, judged in order (max_samples=1): first order has the model as A, second as B
    judge = [
        "<answer>A</answer>",
        "<answer>B</answer>",  # win
        "<answer>B</answer>",
        "<answer>A</answer>",  # loss
        "<answer>A</answer>",
        "<answer>A</answer>",  # inconsistent
        "<answer>B</answer>",
        "<answer>B</answer>",  # inconsistent
        "<answer>A</answer>",
        "I'm sorry, I can't judge this.",  # invalid (refusal)
        "nonsense",
        "<answer>B</answer>",
    ]  # invalid
    model_replies = ["one two three four"] * 6  # 4 words
    baseline_replies = ["one two"] * 6  # 2 words
    # built in a fresh context: an earlier eval in this process leaves its model and roles behind, and
    # the task's construction-time baseline check would read those (experiments.runner does the same)
    task = contextvars.Context().run(coherence, persona="sarcasm", prompts="general", n=6, max_tokens=8)
    log = eval(
        task,
        model=scripted(model_replies),
        model_roles={"baseline": scripted(baseline_replies), "grader": scripted(judge)},
        log_dir=str(tmp_path),
        max_samples=1,
        display="none",
    )[0]
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert (m["wins"], m["losses"], m["inconsistent"], m["invalid"]) == (1, 1, 2, 2)
    assert m["win_rate"] == 0.5 and m["consistency_rate"] == 0.5 and m["invalid_rate"] == pytest.approx(2 / 6)
    assert (m["win_rate_lo"], m["win_rate_hi"]) == pytest.approx(wilson_by_hand(1, 2), abs=1e-9)
    assert m["mean_words_model"] == 4 and m["mean_words_baseline"] == 2
    assert m["judge_invalid_no_answer_tag"] == 1 and m["judge_invalid_refusal"] == 1
    raws = [s.scores["pairwise_judge"].metadata["raw_second"] for s in log.samples]
    assert "I'm sorry, I can't judge this." in raws  # raw judge text kept


def test_length_controlled_win_rate_removes_a_pure_length_effect():
    diff = np.array([-30, -20, -10, -5, 5, 10, 20, 30] * 5, dtype=float)
    wins = (diff > 0).astype(int)
    wins[0::8] = 1  # symmetric noise (the longest loser wins, the longest winner loses) keeps the fit finite
    wins[7::8] = 0
    assert wins.mean() == pytest.approx(0.5, abs=0.1)
    assert length_controlled_win_rate(wins, diff) == pytest.approx(0.5, abs=0.1)
    longer = diff + 40  # the model is always longer and wins only by length
    raw = ((diff > 0) | (np.arange(len(diff)) % 4 == 0)).astype(int)
    assert length_controlled_win_rate(raw, longer) < raw.mean()


def test_length_controlled_win_rate_is_undefined_with_one_class():
    assert length_controlled_win_rate(np.ones(10), np.arange(10.0)) is None


def test_no_baseline_and_no_log_is_one_clear_error(tmp_path):
    with pytest.raises(CharbenchError, match="needs a baseline"):
        eval(
            "bench/coherence",
            model=scripted(["x"]),
            task_args={"persona": "sarcasm", "n": 1},
            log_dir=str(tmp_path),
            display="none",
        )


def test_baseline_answers_can_come_from_a_responses_log(tmp_path):
    base_log = eval(
        responses(prompts="general", n=3, max_tokens=8),
        model=scripted(["short", "shorter", "s"]),
        log_dir=str(tmp_path),
        display="none",
    )[0]
    log = eval(
        coherence(persona="loving", prompts="general", n=3, max_tokens=8, baseline_log=base_log.location),
        model=scripted(["a much longer reply"] * 3),
        model_roles={"grader": scripted(["<answer>A</answer>", "<answer>B</answer>"] * 3)},
        log_dir=str(tmp_path),
        max_samples=1,
        display="none",
    )[0]
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["wins"] == 3
    assert {s.metadata["baseline"] for s in log.samples} == {"short", "shorter", "s"}


def test_end_to_end_on_the_embedded_model_with_the_offline_judge(tmp_path):
    log = eval(
        "bench/coherence",
        model="charbench/prompt/sarcasm/smollm2-135m",
        model_roles={"baseline": "charbench/smollm2-135m"},
        task_args={"persona": "sarcasm", "n": 2, "max_tokens": 16, "prompts": "general"},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success"
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["pairs"] == 2 and m["invalid"] == 0  # the forced-choice judge always answers
    judges = {s.scores["pairwise_judge"].metadata["judge"] for s in log.samples}
    assert judges == {"embedded-forced-choice (smollm2-135m, weak)"}
    # the judge's own measurement travels with its win rate (bench/judges/coherence_validation.py)
    record = log.samples[0].scores["pairwise_judge"].metadata["judge_validation"]
    assert record["data"] == "shipped" and record["n_items"] == 110 and not record["validated"]
    assert m["judge_validated"] == 0.0 and m["judge_accuracy"] == pytest.approx(record["accuracy"])
    assert (m["judge_accuracy_lo"], m["judge_accuracy_hi"]) == pytest.approx(tuple(record["ci"]))


def test_the_shipped_coherence_pairs_are_rebuilt_by_rule_and_each_has_a_known_better_reply():
    from bench.judges.coherence_validation import KINDS, build_pairs, load_pairs

    pairs = load_pairs()
    assert pairs == build_pairs()  # reproducible from the trait judge's labelled replies
    assert {p["kind"] for p in pairs} == set(KINDS) and len(pairs) == 110
    assert all(p["better"] != p["worse"] for p in pairs)


def test_an_oracle_coherence_grader_validates_and_a_position_grader_does_not():
    import re

    from inspect_ai.model import ModelAPI, ModelOutput, ModelUsage, get_model, modelapi

    from bench.judges.coherence_validation import load_pairs, validate_grader

    pairs = load_pairs()[:40]
    better = {p["better"] for p in pairs}
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)

    def judge(name, answer):
        class Judge(ModelAPI):
            async def generate(self, input, tools, tool_choice, config):
                reply_a = re.search(r"<reply_a>\n(.*?)\n</reply_a>", input[-1].text, re.S).group(1)
                text = answer(reply_a)
                return ModelOutput.from_content(self.model_name, text).model_copy(update={"usage": usage})

        modelapi(name=name)(lambda: Judge)
        return get_model(f"{name}/judge")

    oracle = validate_grader(
        judge("coh-oracle", lambda a: "<answer>A</answer>" if a in better else "<answer>B</answer>"), pairs
    )
    assert oracle["accuracy"] == 1.0 and oracle["validated"] and oracle["consistency"] == 1.0
    first = validate_grader(judge("coh-first", lambda a: "<answer>A</answer>"), pairs)
    assert first["accuracy"] == 0.5 and first["position_bias"] == 1.0 and not first["validated"]
