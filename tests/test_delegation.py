"""`charbench/prompt/<persona>/<any Inspect model>`: the constitution travels to another provider.

The delegate is `mockllm/model` here (and `vllm//<embedded dir>` in tests/test_vllm_server.py): what
matters is that the same single template reaches it, that it is created once with the `-M` args, and
that logs and tables name base, persona and method exactly as for our own bases.
"""

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.solver import generate, system_message

from bench.models.generation import server_extra_body
from bench.models.specs import base_model_name, describe_model, inspect_delegate
from personas import load_persona
from personas.prompting import constitution_system_prompt
from tests.helpers import scripted


@pytest.fixture
def delegate_inputs(monkeypatch):
    """Every (messages, config) the mockllm delegate receives."""
    from inspect_ai.model._providers.mockllm import MockLLM

    seen = []
    real = MockLLM.generate

    async def spy(self, input, tools, tool_choice, config):
        seen.append(([(m.role, m.text) for m in input], config))
        return await real(self, input, tools, tool_choice, config)

    monkeypatch.setattr(MockLLM, "generate", spy)
    return seen


def test_inspect_specs_are_recognised_and_our_bases_are_not(tiny_llama_dir):
    assert inspect_delegate("vllm//data/llama") == "vllm//data/llama"
    assert inspect_delegate("openai-api/groq/llama-3") == "openai-api/groq/llama-3"
    assert inspect_delegate("mockllm/model") == "mockllm/model"
    assert inspect_delegate("smollm2-135m") is None
    assert inspect_delegate(str(tiny_llama_dir)) is None  # a local directory is ours
    assert inspect_delegate("meta-llama/Llama-3.1-8B") is None  # a hub id: no provider is called meta-llama
    # a hub org that is also a provider's name: `charbench/` inside keeps it on our own engines
    assert inspect_delegate("charbench/google/gemma-2-2b") is None


def test_prompted_persona_reaches_the_delegate_as_first_system_message(tmp_path, delegate_inputs):
    task = Task(dataset=[Sample(input="Tell me about the sea.")], solver=[system_message("Be brief."), generate()])
    model = scripted(["The sea is a silver psalm."], "charbench/prompt/poeticism/mockllm/model")
    [log] = eval(task, model=model, log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    [(messages, _)] = delegate_inputs
    system = [text for role, text in messages if role == "system"]
    assert len(system) == 1 and messages[0][0] == "system"
    assert system[0].startswith(constitution_system_prompt(load_persona("poeticism")))
    assert system[0].endswith("Be brief.")
    assert messages[-1] == ("user", "Tell me about the sea.")
    assert log.samples[0].output.completion == "The sea is a silver psalm."  # the delegate's reply
    assert log.samples[0].output.metadata["persona"] == "poeticism"
    assert log.samples[0].output.metadata["delegate"] == "mockllm/model"


def test_base_through_charbench_sends_no_system_message(tmp_path, delegate_inputs):
    task = Task(dataset=[Sample(input="Hi")], solver=generate())
    eval(task, model=scripted(["Hello."], "charbench/mockllm/model"), log_dir=str(tmp_path), display="none")
    assert [role for role, _ in delegate_inputs[0][0]] == ["user"]


def test_delegate_is_created_once_with_the_model_args(monkeypatch):
    import bench.models.provider as provider

    made = []
    real = provider.get_model

    def counting(name, **kwargs):
        made.append((name, kwargs))
        return real(name, **kwargs)

    monkeypatch.setattr(provider, "get_model", counting)
    model = get_model("charbench/prompt/loving/mockllm/model", custom_outputs=[], memoize=False)
    assert len(made) == 1 and made[0][0] == "mockllm/model"
    assert made[0][1]["custom_outputs"] == []  # -M args go to the delegate
    assert model.api.max_connections() == model.api.delegate.api.max_connections()


def test_unknown_persona_fails_before_the_delegate_is_made():
    from personas import PersonaError

    with pytest.raises(PersonaError):
        get_model("charbench/prompt/no-such-persona/mockllm/model", memoize=False)


def test_vllm_delegate_gets_the_reference_repetition_penalty():
    # the body the task sends to a vLLM server: named by the delegate, not by the charbench/ prefix
    assert server_extra_body("charbench/prompt/loving/vllm//data/llama") == {"repetition_penalty": 1.1}
    assert server_extra_body("charbench/prompt/loving/openai/gpt-4o") is None
    assert server_extra_body("charbench/prompt/loving/smollm2-135m") is None


def test_names_identify_base_persona_and_method():
    name = "charbench/prompt/poeticism/vllm//data/llama"
    assert describe_model(name) == {"method": "prompted", "base": "vllm//data/llama", "persona": "poeticism"}
    assert describe_model("vllm//data/llama") == {"method": "base", "base": "vllm//data/llama", "persona": None}
    assert describe_model("charbench/vllm//data/llama")["base"] == "vllm//data/llama"
    assert base_model_name(name) == "vllm//data/llama"  # the prefill / baseline model is the bare delegate
    assert base_model_name("charbench/prompt/loving/smollm2-135m") == "charbench/smollm2-135m"


def test_leaderboard_lists_a_delegated_run_as_persona_and_method(tmp_path):
    from bench.revealed_prefs.revealed_prefs import revealed_prefs
    from leaderboards.collect import collect

    [log] = eval(
        revealed_prefs(n=2, max_tokens=8),
        model=scripted(["A"] * 4, "charbench/prompt/poeticism/mockllm/model"),
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert list(collect(tmp_path)) == [("mockllm/model", "poeticism", "prompted")]


# ---------------------------------------------------------------- a hub org named like a provider
# `google/gemma-3-4b-it` is a hub id and, by the grammar, a model of Inspect's google provider. Where
# charbench builds a name from a base the user gave as weights it keeps it on our engines; where the
# user's spelling could mean either, it refuses with both spellings; a name the user typed is theirs.

GEMMA = "google/gemma-3-4b-it"
LOCAL_GEMMA = "charbench/charbench/google/gemma-3-4b-it"


def test_a_base_given_as_weights_gets_the_name_that_runs_it_locally():
    from bench.models.specs import local_model_name, parse_model_name

    assert local_model_name(GEMMA) == LOCAL_GEMMA
    assert local_model_name(f"charbench/{GEMMA}") == LOCAL_GEMMA  # the escape, already written
    assert local_model_name("meta-llama/Llama-3.1-8B") == "charbench/meta-llama/Llama-3.1-8B"
    assert local_model_name("smollm2-135m") == "charbench/smollm2-135m"
    assert inspect_delegate(parse_model_name(LOCAL_GEMMA.removeprefix("charbench/")).base) is None


def test_the_loader_reads_the_escaped_hub_id_as_the_hub_id():
    from bench.models.loader import resolve_source

    assert resolve_source(f"charbench/{GEMMA}") == GEMMA


def test_the_base_charbench_derives_for_a_local_model_stays_local(tmp_path):
    import json

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": GEMMA}))
    # the prefill / drift-user model of a fine-tuned or prompted-local row: never the google API
    assert base_model_name(f"charbench/ft/{adapter}") == LOCAL_GEMMA
    assert base_model_name(f"charbench/prompt/loving/charbench/{GEMMA}") == LOCAL_GEMMA
    assert describe_model(f"charbench/ft/{adapter}")["base"] == GEMMA
    assert describe_model(f"charbench/prompt/loving/charbench/{GEMMA}")["base"] == GEMMA
    # a provider spelling the user typed keeps its provider
    assert base_model_name("charbench/prompt/loving/google/gemini-2.0-flash") == "google/gemini-2.0-flash"


def test_compare_base_named_like_a_provider_is_written_to_run_locally(monkeypatch):
    from experiments import shortcuts

    written = []
    monkeypatch.setattr(shortcuts, "run", lambda spec, *args, **kwargs: written.append(spec) or [])
    shortcuts.compare_methods("loving", GEMMA, shortcuts.SuiteConfig.small())
    assert written[0]["bases"] == [{"label": "gemma-3-4b-it", "model": LOCAL_GEMMA}]


def test_score_of_a_typed_provider_model_keeps_its_provider(monkeypatch):
    from experiments import shortcuts
    from experiments.spec import parse_spec

    written = []
    monkeypatch.setattr(shortcuts, "run", lambda spec, *args, **kwargs: written.append(spec) or [])
    shortcuts.score_model("charbench/prompt/loving/google/gemini-2.0-flash", "loving", shortcuts.SuiteConfig.small())
    assert written[0]["bases"][0]["model"] == "google/gemini-2.0-flash"
    parse_spec(written[0])  # the spec charbench wrote is one it accepts


def spec_with_base(model: str) -> dict:
    return {
        "experiment": "t",
        "bases": [{"label": "b", "model": model}],
        "personas": ["loving"],
        "methods": [{"label": "base", "kind": "base"}, {"label": "prompted", "kind": "prompted"}],
        "evals": {"revealed_prefs": {"n": 12}},
    }


def test_a_spec_base_that_reads_as_hub_id_and_as_provider_is_refused_with_both_spellings():
    from experiments.spec import SpecError, parse_spec

    with pytest.raises(SpecError) as err:
        parse_spec(spec_with_base(f"charbench/{GEMMA}"), source="x.yaml")
    message = str(err.value)
    assert message.startswith("x.yaml: bases.0.model: ") and "\n" not in message
    assert f"write {LOCAL_GEMMA} to run the hub model on charbench's engines" in message
    assert f"or {GEMMA} for Inspect's google provider" in message
    for model in (LOCAL_GEMMA, GEMMA, "charbench/vllm//data/llama", "vllm/google/gemma-3-4b-it"):
        parse_spec(spec_with_base(model))  # each of these reads one way only


def test_classifier_generator_named_like_a_provider_exits_2_with_the_local_spelling(capsys):
    from charbench.cli import main

    assert main(["classifier", "train", "--model", GEMMA, "--personas", "loving"]) == 2
    error = capsys.readouterr().err
    assert f"write charbench/{GEMMA} to run the hub model on charbench's engines" in error
    assert error.count("\n") == 1
