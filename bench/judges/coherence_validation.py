"""Validation of the coherence judge on pairs where one reply is known better.

bench/coherence asks a judge which of two replies is better in character and as an answer. Its win
rate is a headline column, so the judge is measured like the trait judge: on a labelled set shipped
with the repo (`data/labelled_coherence.jsonl`), every pair in both orders. The pairs are built by rule
(`build_pairs`, reproducible from the trait judge's labelled replies): the better reply is a coherent
reply written in the character, the worse one the same reply broken in one known way:

- `off_character`: the reply to the same question written in the other trait of its pair;
- `truncated`: the reply cut at 40% of its words, mid-sentence;
- `degenerate`: its first words repeated, as a collapsing model does;
- `shuffled`: its words in a seeded random order (fluent words, no sense).

A judge is validated when both lower bounds (Wilson over pairs, cluster bootstrap by question) clear
THRESHOLD. The embedded forced-choice judge's result is measured by `charbench judge validate
--coherence` and shipped (`data/coherence_embedded_validation.json`, with the pair set's hash); a
grader's is its last saved run. Every coherence log carries its judge's result, or says it has none.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from bench.judges.validation import THRESHOLD, _accuracy_block, accuracy_by_kind, data_hash, load_labelled
from charbench.errors import CharbenchError

DATA = Path(__file__).parent / "data"
PAIRS_FILE = DATA / "labelled_coherence.jsonl"
EMBEDDED_RESULT = DATA / "coherence_embedded_validation.json"
KINDS = ("off_character", "truncated", "degenerate", "shuffled")
SEED = 0
UNIT = "pair (both orders of one pair; pairs on one question are one cluster)"


def build_pairs(seed: int = SEED) -> list[dict]:
    """One pair per (question, trait pair) of the trait judge's labelled set, kinds in turn."""
    items = load_labelled()
    rng = random.Random(seed)
    by_group: dict[tuple, list[dict]] = {}
    for item in items:
        by_group.setdefault((item["question"], item["trait_a"], item["trait_b"]), []).append(item)
    pairs = []
    for g, (key, group) in enumerate(sorted(by_group.items())):
        better = group[g % len(group)]
        other = next((x for x in group if x is not better), None)
        kind = KINDS[g % len(KINDS)]
        words = better["text"].split()
        if kind == "off_character" and other is not None:
            worse = other["text"]
        elif kind == "truncated" or (kind == "off_character" and other is None):
            kind, worse = "truncated", " ".join(words[: max(3, int(0.4 * len(words)))]).rstrip(".!?;,")
        elif kind == "degenerate":
            worse = " ".join(words[:6] * 5)
        else:
            shuffled = words[:]
            rng.shuffle(shuffled)
            worse = " ".join(shuffled)
        pairs.append(
            {"question": key[0], "character": better["label"], "better": better["text"], "worse": worse, "kind": kind}
        )
    return pairs


def load_pairs(path: str | Path | None = None) -> list[dict]:
    path = Path(path) if path else PAIRS_FILE
    if not path.is_file():
        raise CharbenchError(f"coherence pairs file {path} does not exist")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pairs_hash(pairs: list[dict]) -> str:
    return data_hash([{"text": p["better"] + "\n" + p["worse"], "trait_a": p["character"], "trait_b": p["kind"],
                       "label": "better", "kind": p["kind"], "question": p["question"]} for p in pairs])  # fmt: skip


def character(trait: str) -> list[str]:
    """The character the judge is told about: the trait word and our gloss (what the trait judge uses)."""
    from bench.revealed_prefs.dataset import trait_glosses

    return [trait_glosses([trait])[trait]]


def prompts(pairs: list[dict]) -> list[tuple[int, str, str]]:
    """(pair index, which reply is A, judge prompt) for both orders of every pair."""
    from bench.coherence.prompts import judge_prompt

    out = []
    for i, p in enumerate(pairs):
        traits = character(p["character"])
        out.append((i, "better", judge_prompt(traits, p["question"], p["better"], p["worse"])))
        out.append((i, "worse", judge_prompt(traits, p["question"], p["worse"], p["better"])))
    return out


def summarise(pairs: list[dict], judgements: list[dict], judge: str, data: str) -> dict:
    """Judgement records {item, first ("better"/"worse" shown as A), choice ("better"/"worse"/invalid),
    reason} -> accuracy with intervals, by kind, position bias (share naming A), consistency, validated."""
    correct = np.array([j["choice"] == "better" for j in judgements], dtype=float)
    keys = [pairs[j["item"]]["question"] for j in judgements]
    overall = _accuracy_block(correct, keys, len({j["item"] for j in judgements}))
    by_kind = accuracy_by_kind(correct, keys, judgements, [p["kind"] for p in pairs])
    valid = [j for j in judgements if j["choice"] in ("better", "worse")]
    named_a = [j["choice"] == j["first"] for j in valid]
    by_item: dict[int, list[str]] = {}
    for j in valid:
        by_item.setdefault(j["item"], []).append(j["choice"])
    consistent = [len(set(c)) == 1 for c in by_item.values() if len(c) == 2]
    lower = min(overall["ci"][0], overall["ci_bootstrap"][0])
    return {
        "judge": judge,
        **overall,
        "unit": UNIT,
        "by_kind": by_kind,
        "valid": len(valid),
        "position_bias": float(np.mean(named_a)) if named_a else None,
        "consistency": float(np.mean(consistent)) if consistent else None,
        "invalid": len(judgements) - len(valid),
        "data": data,
        "data_hash": pairs_hash(pairs),
        "threshold": THRESHOLD,
        "validated": bool(lower > THRESHOLD),
    }


def validate_embedded(pairs: list[dict] | None = None, data: str = "shipped") -> dict:
    """The embedded forced-choice judge (bench/coherence's offline judge) on both orders of every pair."""
    from bench.coherence.scorers import EMBEDDED_JUDGE_NAME
    from bench.judges.embedded import forced_choice

    pairs = load_pairs() if pairs is None else pairs
    judgements = []
    for item, first, prompt in prompts(pairs):
        choice, _ = forced_choice(prompt, ("A", "B"))
        second = "worse" if first == "better" else "better"
        judgements.append({"item": item, "first": first, "choice": first if choice == "A" else second, "reason": ""})
    return summarise(pairs, judgements, EMBEDDED_JUDGE_NAME, data)


def validate_grader(model: str, pairs: list[dict] | None = None, data: str = "shipped") -> dict:
    """An Inspect model as the coherence judge (the `grader` role of bench/coherence)."""
    import asyncio

    from bench.coherence.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE
    from bench.judges.parsing import parse_choice
    from bench.judges.validation import _grader

    pairs = load_pairs() if pairs is None else pairs
    grader = _grader(model)
    asks = prompts(pairs)

    async def run() -> list[str]:
        from inspect_ai.model import GenerateConfig

        config = GenerateConfig(temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS, seed=SEED)
        outputs = await asyncio.gather(*(grader.generate(prompt, config=config) for _, _, prompt in asks))
        return [o.completion for o in outputs]

    judgements = []
    for (item, first, _), text in zip(asks, asyncio.run(run())):
        verdict = parse_choice(text, ("A", "B"))
        second = "worse" if first == "better" else "better"
        choice = (first if verdict.choice == "A" else second) if verdict.valid else "invalid"
        judgements.append({"item": item, "first": first, "choice": choice, "reason": verdict.reason})
    return summarise(pairs, judgements, str(grader), data)


def saved_path(judge: str) -> Path:
    from charbench.paths import results_dir, slug

    return results_dir() / "judges" / f"coherence-{slug(judge)}.json"


def judge_record(judge: str) -> dict:
    """What a coherence log carries about its judge: the shipped (embedded) or saved (grader) result,
    hash-checked against the pairs shipped now; `validated` False with a note where there is none."""
    from bench.coherence.scorers import EMBEDDED_JUDGE_NAME

    path = saved_path(judge)  # the user's own run first, else (embedded) the shipped measurement
    if not path.is_file() and judge == EMBEDDED_JUDGE_NAME:
        path = EMBEDDED_RESULT
    if not path.is_file():
        return {"judge": judge, "validated": False, "note": "not validated: charbench judge validate --coherence"}
    result = json.loads(path.read_text(encoding="utf-8"))
    keys = ("accuracy", "ci", "ci_bootstrap", "n_items", "position_bias", "consistency", "data", "data_hash")
    record = {"judge": judge, **{k: result.get(k) for k in keys}, "threshold": result.get("threshold", THRESHOLD)}
    stale = result.get("data_hash") != pairs_hash(load_pairs()) and result.get("data") == "shipped"
    record["validated"] = bool(result.get("validated")) and not stale
    if stale:
        record["note"] = "measured on an older pair set: rerun charbench judge validate --coherence"
    return record
