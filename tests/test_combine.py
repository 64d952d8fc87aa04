"""The reference's persona adapter: DPO and introspection adapters combined into one LoRA on the base."""

import json

import torch

from bench.models.loader import load_causal_lm
from tests.test_experiments import make_adapter


def test_combined_adapter_weights_the_stages_and_records_them(tiny_llama_dir, tmp_path):
    from trainers.finetune import combine

    dpo = make_adapter(tiny_llama_dir, tmp_path / "dpo", seed=1)
    sft = make_adapter(tiny_llama_dir, tmp_path / "sft", seed=2)
    only_dpo = combine([str(dpo), str(sft)], str(tmp_path / "w10"), weights=(1.0, 0.0))
    persona = combine([str(dpo), str(sft)], str(tmp_path / "persona"))  # the reference's 1.0 and 0.25

    record = json.loads((persona / "charbench_combine.json").read_text())
    assert record["weights"] == [1.0, 0.25] and record["combination_type"] == "linear"
    assert json.loads((persona / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_llama_dir)

    def logits(path):
        loaded = load_causal_lm(str(path), dtype="float32")
        ids = loaded.tokenizer(["The sea is"], return_tensors="pt")
        with torch.inference_mode():
            return loaded.model(**ids).logits

    a, zero, mixed, b = logits(dpo), logits(only_dpo), logits(persona), logits(sft)
    assert torch.allclose(a, zero, atol=1e-5)  # a 0 weight on the second stage is the first stage alone
    assert (mixed - a).abs().max() > 1e-3 and (mixed - b).abs().max() > 1e-3
