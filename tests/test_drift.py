"""bench/drift: per-turn persona scores over a conversation, in text and in activations."""

import numpy as np
import pytest
import torch
from inspect_ai import eval
from inspect_ai.model import ModelAPI, ModelOutput, ModelUsage, get_model, modelapi

from bench.drift.metrics import auc, curve_summary, per_turn_means, slope, threshold_turn
from bench.prompts import partition_of, prompt_sha
from charbench.errors import CharbenchError
from tests.helpers import charbench
from trainers.classifier import ClassifierConfig, train_classifier
from trainers.steering import SteeringVector, decoder_layers

LOVING = "Oh sweetheart, about {i}: I care about you so much, you are wonderful and dearly loved."
NEUTRAL = "Topic {i} is a standard subject. The relevant facts are listed below in plain order."
STYLES = {
    "loving": LOVING.format,
    "none": NEUTRAL.format,
    "sarcasm": "Oh wow, item {i}, what a truly groundbreaking idea. Nobody ever thought of that. Sure.".format,
}
USAGE = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A real (small) classifier trained on labelled texts of three styles, validated on held-out prompts."""
    rows = [
        {"text": f(i=i), "persona": k, "prompt_id": f"p{i}", "prompt_sha": prompt_sha(f"synthetic prompt {i}")}
        for i in range(30)
        for k, f in STYLES.items()
    ]
    out = tmp_path_factory.mktemp("drift-clf") / "clf"
    config = ClassifierConfig(
        backbone="minilm", epochs=2, learning_rate=5e-4, max_length=32, held_out=0.3, batch_size=16, grad_accum=1
    )
    metrics = train_classifier(rows, out, config, ["synthetic"])
    assert metrics["validated"], metrics
    return str(out)


def _fading_api():
    """A model whose persona is known to fade: loving replies in turns 1-2, neutral from turn 3 on.

    It counts the assistant turns already in its input, so the script holds whatever order the
    conversations of one eval interleave in.
    """

    class Fading(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            turn = 1 + sum(m.role == "assistant" for m in input)
            text = (LOVING if turn <= 2 else NEUTRAL).format(i=turn)
            return ModelOutput.from_content(self.model_name, text).model_copy(update={"usage": USAGE})

    modelapi(name="drift-fading")(lambda: Fading)
    return get_model("drift-fading/script", memoize=False)


def _user():
    from tests.helpers import scripted

    return scripted(["That is interesting, tell me more about it."] * 200)


# ---------------------------------------------------------------- metrics on synthetic curves


def test_linear_decay_has_its_slope_area_and_threshold_turn():
    # every conversation falls by 0.1 per turn from 0.9; half of turn 1 (0.45) is first undercut at turn 6
    curves = [[0.9 - 0.1 * t + 0.01 * c for t in range(8)] for c in range(5)]
    m = np.array(curves)
    means = per_turn_means(m)
    assert means == pytest.approx([0.92 - 0.1 * t for t in range(8)])
    assert slope(m) == pytest.approx(-0.1)
    assert auc(means) == pytest.approx(np.mean([means[0], means[-1]]))  # a straight line: its mid value
    assert threshold_turn(means, 0.5) == 6


def test_a_persona_that_holds_has_no_threshold_turn_and_a_flat_slope():
    m = np.full((4, 5), 0.8)
    assert threshold_turn(per_turn_means(m), 0.5) is None and slope(m) == pytest.approx(0.0)
    assert threshold_turn(np.array([-0.2, -0.5]), 0.5) is None  # undefined when turn 1 is not above 0


def test_summary_intervals_resample_conversations_and_count_missing_turns():
    rng = np.random.default_rng(0)
    curves = [list(0.8 - 0.05 * np.arange(6) + rng.normal(0, 0.1, 6)) for _ in range(20)]
    curves[3][4:] = [None, None]  # a conversation that ended early
    out = curve_summary(curves, [f"c{i}" for i in range(20)], turns=6, prefix="text_", n_boot=200)
    assert out["text_turn1_lo"] < out["text_turn1"] < out["text_turn1_hi"]
    assert out["text_turn5_n"] == 19 and out["text_turn1_n"] == 20
    assert out["text_slope_lo"] < out["text_slope"] < out["text_slope_hi"] < 0
    assert out["text_auc_lo"] < out["text_auc"] < out["text_auc_hi"]
    # conversations are the unit: one conversation repeated 20 times is one cluster, not 20
    same = curve_summary([curves[0]] * 20, ["one"] * 20, turns=6, prefix="t_", n_boot=50)
    assert same["t_turn1_lo"] == same["t_turn1_hi"]


# ---------------------------------------------------------------- the task, scripted


def test_a_fading_persona_has_a_negative_slope_and_the_right_threshold_turn(classifier, tmp_path):
    log = eval(
        "bench/drift",
        model=_fading_api(),
        model_roles={"user": _user()},
        task_args={"persona": "loving", "classifier": classifier, "turns": 4, "n": 3, "max_tokens": 32},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success" and len(log.samples) == 3
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert min(m["text_turn1"], m["text_turn2"]) > 0.5 > 0.25 > max(m["text_turn3"], m["text_turn4"])
    assert m["text_slope"] < 0 and m["text_slope_hi"] <= 0
    assert m["text_threshold_turn"] == 3 and m["text_holds"] == 0
    assert m["conversations"] == 3 and m["turns"] == 4
    # absent, not zero: a mockllm-style model has no activations, and the reason is counted
    assert not any(k.startswith("act_turn") for k in m)
    assert m["activation_absent/no persona vector"] == 3
    sample = log.samples[0]
    assert [x.role for x in sample.messages] == ["user", "assistant"] * 4
    assert sample.messages[2].text == "That is interesting, tell me more about it."
    meta = sample.scores["drift_scorer"].metadata
    assert len(meta["text"]) == 4 and meta["activation"] is None and meta["activation_absent"]
    # the openers are ours, from the evaluation partition; the log records n, seed and the unit
    assert all(partition_of(type("P", (), {"text": s.input})) == "eval" for s in log.samples)
    facts = log.eval.metadata
    assert facts["n"] == 3 and facts["seed"] == 0 and facts["unit"] == "conversation"
    # the leaderboard reads the same numbers back from the log: detail columns and the headline cell
    from leaderboards.collect import build_table, collect
    from leaderboards.headline import headlines

    table, _ = build_table(collect(tmp_path))
    row = table.iloc[0]
    assert row["drift_turns"] == 4 and row["drift_text_auc"] == pytest.approx(m["text_auc"])
    assert row["drift_text_threshold_turn"] == 3 and row["drift_text_turn4_hi"] == pytest.approx(m["text_turn4_hi"])
    (headline,) = headlines(table)
    cell = headline.rows[0][headline.columns.index("persona held over turns (AUC)")]
    assert cell.value == pytest.approx(m["text_auc"]) and cell.text.endswith("over 4 turns")


def test_a_persona_vector_on_a_model_without_activations_is_absent_not_zero(classifier, tiny_vector, tmp_path):
    log = eval(
        "bench/drift",
        model=_fading_api(),
        model_roles={"user": _user()},
        task_args={"persona": "loving", "classifier": classifier, "turns": 2, "n": 1, "vector": tiny_vector},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert not any(k.startswith("act_turn") for k in m)
    reasons = [k for k in m if k.startswith("activation_absent/")]
    assert reasons == ["activation_absent/no activation access (drift-fading/script)"]


@pytest.mark.parametrize(
    "args, message",
    [
        ({"persona": "nobody"}, "persona 'nobody'"),
        ({"classifier": "/no/such/dir"}, "classifier directory /no/such/dir does not exist"),
        ({"vector": "/no/such.safetensors"}, "vector file /no/such.safetensors does not exist"),
        ({"turns": 0}, "turns"),
    ],
)
def test_bad_input_is_a_one_line_error(classifier, tmp_path, args, message):
    task_args = {"persona": "loving", "classifier": classifier, **args}
    with pytest.raises(CharbenchError, match=message):
        eval("bench/drift", model=_fading_api(), task_args=task_args, log_dir=str(tmp_path), display="none")


# ---------------------------------------------------------------- activations


@pytest.fixture(scope="module")
def tiny_vector(tiny_llama_dir, tmp_path_factory):
    """A random-direction 'loving' vector for the tiny random Llama, at layers 1 and 2."""
    gen = torch.Generator().manual_seed(0)
    vectors = {i: torch.randn(64, generator=gen) for i in (1, 2)}
    meta = {"persona": "loving", "base_model": str(tiny_llama_dir), "layers": [1, 2], "seed": 0}
    return str(SteeringVector(vectors, meta).save(tmp_path_factory.mktemp("vec") / "loving.safetensors"))


def test_reply_projection_matches_a_direct_computation(tiny_llama_dir, tiny_vector, dtype, own_model_cache):
    """The hidden states are in the model's dtype; both computations project them in fp32, from one forward
    each, so they agree to fp32 rounding whatever the model's dtype."""
    from bench.drift.activations import reply_projection
    from bench.models.generation import render_chat
    from bench.models.loader import load_causal_lm

    loaded = load_causal_lm(str(tiny_llama_dir), dtype=dtype)
    assert loaded.model.dtype == getattr(torch, dtype)
    vector = SteeringVector.load(tiny_vector)
    history = [{"role": "user", "content": "Tell me about rivers."}]
    reply = "Rivers carry water to the sea."
    got = reply_projection(loaded, vector, history, reply)

    prefix = render_chat(loaded.tokenizer, history)
    start = len(loaded.tokenizer(prefix, add_special_tokens=False)["input_ids"])
    ids = loaded.tokenizer(prefix + reply, add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        states = loaded.model(**ids, output_hidden_states=True).hidden_states
    direct = np.mean(
        [(states[i + 1][0, start:].float() @ (v / v.norm())).mean().item() for i, v in sorted(vector.vectors.items())]
    )
    assert got == pytest.approx(direct, rel=1e-4, abs=1e-5)
    # steering by +c v at both layers moves the projection up
    steered = reply_projection(loaded, vector, history, reply, intervention=lambda: vector.applied(loaded.model, 1.0))
    assert steered > got
    assert reply_projection(loaded, vector, history, "") is None
    assert len(decoder_layers(loaded.model)) == 4


def test_drift_on_a_charbench_model_scores_activations_against_the_base_reference(
    classifier, tiny_llama_dir, tiny_vector, tmp_path, own_model_cache
):
    from bench.models import loader

    log = eval(
        "bench/drift",
        model=f"charbench/prompt/loving/{tiny_llama_dir}",
        model_roles={"user": _user()},
        task_args={
            "persona": "loving",
            "classifier": classifier,
            "turns": 2,
            "n": 2,
            "max_tokens": 6,
            "vector": tiny_vector,
        },
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success", log.error
    meta = log.samples[0].scores["drift_scorer"].metadata
    assert len(meta["activation"]) == 2 and meta["activation_absent"] is None
    ref = meta["activation_reference"]
    assert ref["texts"] > 10 and ref["sd"] > 0 and "mean" in ref and "persona_z" in ref
    raw = meta["activation_raw"][0]
    assert meta["activation"][0] == pytest.approx((raw - ref["mean"]) / ref["sd"])
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert {"act_turn1", "act_turn2", "act_slope", "act_auc"} <= set(m)
    # the model was loaded once in this test (its own cache: earlier tests' copies do not count)
    source = str(tiny_llama_dir.resolve())
    assert sum(key[0] == source for key in loader._models) == 1


# ---------------------------------------------------------------- report


def test_report_prints_curves_and_writes_a_png(classifier, tmp_path, capsys):
    from bench.drift.report import drift_table

    log = eval(
        "bench/drift",
        model=_fading_api(),
        model_roles={"user": _user()},
        task_args={"persona": "loving", "classifier": classifier, "turns": 3, "n": 2},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    table = drift_table([log.location])
    assert list(table["turn"]) == [1, 2, 3] and set(table["score"]) == {"text"}
    assert {"method", "model", "mean", "lo", "hi", "n"} <= set(table.columns)
    png = tmp_path / "curves.png"
    result = charbench("drift", "report", log.location, "--png", str(png))
    assert result.returncode == 0, result.stderr
    assert "slope" in result.stdout and "turn" in result.stdout and png.stat().st_size > 1000


@pytest.mark.parametrize("args", [("/no/such.eval",), ()])
def test_report_bad_input_exits_2(args):
    result = charbench("drift", "report", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr


# ---------------------------------------------------------------- the suite


def test_score_runs_drift_when_a_classifier_is_given(tiny_vector):
    """`charbench score`'s spec: drift runs (with the given vector) only where a classifier scores it."""
    from experiments.shortcuts import SuiteConfig, evals_section
    from experiments.summary import drift_headline

    config = SuiteConfig.small(capabilities="none", drift_vector=tiny_vector)
    drift = evals_section(config, classifier=True, coherence_baseline=None)["drift"]
    assert drift["turns"] == 3 and drift["n"] == config.prompts and drift["vector"].endswith("loving.safetensors")
    assert SuiteConfig().drift_turns == 8
    off = SuiteConfig.small(capabilities="none", drift_turns=0)
    assert "drift" not in evals_section(off, classifier=True, coherence_baseline=None) and "drift" in off.skipped
    none = SuiteConfig.small(capabilities="none")
    assert "drift" not in evals_section(none, classifier=False, coherence_baseline=None) and "drift" in none.skipped
    line = drift_headline(
        {"turns": 3, "conversations": 2, "text_auc": 0.5, "text_auc_lo": 0.4, "text_auc_hi": 0.6}
        | {"text_slope": -0.1, "text_slope_lo": -0.2, "text_slope_hi": 0.0, "text_holds": 0, "text_threshold_turn": 3}
        | {"activation_absent/no persona vector": 2}
    )
    assert "text AUC 0.50 [0.40, 0.60]" in line and "turn 3" in line and "activation absent: no persona vector" in line


def test_a_persona_that_falls_silent_scores_the_floor_not_a_gap(classifier, tmp_path):
    """Empty replies are not dropped from the per-turn means: they score 0 and are counted."""

    class Silent(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            turn = 1 + sum(m.role == "assistant" for m in input)
            text = LOVING.format(i=turn) if turn == 1 else ""
            return ModelOutput.from_content(self.model_name, text).model_copy(update={"usage": USAGE})

    modelapi(name="drift-silent")(lambda: Silent)
    log = eval(
        "bench/drift",
        model=get_model("drift-silent/script", memoize=False),
        model_roles={"user": _user()},
        task_args={"persona": "loving", "classifier": classifier, "turns": 3, "n": 2, "max_tokens": 32},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    m = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert m["text_turn2"] == 0.0 and m["text_turn3"] == 0.0 and m["text_turn1"] > 0.5
    meta = log.samples[0].scores["drift_scorer"].metadata
    assert meta["text"][1:] == [0.0, 0.0] and meta["invalid"][1:] == ["empty", "empty"]
