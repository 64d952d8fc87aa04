import numpy as np
import pytest
import torch
from inspect_ai.model import GenerateConfig

from bench.models.generation import Sampling, generate_chat
from bench.models.loader import load_causal_lm
from bench.models.provider import CharbenchAPI
from tests.helpers import charbench
from trainers.steering import (
    SteeringError,
    SteeringVector,
    decoder_layers,
    default_layers,
    extract,
    steering_direction,
)


@pytest.fixture(scope="module")
def tiny_vector(tiny_llama_dir, tmp_path_factory):
    vector = extract("sarcasm", str(tiny_llama_dir), layers=[1, 2], method="mean-diff")
    return vector.save(tmp_path_factory.mktemp("vec") / "tiny.safetensors")


def layer_inputs(loaded, text):
    """The input of every decoder layer (= the previous layer's output, after any steering hook)."""
    seen = {}
    blocks = decoder_layers(loaded.model)
    handles = [
        block.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: seen.__setitem__(i, args[0] if args else kwargs["hidden_states"]),
            with_kwargs=True,
        )
        for i, block in enumerate(blocks)
    ]
    try:
        with torch.inference_mode():
            loaded.model(**loaded.tokenizer([text], return_tensors="pt"))
    finally:
        for h in handles:
            h.remove()
    return seen


def test_default_layers_are_the_middle_75_percent():
    assert default_layers(32) == list(range(4, 28))


def synthetic_diffs(pairs=64, hidden=32, seed=0):
    """Contrast pairs whose shift is about 5u for every pair, plus a spread along w (orthogonal to u).

    The shared shift u is what pca-center must find; the spread w is what a PCA of the *centred*
    differences (repeng's pca_diff, this module's old pca-center) finds instead.
    """
    rng = np.random.default_rng(seed)
    u, w = np.linalg.qr(rng.normal(size=(hidden, 2)))[0].T
    neg = 20 * rng.normal(size=hidden) + rng.normal(size=(pairs, hidden))  # a large common offset
    shift = (
        (5 + 0.1 * rng.normal(size=(pairs, 1))) * u
        + rng.normal(size=(pairs, 1)) * w
        + 0.05 * rng.normal(size=(pairs, hidden))
    )
    return (neg + shift) - neg, u, w


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_pca_center_is_the_top_singular_vector_of_the_uncentred_differences():
    diffs, u, w = synthetic_diffs()
    mean = diffs.mean(0)
    top = np.linalg.svd(diffs, full_matrices=False)[2][0]
    top = top * np.sign(mean @ top)
    # repeng's pca_center: PCA (which centres) of the rows +d/2 and -d/2 around each pair's midpoint
    rows = np.concatenate([diffs / 2, -diffs / 2])
    repeng = np.linalg.svd(rows - rows.mean(0), full_matrices=False)[2][0]
    assert abs(cosine(repeng, top)) > 0.9999
    centred = np.linalg.svd(diffs - mean, full_matrices=False)[2][0]  # repeng's pca_diff
    assert cosine(top, u) > 0.99 and abs(cosine(centred, w)) > 0.99  # the two definitions really differ

    got = steering_direction(torch.tensor(diffs, dtype=torch.float32), "pca-center").numpy()
    assert cosine(got, top) > 0.999
    assert abs(cosine(got, centred)) < 0.5
    assert np.isclose(np.linalg.norm(got), mean @ top, rtol=1e-4)  # scaled to the mean's projection


def test_mean_diff_is_the_mean_difference():
    diffs, _, _ = synthetic_diffs(seed=1)
    got = steering_direction(torch.tensor(diffs, dtype=torch.float32), "mean-diff").numpy()
    assert np.allclose(got, diffs.mean(0), atol=1e-5)


@pytest.mark.parametrize("method", ["mean-diff", "pca-center"])
@pytest.mark.parametrize("flip", [1, -1])
def test_steering_direction_points_along_the_mean_difference(method, flip):
    diffs, _, _ = synthetic_diffs(seed=2)
    diffs = torch.tensor(flip * diffs, dtype=torch.float32)
    assert float(steering_direction(diffs, method) @ diffs.mean(0)) > 0


def test_steering_direction_rejects_an_unknown_method():
    with pytest.raises(SteeringError, match="pca-center"):
        steering_direction(torch.ones(3, 4), "pca_diff")


def test_extract_writes_metadata(tiny_vector, tiny_llama_dir):
    vector = SteeringVector.load(tiny_vector)
    assert vector.layers == [1, 2]
    meta = vector.metadata
    assert meta["base_model"] == str(tiny_llama_dir) and meta["method"] == "mean-diff"
    assert len(meta["prompt_set_hash"]) == 12 and meta["pairs"] >= 50 and set(meta["norms"]) == {"1", "2"}


def test_pca_center_direction_has_the_mean_difference_sign(tiny_llama_dir):
    pca = extract("loving", str(tiny_llama_dir), layers=[2], method="pca-center")
    mean = extract("loving", str(tiny_llama_dir), layers=[2], method="mean-diff")
    assert float(pca.vectors[2] @ mean.vectors[2]) > 0


def test_hook_adds_exactly_coef_times_v_and_leaves_earlier_layers(tiny_vector, tiny_llama_dir, dtype, own_model_cache):
    loaded = load_causal_lm(str(tiny_llama_dir), dtype=dtype)
    assert loaded.model.dtype == getattr(torch, dtype)
    vector = SteeringVector.load(tiny_vector)
    before = layer_inputs(loaded, "Hello there")
    with vector.applied(loaded.model, coef=2.5, layers=[1]):
        after = layer_inputs(loaded, "Hello there")
    # the input of layer i + 1 is the output of layer i
    assert torch.equal(after[0], before[0]) and torch.equal(after[1], before[1])  # layer 0 untouched
    added = after[2].float() - before[2].float()
    expected = 2.5 * vector.vectors[1].float().expand_as(added)
    # exact up to the model dtype's rounding: of coef * v, and of the sum (|after|); eps is twice that
    rounding = torch.finfo(loaded.model.dtype).eps * (expected.abs() + after[2].float().abs())
    assert ((added - expected).abs() <= rounding).all()
    assert not torch.allclose(after[3], before[3])  # the change propagates downstream


def test_no_hook_remains_after_generation(tiny_vector, tiny_llama_dir):
    loaded = load_causal_lm(str(tiny_llama_dir))
    vector = SteeringVector.load(tiny_vector)
    blocks = decoder_layers(loaded.model)
    before = [dict(block._forward_hooks) for block in blocks]  # transformers keeps recorder hooks of its own
    during = []
    generate_chat(
        loaded,
        [[{"role": "user", "content": "hi"}]],
        Sampling(max_new_tokens=3),
        intervention=lambda: _counting(vector.applied(loaded.model, coef=1.0), blocks, during),
    )
    assert during and during[0][1] == len(before[1]) + 1  # the hook was really there
    assert [dict(block._forward_hooks) for block in blocks] == before


import contextlib  # noqa: E402


@contextlib.contextmanager
def _counting(context, blocks, during):
    with context:
        during.append([len(b._forward_hooks) for b in blocks])
        yield


# What `extract("sarcasm", "smollm2-135m", layers=[10, 12, 14])` gives these layers (measured): extraction
# itself is tested on the tiny model above; on the embedded model it costs 156 long forward passes (15-30 s).
EMBEDDED_NORMS = {10: 14.0, 12: 17.3, 14: 18.1}


@pytest.fixture(scope="module")
def embedded_vector(tmp_path_factory):
    """A seeded random direction per layer at the norm extraction gives there, in the extracted file format."""
    generator = torch.Generator().manual_seed(0)
    vectors = {}
    for layer, norm in EMBEDDED_NORMS.items():
        direction = torch.randn(576, generator=generator)
        vectors[layer] = direction * norm / direction.norm()
    metadata = {"persona": "sarcasm", "base_model": "smollm2-135m", "layers": sorted(vectors), "hidden_size": 576}
    return SteeringVector(vectors, metadata).save(tmp_path_factory.mktemp("vec") / "smol.safetensors")


def run_provider(name, prompts):

    api = CharbenchAPI(name)
    config = GenerateConfig(max_tokens=24, seed=3)
    convs = [[{"role": "user", "content": p}] for p in prompts]
    return [c.text for c in generate_chat(api.loaded, convs, api.sampling(config), intervention=api.intervention())]


def test_steered_embedded_model_differs_from_base_and_coef_zero_is_identical(embedded_vector):
    prompts = ["Tell me about your weekend.", "What is a good breakfast?"]
    base = run_provider("smollm2-135m", prompts)
    zero = run_provider(f"steer/0/{embedded_vector}", prompts)
    steered = run_provider(f"steer/0.3/{embedded_vector}", prompts)
    assert zero == base
    assert steered != base


def test_vector_for_another_hidden_size_is_rejected(embedded_vector, tiny_llama_dir):
    vector = SteeringVector.load(embedded_vector)
    with pytest.raises(SteeringError, match="hidden size 576 but model .* has 64"):
        vector.check_compatible(load_causal_lm(str(tiny_llama_dir)))


def test_missing_vector_file_is_one_clear_error(tmp_path):
    with pytest.raises(SteeringError, match="does not exist"):
        SteeringVector.load(tmp_path / "nope.safetensors")


cli = charbench  # in-process (tests.helpers.charbench)


@pytest.mark.parametrize(
    "args, message",
    [
        (("steer", "calibrate", "/no/such/vector.safetensors"), "does not exist"),
        (("steer", "extract", "--persona", "pirate", "--model", "smollm2-135m"), "unknown persona 'pirate'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, message):
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_cli_hidden_size_mismatch_exits_2(embedded_vector, tiny_llama_dir, tmp_path):
    vector = SteeringVector.load(embedded_vector)
    vector.metadata["base_model"] = str(tiny_llama_dir)
    path = vector.save(tmp_path / "wrong.safetensors")
    result = cli("steer", "calibrate", str(path), "--coefs", "0", "--n-prompts", "1", "--max-tokens", "2")
    assert result.returncode == 2 and "hidden size" in result.stderr and "Traceback" not in result.stderr


def test_a_steered_model_running_beside_its_base_leaves_the_base_unchanged(tiny_vector, tiny_llama_dir, tmp_path):
    """Base and steered share one loaded copy of the weights in one process; two evals at once must not
    let the steered model's hooks reach the base model's generation (the generation lock)."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate

    task = Task(
        dataset=[Sample(input=f"Tell me about {t}.") for t in ("rain", "salt", "iron", "moss")], solver=generate()
    )
    base, steered = f"charbench/{tiny_llama_dir}", f"charbench/steer/50.0/{tiny_vector}"
    settings = dict(temperature=0.0, max_tokens=8, display="none", model_args={"batch_size": 1})
    [alone] = inspect_eval(task, model=base, log_dir=str(tmp_path / "alone"), **settings)
    logs = inspect_eval(task, model=[base, steered], log_dir=str(tmp_path / "together"), max_tasks=2, **settings)
    replies = {log.eval.model: {s.id: s.output.completion for s in log.samples} for log in logs}
    assert replies[base] == {s.id: s.output.completion for s in alone.samples}
    assert replies[steered] != replies[base]  # the hooks were on while the base generated beside them


def test_a_calibration_that_finds_no_coefficient_refuses_and_records_none(tiny_vector, tmp_path):
    """Nothing shown that was not measured: coefficient 0 is the base model, never "the calibrated one"."""
    path = SteeringVector.load(tiny_vector).save(tmp_path / "vector.safetensors")
    result = cli("steer", "calibrate", str(path), "--coefs", "0", "--n-prompts", "1", "--max-tokens", "2")
    assert result.returncode == 2 and "no coefficient raised" in result.stderr and "Traceback" not in result.stderr
    assert SteeringVector.load(path).metadata["calibration"]["coef"] is None
