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
# order from seed+2, assignments from seed+3, the design null's re-pairing from seed+4). Logs
# compare only under the same policy.
SEED_POLICY = "matchups:seed;prompts:seed+1;judge-order:seed+2;assigned:seed+3;null-pairs:seed+4"


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


def null_partners(pairs: list[tuple[str, str]], prompts: list[str], seed: int) -> list[int | None]:
    """For each matchup, the matchup whose trait pair its reply is judged on a second time: the design
    null (bench/revealed_prefs/validity.py). Within each prompt the matchups form one seeded cycle (a
    permutation, so the null's pairs and prompts are exactly the design's), avoiding partners that
    share a trait (the reply may express it); prompts used once are cycled among themselves."""
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(i)
    partner: list[int | None] = [None] * len(pairs)
    singles = [rows[0] for rows in groups.values() if len(rows) == 1]
    for rows in [rows for rows in groups.values() if len(rows) > 1] + ([singles] if len(singles) > 1 else []):
        best: tuple[int, dict[int, int]] | None = None
        for _ in range(20):
            order = rows[:]
            rng.shuffle(order)
            cycle = {order[k]: order[(k + 1) % len(order)] for k in range(len(order))}
            overlaps = sum(bool(set(pairs[i]) & set(pairs[j])) for i, j in cycle.items())
            if best is None or overlaps < best[0]:
                best = (overlaps, cycle)
            if overlaps == 0:
                break
        assert best is not None
        for i, j in best[1].items():
            partner[i] = j
    return partner


def design(trait_list: list[str], prompt_ids: list[str], n: int, seed: int, condition: str = "like") -> list[dict]:
    """The tournament's design, fixed by `seed` before any model runs (SEED_POLICY): per matchup its two
    traits in the model's order, its prompt, the judge's order, the assigned trait (condition
    `assigned`) and its null partner's pair and judge order."""
    rng = random.Random(seed + 1)
    judge_rng = random.Random(seed + 2)  # the judge's trait order, independent of the model's
    assign_rng = random.Random(seed + 3)
    order = list(range(len(prompt_ids)))
    assign_first = [i % 2 == 0 for i in range(n)]  # balanced: half the assigned traits shown first
    assign_rng.shuffle(assign_first)
    rows = []
    for i, (a, b) in enumerate(draw_matchups(trait_list, n, seed)):
        if i % len(order) == 0:
            rng.shuffle(order)
        row = {"trait_a": a, "trait_b": b, "prompt": prompt_ids[order[i % len(order)]]}
        row["judge_swap"] = judge_rng.random() < 0.5
        row["assigned"] = (a if assign_first[i] else b) if condition == "assigned" else None
        rows.append(row)
    partners = null_partners([(r["trait_a"], r["trait_b"]) for r in rows], [r["prompt"] for r in rows], seed + 4)
    for row, j in zip(rows, partners):
        if j is not None:
            partner = rows[j]
            row["null_pair"] = [partner["trait_a"], partner["trait_b"]]
            row["null_swap"] = partner["judge_swap"]
            row["null_same_prompt"] = partner["prompt"] == row["prompt"]
    return rows


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
    by_id = {p.id: p for p in prompt_list}
    samples = []
    for i, row in enumerate(design(trait_list, [p.id for p in prompt_list], n, seed, condition)):
        prompt = by_id[row["prompt"]]
        a, b, assigned = row["trait_a"], row["trait_b"], row["assigned"]
        metadata = {
            "trait_a": a,
            "trait_b": b,
            "prompt_id": prompt.id,
            "prompt_sha": prompt_sha(prompt.text),
            "condition": condition,
            "judge_swap": row["judge_swap"],
        }
        for key in ("null_pair", "null_swap", "null_same_prompt"):
            if key in row:
                metadata[key] = row[key]
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
