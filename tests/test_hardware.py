"""`auto` dtype and engine: read from the machine, with the reason recorded in the log."""

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate

from bench.models import hardware, loader
from charbench.errors import CharbenchError

AVX2 = frozenset({"avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}
AMX = AVX2 | {"amx_tile", "amx_bf16"}


@pytest.fixture
def cpu(monkeypatch):
    def set_flags(flags, gpu=False, vllm=True):
        monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
        monkeypatch.setattr(hardware, "on_gpu", lambda: gpu)
        monkeypatch.setattr(hardware, "vllm_installed", lambda: vllm)
        monkeypatch.delenv("CHARBENCH_ENGINE", raising=False)

    return set_flags


def test_auto_dtype_is_bf16_only_where_the_cpu_computes_it_natively(cpu):
    cpu(AVX2)
    assert loader.auto_dtype("cpu") == "float32"
    cpu(AVX512_BF16)
    assert loader.auto_dtype("cpu") == "bfloat16"
    cpu(AMX)
    assert loader.auto_dtype("cpu") == "bfloat16"
    cpu(AVX2)
    assert loader.auto_dtype("cuda") == "bfloat16"


def test_auto_engine_per_device_and_cpu_class(cpu):
    cpu(AVX2, gpu=True)
    assert hardware.provider_engine(None, "prompt")[0] == "vllm"
    cpu(AVX2, gpu=True, vllm=False)
    assert hardware.provider_engine(None, "prompt") == ("transformers", "vLLM is not installed")
    cpu(AVX512_BF16)
    assert hardware.provider_engine("auto", "base")[0] == hardware.CPU_ENGINE["native-bf16"][0]
    cpu(AVX2)
    engine, reason = hardware.provider_engine("auto", "ft")
    assert engine == hardware.CPU_ENGINE["no-native-bf16"][0] and "no-native-bf16" in reason


def test_steered_models_stay_on_transformers(cpu):
    cpu(AVX2, gpu=True)
    assert hardware.provider_engine(None, "steer")[0] == "transformers"
    with pytest.raises(CharbenchError, match="steered models run on transformers only"):
        hardware.provider_engine("vllm", "steer")


def test_bad_engine_requests_are_one_line_errors(cpu, monkeypatch):
    cpu(AVX2, vllm=False)
    with pytest.raises(CharbenchError, match="not installed"):
        hardware.provider_engine("vllm", "prompt")
    monkeypatch.setenv("CHARBENCH_ENGINE", "tpu")
    with pytest.raises(CharbenchError, match="use one of auto, transformers, vllm"):
        hardware.provider_engine(None, "prompt")


def test_the_log_records_engine_dtype_and_why(tiny_llama_dir, tmp_path):
    task = Task(dataset=[Sample(input="Hi")], solver=generate())
    [log] = eval(
        task,
        model=f"charbench/prompt/loving/{tiny_llama_dir}",
        model_args={"engine": "transformers", "dtype": "auto"},
        max_tokens=4,
        log_dir=str(tmp_path),
        display="none",
    )
    meta = log.samples[0].output.metadata
    assert meta["engine"] == "transformers" and meta["engine_reason"] == "asked for"
    assert meta["dtype"] == loader.auto_dtype("cpu") and meta["dtype_reason"]


def test_batch_size_defaults_by_device_and_engine(tiny_llama_dir, monkeypatch):
    from bench.models.provider import CharbenchAPI

    assert CharbenchAPI(str(tiny_llama_dir), engine="transformers").batch_size == 16
    assert CharbenchAPI(str(tiny_llama_dir), engine="transformers", batch_size=4).batch_size == 4
    monkeypatch.setattr(hardware, "on_gpu", lambda: True)
    assert CharbenchAPI(str(tiny_llama_dir), engine="transformers").batch_size == 64


def test_several_gpus_spread_a_transformers_model_over_all_of_them(tiny_llama_dir, monkeypatch):
    """The transformers path of a teacher too big for one GPU: `device_map="auto"`, never `.to(one)`."""
    import transformers

    real = transformers.AutoModelForCausalLM
    asked = {}

    class Recording:
        @staticmethod
        def from_pretrained(source, **kwargs):
            asked.update(kwargs)
            return real.from_pretrained(source, dtype=kwargs["dtype"])

    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Recording)
    monkeypatch.setattr(loader, "several_gpus", lambda: True)
    monkeypatch.setattr(loader, "_models", {})
    loaded = loader.load_causal_lm(str(tiny_llama_dir), dtype="float32")
    assert asked.get("device_map") == "auto"
    assert loaded.model.device.type == "cpu"  # here: nothing to spread over, and nothing moved it
    monkeypatch.setattr(loader, "several_gpus", lambda: False)
    monkeypatch.setattr(loader, "_models", {})
    asked.clear()
    loader.load_causal_lm(str(tiny_llama_dir), dtype="float32")
    assert "device_map" not in asked


def test_a_cpu_vllm_server_prefills_whole_prompts(monkeypatch):
    """Seeded requests crash a CPU server that prefills in chunks: the `vllm` command turns it off."""
    from bench.models import vllm_engine
    from bench.models.vllm_cli import cpu_serve_args

    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: False)
    args = cpu_serve_args(["vllm", "serve", "/m", "--max-model-len", "1024"])
    assert args[-3:] == ["--no-enable-chunked-prefill", "--max-num-batched-tokens", "1024"]
    args = cpu_serve_args(["vllm", "serve", "/m"])
    assert args[3:] == ["--max-model-len", "2048", "--no-enable-chunked-prefill", "--max-num-batched-tokens", "2048"]
    mine = ["vllm", "serve", "/m", "--enable-chunked-prefill", "--max-num-batched-tokens", "512"]
    assert cpu_serve_args(mine) == mine + ["--max-model-len", "2048"]
    assert cpu_serve_args(["vllm", "--version"]) == ["vllm", "--version"]
    monkeypatch.setattr(vllm_engine, "on_gpu", lambda: True)
    assert cpu_serve_args(["vllm", "serve", "/m"]) == ["vllm", "serve", "/m"]
