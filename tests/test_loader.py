import os
import time

import pytest
import torch

from bench.models import loader
from bench.models.generation import Sampling, generate_chat
from bench.models.loader import (
    EMBEDDED_NAME,
    ModelNotFoundError,
    embedded_model_dir,
    load_causal_lm,
    resolve_source,
)


def test_tiny_local_model_loads_and_generates(tiny_llama_dir):
    loaded = load_causal_lm(str(tiny_llama_dir))
    assert loaded.num_layers == 4 and loaded.hidden_size == 64
    out = generate_chat(loaded, [[{"role": "user", "content": "hi"}]] * 3, Sampling(max_new_tokens=5, seed=1))
    assert len(out) == 3 and all(o.output_tokens <= 5 for o in out)


def test_loading_twice_in_one_process_returns_the_same_weights_object(tiny_llama_dir):
    assert load_causal_lm(str(tiny_llama_dir)) is load_causal_lm(str(tiny_llama_dir))


def test_missing_path_is_one_clear_error():
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_source("/no/such/model/dir")


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_source(str(tmp_path))


def test_malformed_hub_id_is_rejected():
    with pytest.raises(ModelNotFoundError, match="hub id"):
        resolve_source("not-a-model-name")


def test_uncached_hub_model_offline_names_the_fix():
    with pytest.raises(ModelNotFoundError, match="download it on a connected machine"):
        load_causal_lm("charbench-test/definitely-not-cached")


def test_embedded_cache_is_reused_fast_with_identical_weights():
    first = load_causal_lm(EMBEDDED_NAME)
    weights_file = embedded_model_dir() / "model.safetensors"
    mtime = weights_file.stat().st_mtime
    loader._models.clear()
    start = time.perf_counter()
    second = load_causal_lm(EMBEDDED_NAME)
    elapsed = time.perf_counter() - start
    assert second is not first
    assert elapsed < 5.0, f"reload from cache took {elapsed:.1f}s"
    assert weights_file.stat().st_mtime == mtime  # not converted again
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_embedded_model_answers_a_capital_city_question():
    loaded = load_causal_lm(EMBEDDED_NAME)
    out = generate_chat(
        loaded,
        [[{"role": "user", "content": "What is the capital of France?"}]],
        Sampling(temperature=0.0, repetition_penalty=1.0, max_new_tokens=24),
    )
    assert "Paris" in out[0].text


def test_truncation_is_reported():
    loaded = load_causal_lm(EMBEDDED_NAME)
    out = generate_chat(
        loaded, [[{"role": "user", "content": "Write a long essay about rivers."}]], Sampling(max_new_tokens=4)
    )
    assert out[0].stop_reason == "max_tokens" and out[0].output_tokens == 4


def test_sentence_encoder_loads_offline():
    encoder = loader.load_sentence_encoder()
    vectors = encoder.encode(["a happy dog", "a joyful puppy", "tax law"], normalize_embeddings=True)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_two_processes_converting_the_embedded_model_at_once_leave_one_complete_folder(tmp_path, monkeypatch):
    """`make test` runs two workers, and a user may start two runs: on a fresh machine both convert the GGUF
    at once. Each must get the complete folder, neither may delete the other's half-written one."""
    import multiprocessing

    def slow_convert(partial):
        partial.mkdir(parents=True)
        time.sleep(0.5)  # the real conversion takes ~30 s: the other process arrives meanwhile
        (partial / "config.json").write_text("{}")
        (partial / "model.safetensors").write_text(str(os.getpid()))

    monkeypatch.setenv("CHARBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(loader, "_convert_embedded", slow_convert)
    context = multiprocessing.get_context("fork")  # the children keep this test's patch
    with context.Pool(2) as pool:
        folders = pool.map(_embedded_dir, range(2))
    assert folders == [str(tmp_path / "models" / EMBEDDED_NAME)] * 2
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")) == [EMBEDDED_NAME]
    assert (tmp_path / "models" / EMBEDDED_NAME / "model.safetensors").read_text().isdigit()


def _embedded_dir(_: int) -> str:
    return str(embedded_model_dir())
