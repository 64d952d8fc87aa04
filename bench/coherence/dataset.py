"""The coherence prompts: Pure-Dove's first turns when in the local HF cache, else our bundled set."""

from __future__ import annotations

from inspect_ai.dataset import MemoryDataset, Sample

from bench.prompts import hf_dataset_cached, load_prompts, prompt_set_hash, prompt_sha, sample_prompts

PURE_DOVE = "LDJnr/Pure-Dove"


def resolve_prompt_set(prompts: str) -> str:
    if prompts != "default":
        return prompts
    return f"hf:{PURE_DOVE}" if hf_dataset_cached(PURE_DOVE) else "general"


def prompt_dataset(prompts: str, n: int | None, seed: int, name: str) -> tuple[MemoryDataset, dict]:
    spec = resolve_prompt_set(prompts)
    all_prompts = load_prompts(spec, role="eval")
    chosen = sample_prompts(all_prompts, n, seed)
    samples = [
        Sample(
            id=p.id,
            input=p.text,
            metadata={"prompt_id": p.id, "prompt_sha": prompt_sha(p.text), "category": p.category},
        )
        for p in chosen
    ]
    return MemoryDataset(samples, name=name, shuffled=False), {
        "prompt_set": spec,
        "prompt_set_hash": prompt_set_hash(all_prompts),
        "prompts_used": len(chosen),
    }
