"""The reference sampling reaches every provider the same way; `charbench score -M` reads model args."""

import pytest

from bench.models.generation import DEFAULTS, reference_generate_config, server_extra_body
from bench.revealed_prefs.revealed_prefs import revealed_prefs
from charbench.errors import CharbenchError
from charbench.score_cli import parse_model_args


def test_tasks_carry_the_reference_temperature_and_top_p():
    config = revealed_prefs(n=4, max_tokens=32).config
    assert (config.temperature, config.top_p, config.max_tokens, config.seed) == (0.7, 0.95, 32, 0)
    assert (config.temperature, config.top_p) == (DEFAULTS.temperature, DEFAULTS.top_p)
    assert reference_generate_config(8, 3).extra_body is None  # OpenAI's API would reject unknown fields


def test_repetition_penalty_goes_only_to_servers_that_read_it():
    assert server_extra_body("vllm//data/llama") == {"repetition_penalty": 1.1}
    assert server_extra_body("openai/gpt-4o") is None
    assert server_extra_body("charbench/smollm2-135m") is None  # the provider's -M repetition_penalty


def test_model_args_parse_as_inspect_does():
    args = parse_model_args(["host=127.0.0.1", "enforce_eager=true", "max_model_len=2048", "dtype=bfloat16"])
    assert args == {"host": "127.0.0.1", "enforce_eager": True, "max_model_len": 2048, "dtype": "bfloat16"}
    assert parse_model_args(["max-model-len=4096"]) == {"max_model_len": 4096}  # inspect eval's spelling too
    with pytest.raises(CharbenchError, match="write -M key=value"):
        parse_model_args(["host"])
