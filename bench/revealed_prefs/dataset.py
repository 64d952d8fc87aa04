"""Traits, seeded balanced matchups, and the Inspect dataset of the tournament."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser

from bench.prompts import load_prompts, prompt_set_hash, prompt_sha
from bench.revealed_prefs.prompts import CONDITIONS, system_prompt
from charbench.errors import CharbenchError

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_TRAITS = DATA_DIR / "traits-144.txt"
# How this version draws its randomness (matchups from `seed`, prompts from seed+1, the judge's trait
# order from seed+2, assignments from seed+3). Logs compare only under the same policy.
SEED_POLICY = "matchups:seed;prompts:seed+1;judge-order:seed+2;assigned:seed+3"


def load_traits(spec: str | None = None) -> list[str]:
    """The 144 reference trait words (default) or one word per line from a file."""
    path = Path(spec) if spec else DEFAULT_TRAITS
    if not path.is_file():
        raise CharbenchError(f"traits file {path} does not exist: pass a file with one trait word per line")
    traits = [line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(set(traits)) != len(traits):
        raise CharbenchError(f"{path}: duplicate trait words: list each trait once")
    if len(traits) < 2:
        raise CharbenchError(f"{path}: at least two traits are needed for a matchup")
    return traits


def trait_glosses(traits: list[str]) -> dict[str, str]:
    """Trait word plus our short gloss (the embedded judge compares replies with these)."""
    glosses = json.loads((DATA_DIR / "trait_glosses.json").read_text(encoding="utf-8"))
    return {t: f"{t}: {glosses[t]}" if t in glosses else t for t in traits}


def draw_matchups(traits: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """`n` ordered pairs of distinct traits, balanced in appearances and in first/second position.

    Traits are dealt from concatenated shuffled decks, so appearance counts differ by at most one or
    two; each pair is then oriented so that the trait shown first less often so far goes first.
    """
    rng = random.Random(seed)
    deck: list[str] = []
    while len(deck) < 2 * n:
        shuffled = traits[:]
        rng.shuffle(shuffled)
        deck += shuffled
    deck = deck[: 2 * n]
    for i in range(0, 2 * n, 2):
        if deck[i] == deck[i + 1]:  # only at a deck boundary: swap with a position that keeps pairs distinct
            for j in list(range(i + 2, 2 * n)) + list(range(0, i)):
                partner = deck[j ^ 1]
                if deck[j] != deck[i] and partner != deck[i + 1]:
                    deck[i + 1], deck[j] = deck[j], deck[i + 1]
                    break
    first_count = {t: 0 for t in traits}
    pairs = []
    for i in range(0, 2 * n, 2):
        a, b = deck[i], deck[i + 1]
        if first_count[a] > first_count[b] or (first_count[a] == first_count[b] and rng.random() < 0.5):
            a, b = b, a
        first_count[a] += 1
        pairs.append((a, b))
    return pairs


def tournament_dataset(
    n: int, seed: int, condition: str, traits: str | None, prompts: str
) -> tuple[MemoryDataset, dict]:
    """The samples, plus facts about them for the log (prompt-set hash, trait count)."""
    if condition not in CONDITIONS:
        raise CharbenchError(f"condition '{condition}': use one of {', '.join(CONDITIONS)}")
    if n < 1:
        raise CharbenchError("n must be at least 1 matchup")
    trait_list = load_traits(traits)
    prompt_list = load_prompts(prompts, role="eval")
    rng = random.Random(seed + 1)
    judge_rng = random.Random(seed + 2)  # the judge's trait order, independent of the model's
    assign_rng = random.Random(seed + 3)
    order = list(range(len(prompt_list)))
    assign_first = [i % 2 == 0 for i in range(n)]  # balanced: half the assigned traits shown first
    assign_rng.shuffle(assign_first)
    samples = []
    for i, (a, b) in enumerate(draw_matchups(trait_list, n, seed)):
        if i % len(order) == 0:
            rng.shuffle(order)
        prompt = prompt_list[order[i % len(order)]]
        assigned = (a if assign_first[i] else b) if condition == "assigned" else None
        metadata = {
            "trait_a": a,
            "trait_b": b,
            "prompt_id": prompt.id,
            "prompt_sha": prompt_sha(prompt.text),
            "condition": condition,
            "judge_swap": judge_rng.random() < 0.5,
        }
        if assigned:
            metadata["assigned"] = assigned
        samples.append(
            Sample(
                id=f"m{i:05d}",
                input=[
                    ChatMessageSystem(content=system_prompt(a, b, condition, assigned)),
                    ChatMessageUser(content=prompt.text),
                ],
                metadata=metadata,
            )
        )
    return MemoryDataset(
        samples,
        name="revealed_prefs",
        shuffled=False,
    ), {
        "prompt_set": prompts,
        "prompt_set_hash": prompt_set_hash(prompt_list),
        "traits": len(trait_list),
        "traits_hash": hashlib.sha256("\n".join(sorted(trait_list)).encode()).hexdigest()[:12],
        "seed_policy": SEED_POLICY,
    }
