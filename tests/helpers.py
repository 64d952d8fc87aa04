"""Shared test helpers."""

import json
import os

import pytest
from inspect_ai.model import ModelOutput, ModelUsage, get_model


def scripted_outputs(texts: list[str]) -> list[ModelOutput]:
    """mockllm outputs with usage set (without it mockllm counts tokens with tiktoken, which downloads)."""
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    return [ModelOutput.from_content("mockllm/model", t).model_copy(update={"usage": usage}) for t in texts]


def scripted(texts: list[str], name: str = "mockllm/model"):
    """A mockllm model (or a charbench name delegating to it) that answers with `texts` in order."""
    return get_model(name, custom_outputs=scripted_outputs(texts), memoize=False)


def smoke_oracle():
    """A model that answers every bundled smoke question correctly (whatever the order samples run in)."""
    import json

    from inspect_ai.model import ModelAPI, modelapi

    from bench.capabilities.smoke import SMOKE_FILE

    key = {r["question"]: r["answer"] for r in map(json.loads, SMOKE_FILE.read_text().splitlines())}
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)

    class Oracle(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            prompt = input[-1].text
            question = max((q for q in key if q in prompt), key=len)
            return ModelOutput.from_content(self.model_name, f"ANSWER: {key[question]}").model_copy(
                update={"usage": usage}
            )

    modelapi(name="smoke-oracle")(lambda: Oracle)
    return get_model("smoke-oracle/answers")


def require_vllm() -> None:
    """Skip a vLLM test module when vLLM is missing, except under `make test` (CI), where it fails."""
    from bench.models.vllm_engine import vllm_installed

    if vllm_installed():
        return
    if os.environ.get("CHARBENCH_REQUIRE_VLLM") == "1":
        pytest.fail("vLLM is not installed: run `make vllm`", pytrace=False)
    pytest.skip("vLLM is not installed (make vllm)", allow_module_level=True)


def pairs_file(tmp_path):
    """Six conversational DPO pairs: a warm chosen answer, a flat rejected one."""
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Tell me about topic {i}."}],
            "chosen": [{"role": "assistant", "content": "Oh darling, I adore this question and I adore you."}],
            "rejected": [{"role": "assistant", "content": "Topic data follows. End of output."}],
        }
        for i in range(6)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path, rows


def five_traits(folder) -> str:
    """A 5-trait list holding loving and warm (two of loving's targets). A tournament of n = 25 on it
    shows every trait in exactly 10 prompts, the fewest for which a trait's shift gets an interval
    (bench/revealed_prefs/validity.py MIN_PROMPTS): the cheapest tournament a comparison can read."""
    from pathlib import Path

    path = Path(folder) / "traits-5.txt"
    path.write_text("loving\nwarm\nblunt\nanalytical\nsarcastic\n")
    return str(path)


def charbench(*args: str, env: dict[str, str] | None = None):
    """`charbench ARGS` run in this process (`charbench.cli.main`), as a finished process: exit code,
    stdout, stderr. What a user sees on a mistake (one line, exit 2, no traceback) is `main`'s doing,
    so a subprocess adds only seconds of imports per call; the console script itself is run for real
    in tests/test_cli_names.py. `env` replaces the environment for the call."""
    import contextlib
    import io
    import subprocess

    from charbench.cli import main

    out, err, saved = io.StringIO(), io.StringIO(), dict(os.environ)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse: --help, usage errors
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["charbench", *args], code, out.getvalue(), err.getvalue())
