"""Same command, same replies (VALIDITY.md section 6): each sample's randomness comes from (run seed,
sample id, epoch), on charbench's transformers engine, under `inspect eval`, whatever the batching.

The vLLM engine's side of this is tests/test_vllm_seeding.py.
"""

import os
import subprocess
import sys

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample

from bench.models.generation import Sampling, generate_chat, row_seed, sample_key, sample_seed
from bench.models.loader import load_causal_lm
from bench.seeding import seeded_generate

N, TOKENS = 6, 8


def conversations(texts):
    return [[{"role": "user", "content": t}] for t in texts]


def replies(log) -> dict[tuple, str]:
    assert log.status == "success", log.error
    return {(s.id, s.epoch): s.output.completion for s in log.samples}


def test_sample_seeds_come_from_seed_sample_and_epoch_only():
    assert sample_seed(0, "m00001", 1) == row_seed(0, sample_key("m00001", 1)) == sample_seed(0, "m00001", 1)
    seeds = {sample_seed(0, "m00001", 1), sample_seed(0, "m00001", 2), sample_seed(0, "m00002", 1)}
    seeds |= {sample_seed(1, "m00001", 1), sample_seed(0, "m00001", 1, "turn", 2)}
    assert len(seeds) == 5 and all(0 <= s < 2**31 for s in seeds)


def test_a_row_samples_the_same_reply_alone_or_in_any_batch(tiny_llama_dir):
    """One random stream per row: its batch-mates (and their number, and padding) do not change its reply."""
    loaded = load_causal_lm(str(tiny_llama_dir), dtype="float32")
    texts = ["Hi.", "Tell me a long story about the sea and a boat.", "Why?", "Name three colours, please."]
    sampling = Sampling(max_new_tokens=TOKENS)
    alone = [generate_chat(loaded, conversations([t]), sampling, seeds=[7])[0].text for t in texts]
    together = generate_chat(loaded, conversations(texts), sampling, seeds=[7] * 4, batch_size=4)
    assert [c.text for c in together] == alone
    # the row seed, not the text or the position, decides: four seeds, one prompt, four replies
    same_prompt = generate_chat(loaded, conversations(["Hi."] * 4), sampling, seeds=[1, 2, 3, 4], batch_size=4)
    assert len({c.text for c in same_prompt}) == 4
    assert same_prompt[0].text == generate_chat(loaded, conversations(["Hi."]), sampling, seeds=[1])[0].text


def _prefs_args(model: str) -> list[str]:
    return [
        "bench/revealed_prefs",
        "--model",
        model,
        "-T",
        f"n={N}",
        "-T",
        f"max_tokens={TOKENS}",
        "--epochs",
        "2",
        "--no-score",
    ]


def test_the_same_eval_in_another_process_with_other_batching_gives_the_same_replies(tiny_llama_dir, tmp_path):
    """Run 1 here, all samples concurrent in batches of 16; run 2 in a fresh process, one request at a time."""
    from bench.revealed_prefs.revealed_prefs import revealed_prefs

    model = f"charbench/{tiny_llama_dir}"
    [first] = inspect_eval(
        revealed_prefs(n=N, max_tokens=TOKENS),
        model=model,
        epochs=2,
        score=False,
        max_connections=16,
        model_args={"batch_size": 16},
        log_dir=str(tmp_path / "a"),
        display="none",
    )
    env = {**os.environ, "INSPECT_DISPLAY": "none"}
    args = [*_prefs_args(model), "--max-connections", "1", "-M", "batch_size=1", "--log-dir", str(tmp_path / "b")]
    done = subprocess.run(
        [sys.executable, "-m", "inspect_ai._cli.main", "eval", *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from inspect_ai.log import list_eval_logs, read_eval_log

    [path] = list_eval_logs(str(tmp_path / "b"))
    second = read_eval_log(path)
    a, b = replies(first), replies(second)
    assert len(a) == 2 * N and a == b
    # two epochs: two different replies per sample, each with its own recorded seed
    assert all(a[(i, 1)] != a[(i, 2)] for i, _ in a)
    for sample in first.samples:
        seed = sample_seed(0, sample.id, sample.epoch)
        assert sample.metadata["seeds"] == {"reply": seed}
        assert sample.output.metadata["seed"] == seed


def test_coefficient_zero_steering_gives_the_base_replies_under_inspect_eval(tiny_llama_dir, tmp_path):
    """Base and coefficient-0 steered model in one eval (concurrent, so in different batches): same replies.
    Four samples of one prompt: four different replies."""
    import torch

    from trainers.steering import SteeringVector

    torch.manual_seed(0)
    vector = SteeringVector(
        {1: torch.randn(64), 2: torch.randn(64)}, {"base_model": str(tiny_llama_dir), "persona": "sarcasm"}
    ).save(tmp_path / "vec.safetensors")
    task = Task(dataset=[Sample(input="Describe yourself.", id=f"s{i}") for i in range(4)], solver=seeded_generate())
    logs = inspect_eval(
        task,
        model=[f"charbench/{tiny_llama_dir}", f"charbench/steer/0/{vector}", f"charbench/steer/4/{vector}"],
        max_tokens=TOKENS,
        seed=0,
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    base, zero, steered = (replies(log) for log in logs)
    assert zero == base
    assert steered != base
    assert len(set(base.values())) == 4
    assert {s.output.metadata["seed"] for s in logs[1].samples} == {sample_seed(0, f"s{i}", 1) for i in range(4)}


@pytest.mark.parametrize("flag", ["--seed", "-T seed="])
def test_the_run_seed_is_the_eval_seed(flag, tiny_llama_dir, tmp_path):
    """`--seed` and `-T seed` both set the run seed the sample seeds derive from."""
    from bench.revealed_prefs.revealed_prefs import revealed_prefs

    kwargs = {"seed": 5} if flag == "--seed" else {}
    task = revealed_prefs(n=2, max_tokens=2, seed=5 if flag != "--seed" else 0)
    [log] = inspect_eval(
        task, model=f"charbench/{tiny_llama_dir}", score=False, log_dir=str(tmp_path), display="none", **kwargs
    )
    assert log.status == "success", log.error
    assert [s.output.metadata["seed"] for s in log.samples] == [sample_seed(5, s.id, 1) for s in log.samples]
