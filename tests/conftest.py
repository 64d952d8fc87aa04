import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("INSPECT_DISPLAY", "none")
# `auto` picks vLLM on some CPUs (bench.models.hardware.CPU_ENGINE): tests name the engine they test,
# and every other test runs on transformers whatever CPU the CI machine has.
os.environ.setdefault("CHARBENCH_ENGINE", "transformers")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on a 2-core machine (Makefile, PYTEST_ARGS): one intra-op thread each.
    # Two threads each, two workers took as long as one (722 s vs 731 s); one thread each, 393 s vs 589 s.
    # The environment variable reaches the processes tests start (`inspect eval`, accelerate's workers).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A tiny random Llama with the embedded model's tokenizer, saved as a local HF directory."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from bench.models.loader import embedded_model_dir

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(params=["float32", "bfloat16"])
def dtype(request) -> str:
    """Both values `dtype=auto` takes on a CPU (fp32 without native bf16, bf16 with it: bench.models.hardware),
    named explicitly, so every machine checks both paths whatever its own CPU class. bf16 is emulated and
    slower on an AVX2 CPU: keep the models of tests that take this fixture tiny."""
    return request.param


@pytest.fixture
def own_model_cache(monkeypatch):
    """The loader's memo of loaded models, empty for this test and restored after it: models a test loads
    in an explicit dtype do not outlive it (tests/test_drift.py counts the copies a run loaded)."""
    from bench.models import loader

    monkeypatch.setattr(loader, "_models", {})


# The files whose tests take longest (pytest --durations), longest first. With two workers (`make test`)
# a file runs whole on one worker; a long file handed out last leaves the other worker idle at the end.
LONGEST_FILES = (
    "test_trainers.py",
    "test_vllm_engine.py",
    "test_vllm_server.py",
    "test_robustness.py",
    "test_experiments.py",
    "test_capabilities.py",
    "test_revealed_prefs.py",
    "test_seeding.py",
    "test_multiprocess_training.py",
)


def pytest_collection_modifyitems(items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker keeps pytest's own order
        rank = {name: i for i, name in enumerate(LONGEST_FILES)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep theirs
