"""Scoring through vLLM: a prompted persona delegated to Inspect's own `vllm/` provider, which starts
`vllm serve` on the embedded model's folder (CPU, 127.0.0.1); the tournament runs through it, the
leaderboard lists it as persona and method, and the server is gone afterwards."""

import os
import sys
from pathlib import Path

import psutil
import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from bench.models.generation import server_extra_body
from bench.models.loader import load_causal_lm, resolve_source
from bench.revealed_prefs.revealed_prefs import revealed_prefs
from leaderboards.collect import collect
from personas import load_persona
from personas.prompting import constitution_system_prompt
from tests.helpers import require_vllm

require_vllm()

pytestmark = pytest.mark.slow


def vllm_servers() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "serve" in proc.cmdline():
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def test_prompted_persona_on_inspect_vllm_provider_scores_the_tournament_on_cpu(tmp_path, monkeypatch):
    # Inspect runs `vllm` from PATH: the venv's (the working command `make vllm` installs).
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    model_dir = resolve_source("smollm2-135m")
    n = 6
    name = f"charbench/prompt/poeticism/vllm/{model_dir}"
    # Inspect starts `vllm serve` on the first generate and stops it when the model is closed.
    with get_model(name, host="127.0.0.1", enforce_eager=True, dtype="float32", max_model_len=2048) as model:
        [log] = inspect_eval(
            revealed_prefs(n=n, max_tokens=24),
            model=model,
            log_dir=str(tmp_path),
            display="none",
            extra_body=server_extra_body(name),  # what `charbench score` sends: the server must accept it
        )
        assert [p.cmdline()[p.cmdline().index("--host") + 1] for p in vllm_servers()] == ["127.0.0.1"]
    assert vllm_servers() == [], "the server is stopped with its model"
    assert log.status == "success", log.error
    assert len(log.samples) == n
    assert all(s.output.completion for s in log.samples), "every matchup got a reply from the vLLM server"
    # the server saw the constitution: the prompt is hundreds of tokens, not the bare matchup question
    constitution_tokens = len(
        load_causal_lm("smollm2-135m").tokenizer(constitution_system_prompt(load_persona("poeticism"))).input_ids
    )
    assert min(s.output.usage.input_tokens for s in log.samples) > constitution_tokens
    # the leaderboard row names the base without this machine's path (charbench.paths.shown)
    assert list(collect(tmp_path)) == [(f"vllm/{Path(model_dir).name}", "poeticism", "prompted")]
    assert log.eval.model == name
    assert log.results.scores[0].metrics["matchups"].value == n
    # the reference sampling reached the server (vLLM's own default would be temperature 1.0, no penalty)
    assert log.plan.config.temperature == 0.7 and log.plan.config.top_p == 0.95
    assert log.plan.config.extra_body == {"repetition_penalty": 1.1}
