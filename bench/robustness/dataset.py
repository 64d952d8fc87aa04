"""Robustness prompts: the evaluation partition (never the classifier's or a trainer's prompts),
plain and adversarial."""

from __future__ import annotations

from inspect_ai.dataset import MemoryDataset, Sample

from bench.coherence.dataset import PURE_DOVE
from bench.prompts import hf_dataset_cached, load_prompts, prompt_set_hash, prompt_sha, sample_prompts
from bench.robustness.prompts import ADVERSARIAL, CONTINUATIONS, adversarial_message
from charbench.errors import CharbenchError

SPLITS = ("normal", "adversarial", "multiturn", "both", "all")
SPLIT_PARTS = {
    "normal": ("normal",),
    "adversarial": ("adversarial",),
    "multiturn": ("multiturn",),
    "both": ("normal", "adversarial"),
    "all": ("normal", "adversarial", "multiturn"),
}


def classifier_training_prompts():
    """The bundled prompts the classifier may be trained on: the training partition."""
    return load_prompts("general", role="train")


def robustness_test_prompts(prompts: str = "default"):
    """Pure-Dove (first 500) when cached; else the bundled evaluation partition."""
    if prompts == "default":
        if hf_dataset_cached(PURE_DOVE):
            return load_prompts(f"hf:{PURE_DOVE}")[:500], f"hf:{PURE_DOVE}"
        return load_prompts("general", role="eval"), "general (evaluation partition)"
    return load_prompts(prompts, role="eval"), prompts


def robustness_dataset(split: str, prompts: str, n: int | None, seed: int) -> tuple[MemoryDataset, dict]:
    if split not in SPLITS:
        raise CharbenchError(f"split '{split}': use one of {', '.join(SPLITS)}")
    pool, source = robustness_test_prompts(prompts)
    chosen = sample_prompts(pool, n, seed)
    parts = SPLIT_PARTS[split]
    continuations = list(CONTINUATIONS)
    samples = []
    for i, p in enumerate(chosen):

        def sample(suffix: str, text: str, part: str, instruction: str, **extra: str) -> Sample:
            meta = {"prompt_id": p.id, "prompt_sha": prompt_sha(p.text), "split": part, "instruction": instruction}
            return Sample(id=f"{p.id}:{suffix}", input=text, metadata=meta | extra)

        if "normal" in parts:
            samples.append(sample("normal", p.text, "normal", "none"))
        if "adversarial" in parts:
            samples += [sample(key, adversarial_message(p.text, key), "adversarial", key) for key in ADVERSARIAL]
        if "multiturn" in parts:
            key = continuations[i % len(continuations)]
            samples.append(sample("multiturn", p.text, "multiturn", key, continuation=CONTINUATIONS[key]))
    return MemoryDataset(samples, name="robustness", shuffled=False), {
        "prompt_set": source,
        "prompt_set_hash": prompt_set_hash(pool),
        "prompts_used": len(chosen),
    }
