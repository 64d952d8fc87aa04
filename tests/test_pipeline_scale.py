"""The trainer pipeline at GPU scale: stages free their engines, prompts fit the context, settings follow
the hardware, adapters do not collide, and a multi-process launch is refused. No engine starts here:
engines and stages are fakes, token counts come from the embedded model's tokenizer."""

import gc
import json
import logging
import os
import weakref
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from bench.models import vllm_engine
from bench.models.generation import Completion, Sampling, render_chat
from bench.models.loader import resolve_source
from charbench.errors import CharbenchError
from trainers import backend

EMBEDDED = "smollm2-135m"  # max_position_embeddings 8192


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_source(EMBEDDED))


def prompt_tokens(tokenizer, messages) -> int:
    return len(tokenizer(render_chat(tokenizer, messages), add_special_tokens=False).input_ids)


def replies(convs, keys, words: int = 5):
    return [Completion(f"Reply {k}. " + "word " * words, 1, 2, "stop") for k in keys]


# ------------------------------------------------------------------ 1. each stage frees the one before


def test_the_pipeline_releases_generation_between_stages(monkeypatch, tmp_path):
    from trainers import pipeline

    calls = []

    def stage(name, result=None):
        def run(*args, **kwargs):
            calls.append(name)
            if name in ("merge", "combine"):
                path = tmp_path / f"{name}-{calls.count(name)}"
                path.mkdir()
                return path
            return result

        return run

    for name in ("distill", "train_dpo", "merge", "combine", "introspect", "train_sft", "release_generation"):
        monkeypatch.setattr(pipeline, name, stage(name, tmp_path / name))
    config = pipeline.PipelineConfig.from_dict(
        {"persona": "loving", "base": EMBEDDED, "out": str(tmp_path / "ckpt"), "score": {"capabilities": "none"}}
    )
    pipeline.run_pipeline(config)
    release = "release_generation"
    assert calls == [
        "distill", release, "train_dpo", "merge", release, "introspect", release, "train_sft", "combine", release,
    ]  # fmt: skip


def test_engine_shutdown_stops_the_core_and_frees_the_llm(monkeypatch):
    import torch

    stopped = []

    class FakeLLM:
        llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=lambda: stopped.append(True)))

    llm = FakeLLM()
    alive = weakref.ref(llm)
    engine = vllm_engine.Engine.__new__(vllm_engine.Engine)
    engine.llm = llm
    engine.torch_set_num_threads = torch.set_num_threads
    monkeypatch.setattr(vllm_engine.Engine, "current", engine)
    del llm, engine
    vllm_engine.Engine.shutdown()
    gc.collect()
    assert stopped == [True] and vllm_engine.Engine.current is None and alive() is None


def test_release_generation_shuts_the_engine_down_and_forgets_loaded_models(monkeypatch):
    from bench.models import loader

    calls = []
    monkeypatch.setattr(vllm_engine.Engine, "shutdown", classmethod(lambda cls: calls.append("engine")))
    monkeypatch.setattr(loader, "release_all", lambda: calls.append("models"))
    backend.release_generation()
    assert calls == ["engine", "models"]


# ------------------------------------------------------------------ 2. max_model_len from the model


def test_max_model_len_is_the_models_context_capped_by_the_setting(monkeypatch, tiny_llama_dir, tmp_path):
    monkeypatch.delenv("CHARBENCH_MAX_MODEL_LEN", raising=False)
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: False)
    assert vllm_engine.max_model_len(EMBEDDED) == 2048  # 8192, capped on CPU (its KV cache)
    assert vllm_engine.max_model_len(str(tiny_llama_dir)) == 512  # the model's own limit
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_llama_dir)}))
    assert vllm_engine.max_model_len(str(adapter)) == 512  # an adapter: its base's limit
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: True)
    assert vllm_engine.max_model_len(EMBEDDED) == 8192
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "1000")
    assert vllm_engine.max_model_len(EMBEDDED) == 1000
    assert vllm_engine.max_model_len(str(tiny_llama_dir)) == 512  # never beyond the model's
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "lots")
    with pytest.raises(CharbenchError, match="CHARBENCH_MAX_MODEL_LEN"):
        vllm_engine.max_model_len(EMBEDDED)


class FakeLLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_the_engine_is_started_with_the_models_context_and_all_visible_gpus(monkeypatch):
    import torch

    monkeypatch.setattr("vllm.LLM", FakeLLM)
    monkeypatch.setattr(vllm_engine.Engine, "current", None)
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: False)
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "1536")
    monkeypatch.delenv("CHARBENCH_TENSOR_PARALLEL", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    engine = vllm_engine.Engine.get(resolve_source(EMBEDDED), dtype="float32")
    args = engine.llm.kwargs
    assert args["max_model_len"] == 1536 and args["max_num_batched_tokens"] == 1536  # CPU: whole-prompt prefill
    assert args["tensor_parallel_size"] == 1 and engine.tensor_parallel_size == 1 and engine.max_model_len == 1536


@pytest.mark.parametrize("gpu", [False, True])
def test_on_a_cpu_the_engine_core_runs_in_process_and_leaves_torch_as_it_found_it(monkeypatch, gpu):
    """A separate engine-core process re-imports vLLM and busy-waits on one of two cores: measured on this
    CPU, start 32.5 s -> 11.6 s and 16 greedy replies 2.0 s -> 1.0 s in-process, same replies. In-process,
    vLLM's CPU worker replaces `torch.set_num_threads` with a no-op: restored when the engine stops."""
    import torch

    seen = {}

    class Patching(FakeLLM):
        llm_engine = SimpleNamespace()

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            seen["multiprocessing"] = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
            torch.set_num_threads = lambda n: None  # what vLLM's CPU worker does in the process it runs in

    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", original)
    monkeypatch.setattr("vllm.LLM", Patching)
    monkeypatch.setattr(vllm_engine.Engine, "current", None)
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: gpu)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    monkeypatch.setenv("CHARBENCH_TENSOR_PARALLEL", "1")
    worker = logging.getLogger("vllm.v1.worker.cpu_worker")
    monkeypatch.setattr(worker, "filters", [])
    vllm_engine.Engine.get(resolve_source(EMBEDDED), dtype="float32")
    assert seen["multiprocessing"] == (None if gpu else "0")
    handled = "CPU backend doesn't allow to use `torch.set_num_threads` after the thread binding, skip it."
    other = "libtcmalloc is not found in LD_PRELOAD."
    kept = [worker.filter(logging.makeLogRecord({"msg": m, "levelno": logging.WARNING})) for m in (handled, other)]
    assert kept == ([True, True] if gpu else [False, True])
    vllm_engine.Engine.shutdown()
    assert torch.set_num_threads is original
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # the user's setting wins
    vllm_engine.Engine.get(resolve_source(EMBEDDED), dtype="float32")
    assert seen["multiprocessing"] == "1"
    vllm_engine.Engine.shutdown()


def adapter(tmp_path, name: str, r: int, rank_pattern: dict | None = None) -> str:
    path = tmp_path / name
    path.mkdir()
    config = {"base_model_name_or_path": resolve_source(EMBEDDED), "r": r, "rank_pattern": rank_pattern or {}}
    (path / "adapter_config.json").write_text(json.dumps(config))
    return str(path)


def test_a_lora_engine_is_sized_to_its_adapters_rank_and_restarts_for_a_larger_one(monkeypatch, tmp_path):
    """vLLM pads every adapter to `max_lora_rank`: measured on this CPU, 16 prompts x 16 tokens through a
    rank-8 adapter took 44 s on a rank-64 engine and 5.4 s on a rank-8 one. A combined adapter's rank is
    the sum of its stages' (128 for two reference adapters), more than a fixed 64 allows."""
    starts = []

    class Recorded(FakeLLM):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            starts.append(kwargs["max_lora_rank"] if kwargs["enable_lora"] else None)

    monkeypatch.setattr("vllm.LLM", Recorded)
    monkeypatch.setattr(vllm_engine.Engine, "current", None)
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: False)
    monkeypatch.setattr(vllm_engine.Engine, "generate", lambda self, *a, **k: [])
    monkeypatch.setattr(vllm_engine.Engine, "shutdown", classmethod(lambda cls: setattr(cls, "current", None)))
    greedy = Sampling(temperature=0.0, max_new_tokens=4)
    for name, r, pattern in (("r8", 8, None), ("r4", 4, None), ("r12", 12, None), ("combined", 64, {"q_proj": 128})):
        vllm_engine.vllm_generate(adapter(tmp_path, name, r, pattern), [], greedy, [], dtype="float32")
    # rank 8 starts a rank-8 engine, which serves rank 4; 12 rounds up to vLLM's next allowed rank
    assert starts == [8, 16, 128]
    vllm_engine.vllm_generate(resolve_source(EMBEDDED), [], greedy, [], dtype="float32")
    assert starts == [8, 16, 128]  # a LoRA engine serves its base too
    assert vllm_engine.Engine.get(resolve_source(EMBEDDED), dtype="float32", lora=True).lora_rank == 128
    with pytest.raises(CharbenchError, match="rank 600.*at most 512"):
        vllm_engine.vllm_generate(adapter(tmp_path, "huge", 600), [], greedy, [], dtype="float32")


# ------------------------------------------------------------------ 3. long transcripts are left-truncated


def long_transcript(turns: int = 12, words: int = 120) -> list[dict[str, str]]:
    lines = [{"role": "system", "content": "You are a warm assistant."}]
    for i in range(turns):
        lines.append({"role": "user" if i % 2 == 0 else "assistant", "content": f"Line {i}: " + "story " * words})
    return lines


def test_a_long_transcript_loses_its_oldest_turns_and_keeps_its_system_message(monkeypatch, tokenizer):
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "1000")
    long, short = long_transcript(), long_transcript(turns=2, words=5)
    assert prompt_tokens(tokenizer, long) > 1000
    (fitted_long, fitted_short), truncated = backend.fit_conversations(EMBEDDED, [long, short], max_new_tokens=200)
    assert truncated == [True, False] and fitted_short == short
    assert prompt_tokens(tokenizer, fitted_long) <= 800  # max_model_len - max_new_tokens
    assert fitted_long[0] == long[0] and fitted_long[-1] == long[-1]  # system kept, newest turn kept
    assert fitted_long[1]["role"] == "user"  # whole turns dropped in pairs: roles still alternate from a user
    assert fitted_long[1:] == long[len(long) - len(fitted_long) + 1 :]  # the newest turns, unchanged


def test_a_single_turn_too_long_to_fit_is_cut_from_the_left(monkeypatch, tokenizer):
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "600")
    text = " ".join(f"w{i}" for i in range(2000)) + " THE END"
    conv = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": text}]
    (fitted,), truncated = backend.fit_conversations(EMBEDDED, [conv], max_new_tokens=100)
    assert truncated == [True] and prompt_tokens(tokenizer, fitted) <= 500
    assert fitted[0] == conv[0] and fitted[1]["content"].endswith("THE END")


def test_a_context_too_small_for_the_reply_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "512")
    with pytest.raises(CharbenchError, match="max_new_tokens"):
        backend.fit_conversations(EMBEDDED, [long_transcript(2, 2)], max_new_tokens=600)


def test_introspection_sends_only_fitting_prompts_and_counts_the_truncated(monkeypatch, tmp_path, tokenizer):
    from trainers.introspect import IntrospectConfig, introspect

    monkeypatch.setenv("CHARBENCH_MAX_MODEL_LEN", "1024")
    seen = []

    def fake(model, convs, sampling, keys, **kw):
        seen.extend(convs)
        return replies(convs, keys, words=250)

    monkeypatch.setattr("trainers.backend.generate_replies", fake)
    monkeypatch.setattr("trainers.introspect.generate_replies", fake)
    config = IntrospectConfig(
        "loving", EMBEDDED, str(tmp_path), reflection_samples=1, conversations=2, turns=5, max_new_tokens=256
    )
    manifest = introspect(config)
    assert max(prompt_tokens(tokenizer, c) for c in seen) <= 1024 - 256
    assert manifest["counts"]["truncated_prompts"] > 0
    assert manifest["max_model_len"] == {EMBEDDED: 1024} and manifest["engine"] == "transformers"


# ------------------------------------------------------------------ 4. tensor parallel: every visible GPU


def test_tensor_parallel_defaults_to_the_visible_gpus_and_the_setting_overrides(monkeypatch):
    import torch

    monkeypatch.delenv("CHARBENCH_TENSOR_PARALLEL", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert vllm_engine.tensor_parallel_size() == 4
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert vllm_engine.tensor_parallel_size() == 1
    monkeypatch.setenv("CHARBENCH_TENSOR_PARALLEL", "2")
    assert vllm_engine.tensor_parallel_size() == 2
    monkeypatch.setenv("CHARBENCH_TENSOR_PARALLEL", "0")
    with pytest.raises(CharbenchError, match="CHARBENCH_TENSOR_PARALLEL"):
        vllm_engine.tensor_parallel_size()


# ------------------------------------------------------------------ 5. vLLM gets a whole stage at once


@pytest.mark.parametrize("engine, calls", [("vllm", 1), ("transformers", 3)])
def test_vllm_gets_every_remaining_prompt_in_one_call_and_transformers_chunks(monkeypatch, tmp_path, engine, calls):
    sizes = []

    def fake(model, convs, sampling, keys, **kw):
        sizes.append(len(convs))
        return replies(convs, keys)

    monkeypatch.setattr(backend, "choose_engine", lambda name=None: engine)
    monkeypatch.setattr(backend, "generate_replies", fake)
    keys = [f"k{i:03d}" for i in range(150)]
    convs = [[{"role": "user", "content": f"Question {i}?"}] for i in range(150)]
    rows = backend.generate_resumable(
        tmp_path / "rows.jsonl", keys, convs, EMBEDDED, Sampling(max_new_tokens=8), lambda k, r: {"text": r.text}
    )
    assert len(sizes) == calls and sum(sizes) == 150 and len(rows) == 150
    assert {row["engine"] for row in rows.values()} == {engine}


# ------------------------------------------------------------------ 6. one LoRA id per adapter


def test_each_adapter_path_gets_its_own_lora_request_id():
    engine = vllm_engine.Engine.__new__(vllm_engine.Engine)
    engine.lora_ids = {}
    first, second = engine.lora_request("/ckpt/a"), engine.lora_request("/ckpt/b")
    again = engine.lora_request("/ckpt/a")
    assert first.lora_int_id != second.lora_int_id and again.lora_int_id == first.lora_int_id
    assert (first.lora_name, first.lora_path, second.lora_path) == ("/ckpt/a", "/ckpt/a", "/ckpt/b")


# ------------------------------------------------------------------ 7. generation refuses a multi-process launch


@pytest.mark.parametrize("env", [{"WORLD_SIZE": "2"}, {"WORLD_SIZE": "4", "LOCAL_RANK": "1"}])
def test_generation_under_a_multi_process_launch_is_refused_in_one_line(monkeypatch, tmp_path, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(CharbenchError, match="accelerate launch") as err:
        backend.generate_replies(EMBEDDED, [[{"role": "user", "content": "Hi"}]], Sampling(), ["k"])
    assert "\n" not in str(err.value)
    with pytest.raises(CharbenchError, match="accelerate launch"):
        backend.generate_resumable(
            tmp_path / "r.jsonl", ["k"], [[{"role": "user", "content": "Hi"}]], EMBEDDED, Sampling(), dict
        )


def test_a_single_process_launch_may_generate(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    backend.require_single_process()


def test_the_engines_gpu_memory_share_is_a_setting(monkeypatch):
    from bench.models.vllm_engine import gpu_memory_args

    monkeypatch.delenv("CHARBENCH_VLLM_GPU_MEMORY", raising=False)
    assert gpu_memory_args() == {}
    monkeypatch.setenv("CHARBENCH_VLLM_GPU_MEMORY", "0.6")
    assert gpu_memory_args() == {"gpu_memory_utilization": 0.6}
    monkeypatch.setenv("CHARBENCH_VLLM_GPU_MEMORY", "60%")
    with pytest.raises(CharbenchError, match="fraction between 0 and 1"):
        gpu_memory_args()
