"""Persona-classifier inference speed on CPU: texts/s at batch 32 (MiniLM and a tiny random ModernBERT).

    .venv/bin/python perf/classifier.py [--texts 256]

Both are sequence-classification heads on untrained weights: speed does not depend on training.
Texts are replies-sized (about 60 words) bundled prompts repeated.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from transformers import AutoModelForSequenceClassification, AutoTokenizer, ModernBertConfig, ModernBertModel

from bench.models.loader import encoder_dir
from bench.prompts import load_prompts
from bench.robustness.classifier import PersonaClassifier


def measure(clf: PersonaClassifier, texts: list[str]) -> float:
    clf.predict(texts[:32])  # warm-up
    start = time.perf_counter()
    clf.predict(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256)
    args = parser.parse_args()
    prompts = [p.text for p in load_prompts("general")]
    texts = [" ".join(prompts[i : i + 5]) for i in range(args.texts)]
    labels = [f"persona{i}" for i in range(11)]
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    minilm = AutoModelForSequenceClassification.from_pretrained(encoder_dir(), num_labels=11).eval()
    rows = [("all-MiniLM-L6-v2 (22M)", measure(PersonaClassifier(minilm, tokenizer, labels, "minilm", 512), texts))]
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=101,
        eos_token_id=102,
        cls_token_id=101,
        sep_token_id=102,
    )
    with tempfile.TemporaryDirectory() as tmp:
        ModernBertModel(config).save_pretrained(tmp)
        tiny = AutoModelForSequenceClassification.from_pretrained(tmp, num_labels=11).eval()
    rows.append(
        (
            "tiny random ModernBERT (2 layers, 64 wide)",
            measure(PersonaClassifier(tiny, tokenizer, labels, "tiny", 512), texts),
        )
    )
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{args.texts} texts of ~{words:.0f} words, batch 32, CPU")
    print("| classifier | texts/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()
