import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from bench.models.loader import load_causal_lm


def test_adapter_unmerged_and_merged_give_the_same_logits(tiny_llama_dir, tmp_path):
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(tmp_path / "adapter")
    unmerged = load_causal_lm(str(tmp_path / "adapter"))
    merged = load_causal_lm(str(tmp_path / "adapter"), merge_adapter=True)
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = unmerged.tokenizer(["The sea is"], return_tensors="pt")
    with torch.inference_mode():
        a = unmerged.model(**ids).logits
        b = merged.model(**ids).logits
        c = plain(**ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)  # the adapter really changes the model
