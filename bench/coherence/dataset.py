"""The coherence prompts: Pure-Dove's first turns when in the local HF cache, else our bundled set."""

from __future__ import annotations

from inspect_ai.dataset import MemoryDataset, Sample

from bench.prompts import hf_dataset_cached, load_prompts, prompt_set_hash, prompt_sha, sample_prompts
from charbench.errors import CharbenchError

PURE_DOVE = "LDJnr/Pure-Dove"


def resolve_prompt_set(prompts: str) -> str:
    if prompts != "default":
        return prompts
    return f"hf:{PURE_DOVE}" if hf_dataset_cached(PURE_DOVE) else "general"


def prompt_dataset(
    prompts: str, n: int | None, seed: int, name: str, partition: str = "eval"
) -> tuple[MemoryDataset, dict]:
    """`partition="train"` (classifier data) exists only for the bundled sets: Pure-Dove and user
    files are evaluation sets, so data for training always comes from the bundled training half."""
    from bench.prompts import BUNDLED

    if partition == "train":
        spec = "general" if prompts == "default" else prompts
        if spec not in BUNDLED:
            raise CharbenchError(
                f"prompt set '{prompts}': only the bundled sets ({', '.join(BUNDLED)}) have a training partition"
            )
    elif partition == "eval":
        spec = resolve_prompt_set(prompts)
    else:
        raise CharbenchError(f"partition '{partition}': use eval or train")
    all_prompts = load_prompts(spec, role=partition)
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
        "partition": partition,
    }
