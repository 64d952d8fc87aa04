"""`auto` dtype and engine: read from the machine, with the reason recorded in the log."""

import pytest
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate

from bench.models import hardware, loader, vllm_engine
from bench.models.generation import Completion, Sampling
from charbench.errors import CharbenchError

AVX2 = frozenset({"avx", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}
AMX = AVX2 | {"amx_tile", "amx_bf16"}


@pytest.fixture
def cpu(monkeypatch):
    def set_flags(flags, gpu=False, vllm=True):
        monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
        for module in (hardware, vllm_engine):  # the engine module holds its own names for both
            monkeypatch.setattr(module, "on_gpu", lambda: gpu)
            monkeypatch.setattr(module, "vllm_installed", lambda: vllm)
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


@pytest.fixture
def engine_starts(monkeypatch):
    """The in-process vLLM engine without vLLM: `Engine.get` decides as in production whether the running
    engine serves a request or a new one starts, but a start records its dtype instead of loading weights,
    and every reply is a canned one. Returns the dtypes of the starts, in order."""
    starts = []

    def start(self, source, dtype, lora_rank, eager, seed, max_len, tensor_parallel):
        self.source, self.dtype, self.lora_rank, self.eager = source, dtype, lora_rank, eager
        self.max_model_len, self.tensor_parallel_size = max_len, tensor_parallel
        starts.append(dtype)

    def reply(self, conversations, sampling, keys=None, adapter=None, *, seeds=None):
        return [Completion(text="Hello.", input_tokens=1, output_tokens=1, stop_reason="stop") for _ in conversations]

    monkeypatch.setattr(vllm_engine.Engine, "__init__", start)
    monkeypatch.setattr(vllm_engine.Engine, "generate", reply)
    monkeypatch.setattr(vllm_engine.Engine, "shutdown", classmethod(lambda cls: setattr(cls, "current", None)))
    monkeypatch.setattr(vllm_engine.Engine, "current", None)
    return starts


def provider_on_vllm(model, tmp_path, **model_args):
    """The metadata of one `charbench/` reply generated with `-M engine=vllm`, from a provider made now (Inspect
    memoizes models by name and args, and these tests change the machine under the same name)."""
    from inspect_ai.model import get_model

    model = get_model(model, memoize=False, engine="vllm", **model_args)
    [log] = eval(
        Task(dataset=[Sample(input="Hi")], solver=generate()),
        model=model,
        max_tokens=4,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    return log.samples[0].output.metadata


HI = [[{"role": "user", "content": "Hi"}]]


@pytest.mark.parametrize(
    ("flags", "gpu", "expected"),
    [(AVX2, False, "float32"), (AVX512_BF16, False, "bfloat16"), (AMX, False, "bfloat16"), (AVX2, True, "bfloat16")],
    ids=["avx2", "avx512-bf16", "amx", "gpu"],
)
def test_auto_dtype_trainer_data_follows_the_cpu_class_and_the_provider_is_fp32_on_every_cpu(
    cpu, engine_starts, tiny_llama_dir, tmp_path, flags, gpu, expected
):
    """Trainer data on vLLM (`trainers.backend`, dtype auto) starts the engine in the dtype the CPU class
    means. The provider's `auto` is fp32 on every CPU (a reply must not depend on its batch-mates, which
    bf16 breaks there: `provider.provider_dtype`), bf16 on a GPU; the running engine serves it where the
    dtypes agree, and one restart happens where they do not."""
    from bench.models.provider import provider_dtype
    from trainers.backend import generate_replies

    cpu(flags, gpu=gpu)
    device = "cuda" if gpu else "cpu"
    assert loader.auto_dtype(device) == vllm_engine.engine_dtype("auto") == expected
    generate_replies(str(tiny_llama_dir), HI, Sampling(max_new_tokens=4), ["k0"], engine="vllm")
    assert engine_starts == [expected]
    served = "bfloat16" if gpu else "float32"
    meta = provider_on_vllm(f"charbench/prompt/loving/{tiny_llama_dir}", tmp_path)
    assert meta["engine"] == "vllm" and meta["dtype"] == served == provider_dtype(device)[0]
    assert engine_starts == ([expected] if served == expected else [expected, served])
    assert vllm_engine.Engine.current.dtype == served


def test_the_vllm_engine_serves_its_own_dtype_and_restarts_for_the_other(
    cpu, engine_starts, tiny_llama_dir, tmp_path, dtype
):
    """How tests/test_vllm_engine.py shares one engine: it is started with the dtype its callers resolve.
    Asked in that dtype (by name, by `auto` where it means that dtype, by the provider) it is reused; the
    other dtype restarts it, which shuts the first one down."""
    cpu(AVX2 if dtype == "float32" else AMX)
    other = "bfloat16" if dtype == "float32" else "float32"
    engine = vllm_engine.Engine.get(str(tiny_llama_dir), dtype=dtype, lora=True, eager=True)
    vllm_engine.vllm_generate(str(tiny_llama_dir), HI, Sampling(max_new_tokens=4), ["k0"], dtype=dtype)
    vllm_engine.vllm_generate(str(tiny_llama_dir), HI, Sampling(max_new_tokens=4), ["k0"])
    assert provider_on_vllm(f"charbench/{tiny_llama_dir}", tmp_path, dtype=dtype)["dtype"] == dtype
    assert engine_starts == [dtype] and vllm_engine.Engine.current is engine
    vllm_engine.vllm_generate(str(tiny_llama_dir), HI, Sampling(max_new_tokens=4), ["k0"], dtype=other)
    assert engine_starts == [dtype, other] and vllm_engine.Engine.current is not engine


def test_auto_engine_per_device_and_cpu_class(cpu):
    cpu(AVX2, gpu=True)
    assert hardware.provider_engine(None, "prompt")[0] == "vllm"
    cpu(AVX2, gpu=True, vllm=False)
    assert hardware.provider_engine(None, "prompt") == ("transformers", "vLLM is not installed")
    cpu(AVX512_BF16)
    assert hardware.provider_engine("auto", "base")[0] == hardware.CPU_ENGINE["native-bf16"][0]
    cpu(AVX2)
    engine, reason = hardware.provider_engine("auto", "prompt")
    assert engine == hardware.CPU_ENGINE["no-native-bf16"][0] and "no-native-bf16" in reason
    # LoRA adapters: transformers on every CPU class (vLLM's CPU LoRA path is slow), vLLM on a GPU, vLLM when asked
    for flags in (AVX2, AVX512_BF16, AMX):
        cpu(flags)
        assert hardware.provider_engine("auto", "ft") == ("transformers", hardware.CPU_LORA)
        assert hardware.provider_engine("vllm", "ft") == ("vllm", "asked for")
    cpu(AVX2, gpu=True)
    assert hardware.provider_engine("auto", "ft")[0] == "vllm"


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
    assert meta["dtype"] == "float32" and "does not depend on its batch" in meta["dtype_reason"]


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
