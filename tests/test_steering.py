import subprocess
import sys

import pytest
import torch
from inspect_ai.model import GenerateConfig

from bench.models.generation import Sampling, generate_chat
from bench.models.loader import load_causal_lm
from bench.models.provider import CharbenchAPI
from trainers.steering import SteeringError, SteeringVector, decoder_layers, default_layers, extract


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


def test_hook_adds_exactly_coef_times_v_and_leaves_earlier_layers(tiny_vector, tiny_llama_dir):
    loaded = load_causal_lm(str(tiny_llama_dir))
    vector = SteeringVector.load(tiny_vector)
    before = layer_inputs(loaded, "Hello there")
    with vector.applied(loaded.model, coef=2.5, layers=[1]):
        after = layer_inputs(loaded, "Hello there")
    # the input of layer i + 1 is the output of layer i
    assert torch.equal(after[0], before[0]) and torch.equal(after[1], before[1])  # layer 0 untouched
    assert torch.allclose(after[2] - before[2], 2.5 * vector.vectors[1].expand_as(before[2]), atol=1e-5)
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


@pytest.fixture(scope="module")
def embedded_vector(tmp_path_factory):
    vector = extract("sarcasm", "smollm2-135m", layers=[10, 12, 14], method="mean-diff")
    return vector.save(tmp_path_factory.mktemp("vec") / "smol.safetensors")


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


def cli(*args):
    return subprocess.run([sys.executable, "-m", "charbench.cli", *args], capture_output=True, text=True)


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
    result = cli("steer", "calibrate", str(path), "--coefs", "0", "--prompts", "1", "--max-tokens", "2")
    assert result.returncode == 2 and "hidden size" in result.stderr and "Traceback" not in result.stderr
