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
# compare only under the same policy. A planned design draws its target matchups from "planned:{seed}";
# its targets and share are the `design` fact.
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


def draw_planned(traits: list[str], targets: list[str], n: int, share: float, seed: int) -> list[tuple[str, str]]:
    """The planned design: `round(share * n)` matchups pit a target trait against the whole vocabulary
    (each target equally often, partners dealt from shuffled decks so every trait partners about equally),
    the rest are `draw_matchups`' uniform pairs so the full ranking still exists. Both kinds are interleaved
    in a seeded order (a run cut short keeps the share) and oriented so every trait is shown first about
    half the time. `share` 0 (or no targets) is exactly the uniform design of the same seed.

    Why: drawn uniformly over 10,296 pairs of 144 traits, a persona's few target traits each appear in
    about 1.4% of matchups, and "did the target traits move?" needs most of a 25,000-matchup run
    (perf/planned_design.py measures the saving)."""
    targets = sorted({t for t in targets if t in traits})  # the draw depends on the set, not its order
    planned = planned_count(n, share, targets)
    if planned == 0:
        return draw_matchups(traits, n, seed)
    rng = random.Random(f"planned:{seed}")
    uniform = draw_matchups(traits, n - planned, seed)
    focus: list[str] = []
    while len(focus) < planned:
        deck = targets[:]
        rng.shuffle(deck)
        focus += deck
    partners: list[str] = []
    pairs: list[tuple[str, str]] = []
    for target in focus[:planned]:
        if not partners:
            partners = traits[:]
            rng.shuffle(partners)
        k = next((i for i in range(len(partners) - 1, -1, -1) if partners[i] != target), None)
        if k is None:  # the deck's last card is the target itself: take a fresh deck
            partners = [t for t in traits if t != target]
            rng.shuffle(partners)
            k = len(partners) - 1
        pairs.append((target, partners.pop(k)))
    kinds = [True] * planned + [False] * len(uniform)
    rng.shuffle(kinds)
    focused, plain = iter(pairs), iter(uniform)
    surplus = {t: 0 for t in traits}  # times shown first minus times shown second: a target plays far
    # more often than its partners, so balancing raw first counts (as draw_matchups does) would show it second
    out = []
    for kind in kinds:
        a, b = next(focused) if kind else next(plain)
        if surplus[a] > surplus[b] or (surplus[a] == surplus[b] and rng.random() < 0.5):
            a, b = b, a
        surplus[a] += 1
        surplus[b] -= 1
        out.append((a, b))
    return out


def planned_count(n: int, share: float, targets: list[str]) -> int:
    """Matchups of `n` on the targets: at least one stays uniform (the full ranking needs some)."""
    return min(round(share * n), n - 1) if targets and share > 0 else 0


def design_name(targets: list[str], share: float, n: int) -> str:
    """The design as a fact logs are compared on: "uniform" (also when `n` is too small for any planned
    matchup), or the share and a hash of the target set."""
    if planned_count(n, share, targets) == 0:
        return "uniform"
    digest = hashlib.sha256("\n".join(sorted(targets)).encode()).hexdigest()[:12]
    return f"planned: {share:g} of matchups on {len(targets)} target traits ({digest})"


def planned_targets(trait_list: list[str], targets: list[str] | str | None, share: float) -> list[str]:
    """The design's target traits that are in the vocabulary (a target outside it cannot be drawn; the
    target-trait shift lists it as not rated). A one-line error for a share outside [0, 1) or a share
    with no target in the vocabulary."""
    if isinstance(targets, str):
        targets = [t.strip().lower() for t in targets.split(",") if t.strip()]
    targets = list(dict.fromkeys(targets or []))
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise CharbenchError(f"target_share {share!r}: use a share in [0, 1) (the rest stays uniform for the ranking)")
    if share == 0:
        if targets:
            raise CharbenchError(
                f"targets ({', '.join(targets)}) without a target_share: set target_share (e.g. 0.5) for a "
                "planned design, or leave targets out"
            )
        return []
    rated = [t for t in targets if t in trait_list]
    if not rated:
        raise CharbenchError(
            f"target_share {share:g} but none of the targets ({', '.join(targets) or 'none'}) is in the trait "
            "list: name target traits from the vocabulary, or set target_share 0"
        )
    return rated


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


def design(
    trait_list: list[str],
    prompt_ids: list[str],
    n: int,
    seed: int,
    condition: str = "like",
    targets: list[str] | None = None,
    share: float = 0.0,
) -> list[dict]:
    """The tournament's design, fixed by `seed` (and, for a planned design, its `targets` and `share`)
    before any model runs (SEED_POLICY): per matchup its two traits in the model's order, its prompt,
    the judge's order, the assigned trait (condition `assigned`) and its null partner's pair and judge
    order. Every row of an experiment gets the same one, so its comparisons stay paired."""
    rng = random.Random(seed + 1)
    judge_rng = random.Random(seed + 2)  # the judge's trait order, independent of the model's
    assign_rng = random.Random(seed + 3)
    order = list(range(len(prompt_ids)))
    assign_first = [i % 2 == 0 for i in range(n)]  # balanced: half the assigned traits shown first
    assign_rng.shuffle(assign_first)
    rows = []
    for i, (a, b) in enumerate(draw_planned(trait_list, targets or [], n, share, seed)):
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
    n: int,
    seed: int,
    condition: str,
    traits: str | None,
    prompts: str,
    targets: list[str] | str | None = None,
    target_share: float = 0.0,
) -> tuple[MemoryDataset, dict]:
    """The samples, plus facts about them for the log (prompt-set hash, trait count, the design)."""
    if condition not in CONDITIONS:
        raise CharbenchError(f"condition '{condition}': use one of {', '.join(CONDITIONS)}")
    if n < 1:
        raise CharbenchError("n must be at least 1 matchup")
    trait_list = load_traits(traits)
    planned = planned_targets(trait_list, targets, target_share)
    prompt_list = load_prompts(prompts, role="eval")
    by_id = {p.id: p for p in prompt_list}
    samples = []
    rows = design(trait_list, [p.id for p in prompt_list], n, seed, condition, targets=planned, share=target_share)
    for i, row in enumerate(rows):
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
        "design": design_name(planned, target_share, n),
        "design_targets": planned if planned_count(n, target_share, planned) else [],
        "design_share": target_share if planned_count(n, target_share, planned) else 0.0,
    }
