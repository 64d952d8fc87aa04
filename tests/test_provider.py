import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate

from bench.models import provider as provider_module
from bench.models.specs import ModelSpecError, format_model_name, parse_model_name
from personas import PersonaError, load_persona
from personas.prompting import constitution_system_prompt


@pytest.fixture
def captured(monkeypatch):
    """Record the conversations the provider hands to the generation engine."""
    seen = []
    real = provider_module.generate_chat

    def spy(loaded, conversations, sampling, **kwargs):
        seen.extend(conversations)
        return real(loaded, conversations, sampling, **kwargs)

    monkeypatch.setattr(provider_module, "generate_chat", spy)
    return seen


def run(model, tmp_path, **kwargs):
    task = Task(dataset=[Sample(input="Tell me about the sea.")], solver=generate())
    return eval(task, model=model, max_tokens=4, log_dir=str(tmp_path), display="none", **kwargs)[0]


def test_prompted_model_sends_the_constitution_as_first_system_message(tiny_llama_dir, tmp_path, captured):
    log = run(f"charbench/prompt/sarcasm/{tiny_llama_dir}", tmp_path)
    assert log.status == "success"
    first = captured[0][0]
    assert first == {"role": "system", "content": constitution_system_prompt(load_persona("sarcasm"))}
    assert "sarcasm" in log.eval.model  # the persona is part of the model name (cache, logs)


def test_base_model_sends_no_system_message(tiny_llama_dir, tmp_path, captured):
    run(f"charbench/{tiny_llama_dir}", tmp_path)
    assert [m["role"] for m in captured[0]] == ["user"]


def test_prompted_model_merges_an_existing_system_message(tiny_llama_dir, tmp_path, captured):
    from inspect_ai.solver import system_message

    task = Task(dataset=[Sample(input="Hi")], solver=[system_message("Be brief."), generate()])
    eval(task, model=f"charbench/prompt/loving/{tiny_llama_dir}", max_tokens=4, log_dir=str(tmp_path), display="none")
    system = [m for m in captured[0] if m["role"] == "system"]
    assert len(system) == 1 and system[0]["content"].endswith("Be brief.")
    assert system[0]["content"].startswith(constitution_system_prompt(load_persona("loving")))


def test_sampling_defaults_are_the_reference_ones(tiny_llama_dir):
    api = provider_module.CharbenchAPI(f"{tiny_llama_dir}")
    from inspect_ai.model import GenerateConfig

    sampling = api.sampling(GenerateConfig())
    assert (sampling.temperature, sampling.top_p, sampling.repetition_penalty) == (0.7, 0.95, 1.1)


def test_unknown_persona_fails_at_start_up(tiny_llama_dir):
    with pytest.raises(PersonaError, match="unknown persona 'pirate'"):
        provider_module.CharbenchAPI(f"prompt/pirate/{tiny_llama_dir}")


@pytest.mark.parametrize(
    "name",
    [
        "smollm2-135m",
        "prompt/sarcasm/smollm2-135m",
        "prompt/loving//abs/path",
        "steer/4@3-5/v.safetensors",
        "steer/0.5/vectors/x.safetensors",
        "ft/out/adapter",
        "prompt/humor/org/model",
    ],
)
def test_model_names_round_trip(name):
    assert format_model_name(parse_model_name(name)) == f"charbench/{name}"


@pytest.mark.parametrize("name", ["prompt/sarcasm", "steer/strong/v.safetensors", "steer/2.0", "ft", ""])
def test_malformed_model_names_are_rejected(name):
    with pytest.raises(ModelSpecError):
        parse_model_name(name)


def test_unknown_model_arg_is_a_clear_error(tiny_llama_dir):
    with pytest.raises(ModelSpecError, match="unknown model args for charbench/: temprature"):
        provider_module.CharbenchAPI(f"{tiny_llama_dir}", temprature=0.5)
