"""User-prompt sets and their loaders: the one place any eval or trainer gets user prompts from.

A prompt set is named by one of:
  * `general`: 309 prompts written for charbench, in six categories (everyday, technical, creative,
    advice, emotional, knowledge);
  * a path to a `.jsonl` file whose rows have `text` (or `prompt`/`input`) and optionally `id`,
    `category`;
  * `hf:<dataset>[:<split>]`: a Hugging Face dataset already in the local cache (nothing is
    downloaded when HF_HUB_OFFLINE=1); the first user turn of `conversation`/`messages` columns, or
    `prompt`/`instruction`/`text`.

Train/test hygiene: every bundled set is split once into a training and an evaluation partition by a
fixed rule on each prompt's own text (`PARTITION_RULE`), so adding a prompt never moves another.
Trainers (distillation, steering calibration, classifier data) load with `role="train"`, evals with
`role="eval"`, and a test asserts the partitions are disjoint. User files and hub sets have no
partition: the checkpoint's recorded prompts (`charbench_prompts.json`) are checked at scoring time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from charbench.errors import CharbenchError

DATA_DIR = Path(__file__).parent / "data"
BUNDLED = {"general": DATA_DIR / "general.txt"}
ROLES = ("train", "eval")
PARTITION_SALT = "charbench-partition-v1"
EVAL_FRACTION = 0.5
PARTITION_RULE = (
    f"eval if int(sha256('{PARTITION_SALT}:' + whitespace-normalised text)[:8], 16) / 0xFFFFFFFF < "
    f"{EVAL_FRACTION}, else train"
)


class PromptSetError(CharbenchError):
    """A prompt set that cannot be read."""


@dataclass(frozen=True)
class UserPrompt:
    id: str
    text: str
    category: str = ""


def _read_sectioned(path: Path) -> list[UserPrompt]:
    prompts, category, counts = [], "", {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            category = line[2:].strip()
        elif line.strip():
            counts[category] = counts.get(category, 0) + 1
            prompts.append(UserPrompt(f"{category}-{counts[category]:03d}", line.strip(), category))
    return prompts


def _read_jsonl(path: Path) -> list[UserPrompt]:
    from charbench.jsonl import read_jsonl

    prompts = []
    for n, row in read_jsonl(path):
        text = next((row[k] for k in ("text", "prompt", "input") if isinstance(row.get(k), str)), None)
        if not text or not text.strip():
            raise PromptSetError(f"{path}:{n}: no 'text' field: give each row a non-empty 'text'")
        prompts.append(UserPrompt(str(row.get("id", f"{path.stem}-{n:05d}")), text.strip(), row.get("category", "")))
    if not prompts:
        raise PromptSetError(f"{path}: no prompts in the file")
    return prompts


def _first_user_turn(row: dict) -> str | None:
    for key in ("conversation", "messages", "conversations"):
        turns = row.get(key)
        if isinstance(turns, list):
            for turn in turns:
                if isinstance(turn, dict) and turn.get("role", turn.get("from")) in ("user", "human"):
                    return turn.get("content", turn.get("value"))
                if isinstance(turn, dict) and isinstance(turn.get("input"), str):  # Pure-Dove style
                    return turn["input"]
    for key in ("prompt", "instruction", "text", "input"):
        if isinstance(row.get(key), str):
            return row[key]
    return None


def _read_hf(spec: str) -> list[UserPrompt]:
    name, _, split = spec.removeprefix("hf:").partition(":")
    try:
        import datasets

        data = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # datasets raises many types for "not cached"
        raise PromptSetError(
            f"dataset {name} is not in the local Hugging Face cache ({type(err).__name__}): "
            f"fetch it on a connected machine with `python -c \"import datasets; datasets.load_dataset('{name}')\"`"
        ) from None
    prompts = []
    for i, row in enumerate(data):
        text = _first_user_turn(row)
        if text and text.strip():
            prompts.append(UserPrompt(f"{name.split('/')[-1]}-{i:06d}", text.strip()))
    return prompts


def hf_dataset_cached(name: str) -> bool:
    """Whether a hub dataset is in the local Hugging Face cache (checked on disk, no network)."""
    from bench.models.loader import hf_cache_has

    return hf_cache_has(name, "dataset")


def prompt_sha(text: str) -> str:
    """The identity of a user prompt across prompt sets (ids differ between sets; the text does not)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def partition_of(prompt: UserPrompt) -> str:
    """'train' or 'eval', by `PARTITION_RULE`: a function of the prompt's own text only."""
    digest = hashlib.sha256(f"{PARTITION_SALT}:{' '.join(prompt.text.split())}".encode()).hexdigest()
    return "eval" if int(digest[:8], 16) / 0xFFFFFFFF < EVAL_FRACTION else "train"


def evaluation_shas() -> set[str]:
    """Text hashes of every bundled evaluation prompt: what no trainer may train on, whatever set a
    training text came from (a persona's own questions can repeat an evaluation prompt)."""
    return {prompt_sha(p.text) for spec in BUNDLED for p in load_prompts(spec, role="eval")}


def drop_evaluation(prompts: list[UserPrompt]) -> tuple[list[UserPrompt], list[UserPrompt]]:
    """(kept, dropped): the prompts whose text is an evaluation prompt go, to be counted by the caller."""
    evaluation = evaluation_shas()
    kept = [p for p in prompts if prompt_sha(p.text) not in evaluation]
    return kept, [p for p in prompts if prompt_sha(p.text) in evaluation]


def load_prompts(spec: str = "general", role: str | None = None) -> list[UserPrompt]:
    """The prompts of `spec`; for a bundled set, `role` ("train" or "eval") keeps only that partition.

    None (all of a bundled set) is for tools that neither train nor evaluate (perf scripts).
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role {role!r}: use one of {ROLES}")
    if spec in BUNDLED:
        prompts = _read_sectioned(BUNDLED[spec])
        return prompts if role is None else [p for p in prompts if partition_of(p) == role]
    if spec.startswith("hf:"):
        return _read_hf(spec)
    path = Path(spec)
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise PromptSetError(f"prompt file {path} does not exist")
        return _read_jsonl(path)
    raise PromptSetError(f"prompt set '{spec}': use one of {', '.join(BUNDLED)}, a .jsonl path, or hf:<dataset>")


def prompt_set_hash(prompts: list[UserPrompt]) -> str:
    """A short content hash recorded in logs and manifests, so a changed prompt set is visible."""
    digest = hashlib.sha256("\n".join(f"{p.id}\t{p.text}" for p in prompts).encode()).hexdigest()
    return digest[:12]


def split_by_prompt(prompts: list[UserPrompt], held_out: float = 0.3, salt: str = "charbench") -> tuple[list, list]:
    """Deterministic train / held-out split by prompt id hash (the same prompt always lands on one side)."""
    train, test = [], []
    for p in prompts:
        bucket = int(hashlib.sha256(f"{salt}:{p.id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if bucket < held_out else train).append(p)
    return train, test


def sample_prompts(prompts: list[UserPrompt], n: int | None, seed: int) -> list[UserPrompt]:
    """A seeded subset of `n` prompts in a seeded order (all of them when n is None or too large)."""
    import random

    chosen = list(prompts)
    random.Random(seed).shuffle(chosen)
    return chosen if n is None else chosen[:n]
