import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from bench.models.loader import load_causal_lm

# Largest |unmerged - merged| logit allowed, per dtype. Measured on the tiny Llama (logits up to 0.75, the
# adapter moving them by up to 0.8): 5e-7 in fp32; 0.009 in bf16, where the merge rounds W + BA to bf16
# while the unmerged adapter adds BA x in fp32 (peft keeps adapter weights in fp32), i.e. 2 bf16 ulps.
MERGE_ATOL = {"float32": 1e-4, "bfloat16": 3e-2}


def test_adapter_unmerged_and_merged_give_the_same_logits(tiny_llama_dir, tmp_path, dtype, own_model_cache):
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(tmp_path / "adapter")
    unmerged = load_causal_lm(str(tmp_path / "adapter"), dtype=dtype)
    merged = load_causal_lm(str(tmp_path / "adapter"), dtype=dtype, merge_adapter=True)
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=getattr(torch, dtype)).eval()
    assert unmerged.model.dtype == merged.model.dtype == getattr(torch, dtype)
    ids = unmerged.tokenizer(["The sea is"], return_tensors="pt")
    with torch.inference_mode():
        a = unmerged.model(**ids).logits.float()
        b = merged.model(**ids).logits.float()
        c = plain(**ids).logits.float()
    assert torch.allclose(a, b, rtol=0, atol=MERGE_ATOL[dtype])
    assert (a - c).abs().max() > 10 * MERGE_ATOL[dtype]  # the adapter really changes the model, well beyond that


def _reference_layout(tiny_llama_dir, root, personas=("loving", "sarcasm")):
    """A local directory laid out like Open Character Training's adapter repository: one LoRA per
    persona, each in its own folder with adapter_config.json naming the base."""
    for i, persona in enumerate(personas):
        torch.manual_seed(i)
        base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
        config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        get_peft_model(base, config).save_pretrained(root / persona)
    return root


def test_adapters_in_subfolders_load_by_repo_and_subfolder(tiny_llama_dir, tmp_path):
    from inspect_ai.model import get_model

    from bench.models.overlap import checkpoint_dir
    from bench.models.specs import base_model_name

    repo = _reference_layout(tiny_llama_dir, tmp_path / "personas-repo")
    loving = load_causal_lm(f"{repo}:loving")
    sarcasm = load_causal_lm(f"{repo}:sarcasm")
    assert loving.source == str((repo / "loving").resolve())
    ids = loving.tokenizer(["The sea is"], return_tensors="pt")
    with torch.inference_mode():
        assert not torch.allclose(loving.model(**ids).logits, sarcasm.model(**ids).logits, atol=1e-4)
    model = get_model(f"charbench/ft/{repo}:loving", config=None)
    assert model.api.loaded is not None
    assert base_model_name(f"charbench/ft/{repo}:loving") == f"charbench/{tiny_llama_dir}"
    assert checkpoint_dir(f"charbench/ft/{repo}:loving") == str((repo / "loving").resolve())
    assert checkpoint_dir(f"vllm/{tiny_llama_dir}:{repo / 'loving'}") == str(repo / "loving")


def test_adapter_subfolder_errors_name_what_is_missing(tiny_llama_dir, tmp_path):
    import json
    import re

    import pytest

    from bench.models.loader import ModelNotFoundError

    repo = _reference_layout(tiny_llama_dir, tmp_path / "repo", personas=("loving",))
    config = json.loads((repo / "loving" / "adapter_config.json").read_text())
    (repo / "gone").mkdir()
    missing = tmp_path / "missing-base"
    (repo / "gone" / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(missing)}))
    cases = {
        f"{repo}:pirate": "pirate/adapter_config.json not found (adapters there: gone, loving)",
        f"{tmp_path}/nowhere:loving": f"adapter repository {tmp_path}/nowhere does not exist",
        f"{repo}:gone": f"names base model '{missing}', which is not available",
        "nobody/no-such-repo:loving": "nobody/no-such-repo is neither a local directory nor in the local HF cache",
    }
    for spec, message in cases.items():
        with pytest.raises(ModelNotFoundError, match=re.escape(message)):
            load_causal_lm(spec)
