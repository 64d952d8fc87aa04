"""Validation of the trait judges on labelled replies: is the judge right, and does it favour a position?

A judge of the revealed-preference tournament decides which of two named traits a reply expresses. Here
it judges replies whose trait is known (the shipped set `data/labelled_traits.jsonl`, written for this
purpose, or a user's JSONL), every item in both orders, so n judgements = 2 x items. The result is a
plain dict (keys in `summarise`); the tournament records it in every log the judge scores, and a judge
whose interval does not clear THRESHOLD is reported as unvalidated.

Intervals: Wilson with the item as the unit (accuracy x items), and a cluster bootstrap whose unit is
the item (both orders of one item) or, where items carry a `question`, all items answering one
question with one trait pair. A judge is validated only when both lower bounds clear THRESHOLD. The
embedded judge's recorded figure is its held-out half's (its variant was chosen on the other half); a
grader's is its last `charbench judge validate`, named by data (the shipped set, hash-checked, or the
user's file) in every log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.judges.embedded import (
    DEFAULT_VARIANT,
    PROMPT_WEIGHT,
    VARIANTS,
    resolve_variant,
    similarity_choice,
    variant_name,
)
from bench.judges.parsing import INVALID_REASONS, parse_choice
from bench.stats import wilson_interval
from charbench.errors import CharbenchError

THRESHOLD = 0.75  # a judge whose accuracy interval lies above this is "validated"
DATA_FILE = Path(__file__).parent / "data" / "labelled_traits.jsonl"
BOOTSTRAP_N = 2000
SEED = 0
BATCH_SIZE = 16
INVALID = "invalid"
REQUIRED = ("text", "trait_a", "trait_b", "label")
UNIT = "item (both orders of one item; items sharing a question and trait pair are one cluster)"
PROMPT_WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def load_labelled(path: str | Path | None = None) -> list[dict]:
    """Labelled replies: JSONL rows with text, trait_a, trait_b, label (one of the two traits), optional
    kind ("tone", "topic", ...; default "unknown") and question (the user message the reply answers)."""
    file = Path(path) if path else DATA_FILE
    if not file.is_file():
        raise CharbenchError(
            f"labelled set {file} does not exist: pass a JSONL file with text, trait_a, trait_b, label"
        )
    from charbench.jsonl import read_jsonl

    items = []
    for number, row in read_jsonl(file):
        where = f"{file}:{number}"
        if not isinstance(row, dict):
            raise CharbenchError(f"{where}: not a JSON object: write one object per line")
        for key in REQUIRED:
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise CharbenchError(f"{where}: field '{key}' is missing or empty: give it a non-empty string")
        item = {key: row[key].strip() for key in REQUIRED}
        for key in ("trait_a", "trait_b", "label"):
            item[key] = item[key].lower()
        if item["trait_a"] == item["trait_b"]:
            raise CharbenchError(f"{where}: field 'trait_b' equals trait_a: name two different traits")
        if item["label"] not in (item["trait_a"], item["trait_b"]):
            raise CharbenchError(
                f"{where}: field 'label' is '{item['label']}', not trait_a or trait_b: "
                f"set it to '{item['trait_a']}' or '{item['trait_b']}'"
            )
        for key, default in (("kind", "unknown"), ("question", None)):
            value = row.get(key, default)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise CharbenchError(f"{where}: field '{key}' must be a non-empty string: fix or remove it")
            item[key] = value.strip() if isinstance(value, str) else value
        items.append(item)
    if not items:
        raise CharbenchError(f"{file}: no rows: add JSONL rows with text, trait_a, trait_b, label")
    return items


def data_hash(items: list[dict]) -> str:
    """12 hex digits of sha256 over the canonical rows (the fields the validation uses, in order)."""
    canonical = "\n".join(
        json.dumps({k: item.get(k) for k in REQUIRED + ("kind", "question")}, sort_keys=True, ensure_ascii=False)
        for item in items
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def clusters(items: list[dict]) -> list[str]:
    """The resampling unit of each item: its question and trait pair when it has a question, else itself."""
    out = []
    for i, item in enumerate(items):
        pair = "|".join(sorted((item["trait_a"], item["trait_b"])))
        out.append(f"{pair}|{item['question']}" if item.get("question") else f"item{i}")
    return out


def split_halves(items: list[dict], seed: int = SEED) -> tuple[list[int], list[int]]:
    """Seeded calibration / held-out halves of item indices: whole clusters go to one half, and the
    clusters of each trait pair are dealt alternately, so every pair (and kind) sits in both halves."""
    by_pair: dict[str, list[str]] = {}
    keys = clusters(items)
    for item, key in zip(items, keys):
        pair = "|".join(sorted((item["trait_a"], item["trait_b"])))
        if key not in by_pair.setdefault(f"{item['kind']}|{pair}", []):
            by_pair[f"{item['kind']}|{pair}"].append(key)
    rng = random.Random(seed)
    calibration: set[str] = set()
    flip = 0
    for pair in sorted(by_pair):
        deck = by_pair[pair][:]
        rng.shuffle(deck)
        for j, key in enumerate(deck):
            if (j + flip) % 2 == 0:
                calibration.add(key)
        flip += len(deck) % 2  # odd decks alternate which half gets the extra cluster
    cal = [i for i, key in enumerate(keys) if key in calibration]
    held = [i for i, key in enumerate(keys) if key not in calibration]
    return cal, held


def _orders(item: dict) -> list[tuple[str, str]]:
    return [(item["trait_a"], item["trait_b"]), (item["trait_b"], item["trait_a"])]


def _bootstrap(correct: np.ndarray, keys: list[str], seed: int = SEED) -> tuple[float, float]:
    """Percentile interval of accuracy, resampling clusters (ratio of summed correct to summed counts)."""
    if len(correct) == 0:
        return (0.0, 1.0)
    names = sorted(set(keys))
    index = {k: j for j, k in enumerate(names)}
    hits = np.zeros(len(names))
    counts = np.zeros(len(names))
    for ok, key in zip(correct, keys):
        hits[index[key]] += ok
        counts[index[key]] += 1
    draws = np.random.default_rng(seed).integers(0, len(names), size=(BOOTSTRAP_N, len(names)))
    rates = hits[draws].sum(axis=1) / counts[draws].sum(axis=1)  # a mean of 0/1, or of differences
    return float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))


def _correct(items: list[dict], judgements: list[dict]) -> np.ndarray:
    return np.array([j["choice"] == items[j["item"]]["label"] for j in judgements], dtype=float)


def _accuracy_block(correct: np.ndarray, keys: list[str], n_items: int) -> dict:
    """Accuracy over judgements; its Wilson interval counts items, not judgements: the two orders of
    one item are not independent (for an order-invariant judge they are the same verdict twice)."""
    k, n = float(correct.sum()), len(correct)
    accuracy = k / n if n else float("nan")
    return {
        "n_items": n_items,
        "n_judgements": n,
        "accuracy": accuracy,
        "ci": list(wilson_interval(round(accuracy * n_items), n_items)) if n else [0.0, 1.0],
        "ci_bootstrap": list(_bootstrap(correct, keys)),
    }


def accuracy_by_kind(correct: np.ndarray, keys: list[str], judgements: list[dict], kinds: list[str]) -> dict:
    """`_accuracy_block` per kind of item (`kinds[i]`: the kind of item i), for judgements {item, ...}."""
    out = {}
    for kind in sorted({kinds[j["item"]] for j in judgements}):
        mask = np.array([kinds[j["item"]] == kind for j in judgements])
        n_items = len({j["item"] for j in judgements if kinds[j["item"]] == kind})
        out[kind] = _accuracy_block(correct[mask], [k for k, m in zip(keys, mask) if m], n_items)
    return out


def summarise(items: list[dict], judgements: list[dict], judge: str, **extra) -> dict:
    """The validation result from per-judgement records {item, first, choice, reason}.

    Keys: judge, n_items, n_judgements, accuracy, ci (Wilson over judgements), ci_bootstrap (cluster
    bootstrap), unit, by_kind ({kind: n_items, n_judgements, accuracy, ci, ci_bootstrap}), valid,
    accuracy_valid, position_bias (share of valid judgements naming the first-shown trait), invalid
    ({reason: count}), data_hash, threshold, validated, plus `extra` (variant, data, ...)."""
    keys_by_item = clusters(items)
    correct = _correct(items, judgements)
    keys = [keys_by_item[j["item"]] for j in judgements]
    overall = _accuracy_block(correct, keys, len({j["item"] for j in judgements}))
    by_kind = accuracy_by_kind(correct, keys, judgements, [item["kind"] for item in items])
    valid = [j for j in judgements if j["choice"] != INVALID]
    invalid = dict.fromkeys(INVALID_REASONS, 0)
    for j in judgements:
        if j["choice"] == INVALID:
            invalid[j["reason"]] = invalid.get(j["reason"], 0) + 1
    lower = min(overall["ci"][0], overall["ci_bootstrap"][0])
    by_item: dict[int, set[str]] = {}
    for j in judgements:
        by_item.setdefault(j["item"], set()).add(j["choice"])
    invariant = bool(by_item) and all(len(choices) == 1 for choices in by_item.values())
    return {
        "judge": judge,
        **overall,
        "unit": UNIT,
        "by_kind": by_kind,
        "valid": len(valid),
        "accuracy_valid": sum(j["choice"] == items[j["item"]]["label"] for j in valid) / len(valid) if valid else None,
        # an order-invariant judge names the same trait in both orders: exactly 0.5 by construction, not a
        # measurement; None then, with `order_invariant` saying why
        "position_bias": None if invariant or not valid else sum(j["choice"] == j["first"] for j in valid) / len(valid),
        "order_invariant": invariant,
        "invalid": invalid,
        "data_hash": data_hash(items),
        "threshold": THRESHOLD,
        "validated": bool(lower > THRESHOLD),
        **extra,
    }


def judge_embedded(
    items: list[dict], variant: str = DEFAULT_VARIANT, indices: list[int] | None = None, **options
) -> list[dict]:
    """Judgement records of the embedded similarity judge, both orders of every item.

    `options`: prompt_weight (prompt-centred variant; default the module constant) and abstain_below
    (a margin under which the judge abstains, counted invalid with reason "abstain")."""
    from bench.judges import embedded
    from bench.revealed_prefs.dataset import trait_glosses

    if variant not in VARIANTS:
        raise CharbenchError(f"embedded variant '{variant}': use one of {', '.join(VARIANTS)}")
    chosen = range(len(items)) if indices is None else indices
    if variant == "prompt-centred" and any(not items[i].get("question") for i in chosen):
        raise CharbenchError(
            "the prompt-centred embedded judge needs a 'question' field (the user message) in every row: "
            "add it, or pass --variant gloss"
        )
    glosses = trait_glosses(sorted({t for i in chosen for t in (items[i]["trait_a"], items[i]["trait_b"])}))
    descriptions = list(glosses.values())
    if variant == "manner":
        descriptions += [text for label, gloss in glosses.items() for text in embedded.manner_texts(label, gloss)]
    questions = [items[i]["question"] for i in chosen if items[i]["question"]]
    embedded.embed([items[i]["text"] for i in chosen] + questions + descriptions)  # one batch: fast
    weight = options.get("prompt_weight", PROMPT_WEIGHT)
    abstain_below = options.get("abstain_below")
    out = []
    for i in chosen:
        item = items[i]
        for first, second in _orders(item):
            label, margin, _ = similarity_choice(
                item["text"],
                {first: glosses[first], second: glosses[second]},
                prompt=item.get("question"),
                variant=variant,
                prompt_weight=weight,
            )
            record = {"item": i, "first": first, "choice": label, "reason": "", "margin": margin}
            if abstain_below is not None and margin < abstain_below:
                record.update(choice=INVALID, reason="abstain")
            out.append(record)
    return out


def validate_embedded(
    items: list[dict] | None = None, variant: str = DEFAULT_VARIANT, data: str = "shipped", **options
) -> dict:
    """Validate the offline similarity judge (no model besides the sentence encoder)."""
    items = load_labelled() if items is None else items
    judgements = judge_embedded(items, variant, **options)
    extra = {"variant": variant, "data": data}
    if variant == "prompt-centred":
        extra["prompt_weight"] = options.get("prompt_weight", PROMPT_WEIGHT)
    if options.get("abstain_below") is not None:
        extra["abstain_below"] = options["abstain_below"]
    return summarise(items, judgements, variant_name(variant), **extra)


def _grader(model):
    from inspect_ai.model import Model, get_model

    if isinstance(model, Model):
        return model
    import bench.models  # noqa: F401  (registers the charbench/ provider)

    try:
        return get_model(model)
    except CharbenchError:
        raise
    except Exception as err:  # Inspect raises several types for an unknown or unreachable model
        raise CharbenchError(
            f"grader '{model}' could not be loaded ({str(err).splitlines()[0] if str(err) else type(err).__name__}): "
            "pass an Inspect model name such as charbench/smollm2-135m or openai/gpt-4o-mini"
        ) from None


async def _generate_all(model, prompts: list[str], batch_size: int, progress: bool) -> list[str]:
    from inspect_ai.model import GenerateConfig
    from tqdm import tqdm

    from bench.revealed_prefs.prompts import JUDGE_TEMPERATURE

    config = GenerateConfig(temperature=JUDGE_TEMPERATURE)
    out: list[str] = []
    with tqdm(total=len(prompts), desc=f"judging with {model}", unit="judgement", disable=not progress) as bar:
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start : start + batch_size]
            outputs = await asyncio.gather(*(model.generate(p, config=config) for p in batch))
            out += [o.completion for o in outputs]
            bar.update(len(batch))
    return out


def validate_grader(
    model_name, items: list[dict] | None = None, data: str = "shipped", batch_size: int = BATCH_SIZE, progress=True
) -> dict:
    """Validate an Inspect model as the tournament's grader: the tournament's judge prompt and temperature,
    answers parsed with `parse_choice` (invalid answers counted by reason). `model_name` may be a Model."""
    from bench.revealed_prefs.prompts import judge_prompt

    items = load_labelled() if items is None else items
    model = _grader(model_name)
    shown = [(i, first, second) for i, item in enumerate(items) for first, second in _orders(item)]
    prompts = [judge_prompt(items[i]["text"], first, second) for i, first, second in shown]
    raws = asyncio.run(_generate_all(model, prompts, batch_size, progress))
    judgements = []
    for (i, first, second), raw in zip(shown, raws):
        verdict = parse_choice(raw, (first, second))
        judgements.append({"item": i, "first": first, "choice": verdict.choice, "reason": verdict.reason})
    return summarise(items, judgements, str(model), variant=None, data=data)


def validation_path(judge_name: str) -> Path:
    from charbench.paths import results_dir, slug

    return results_dir() / "judges" / f"{slug(judge_name)}.json"


def save_validation(result: dict) -> Path:
    """Write a result to results/judges/<judge>.json (the latest validation of that judge)."""
    path = validation_path(result["judge"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def saved_validation(judge_name: str) -> dict | None:
    """The last saved validation of a judge, or None if it was never validated here."""
    path = validation_path(judge_name)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@lru_cache(maxsize=8)
def embedded_validation(variant: str | None = None) -> dict:
    """The embedded judge's validation on the held-out half of the shipped set (its variant and prompt
    weight were chosen on the other half: `compare_variants`), computed once per process (for the logs).

    Pass the variant that scored the log: None is what `similarity_choice` does without a prompt (`gloss`,
    the judge `embedded-similarity`); callers that pass the user's message get DEFAULT_VARIANT."""
    items = load_labelled()
    _, held = split_halves(items)  # the half the variant and its weight were not chosen on
    return validate_embedded(
        [items[i] for i in held], variant=resolve_variant(variant, None), data="shipped, held-out half"
    )


def headline(result: dict) -> str:
    """One line for logs and reports: judge, accuracy [interval], n, hash, validated or not."""
    lo = min(result["ci"][0], result["ci_bootstrap"][0])
    hi = max(result["ci"][1], result["ci_bootstrap"][1])
    status = "validated" if result["validated"] else f"UNVALIDATED (interval not above {result['threshold']})"
    return (
        f"{result['judge']}: accuracy {result['accuracy']:.3f} [{lo:.3f}, {hi:.3f}] on {result['n_items']} items "
        f"(data {result['data_hash']}): {status}"
    )


# Choosing the embedded variant: calibrate on one half, report on the other.


def calibrate_prompt_weight(items: list[dict], indices: list[int]) -> float:
    """The prompt weight with the best accuracy on `indices` (ties: the smaller weight)."""
    best, best_acc = 0.0, -1.0
    for weight in PROMPT_WEIGHT_GRID:
        judgements = judge_embedded(items, "prompt-centred", indices, prompt_weight=weight)
        acc = np.mean([j["choice"] == items[j["item"]]["label"] for j in judgements])
        if acc > best_acc + 1e-12:
            best, best_acc = weight, float(acc)
    return best


def calibrate_abstain(items: list[dict], indices: list[int], variant: str, **options) -> float:
    """The margin threshold maximising the Wilson lower bound of accuracy among answered judgements."""
    judgements = judge_embedded(items, variant, indices, **options)
    margins = np.array([j["margin"] for j in judgements])
    correct = np.array([j["choice"] == items[j["item"]]["label"] for j in judgements])
    best, best_lo = 0.0, wilson_interval(int(correct.sum()), len(correct))[0]
    for tau in np.quantile(margins, np.linspace(0.05, 0.8, 16)):
        kept = margins >= tau
        lo = wilson_interval(int(correct[kept].sum()), int(kept.sum()))[0]
        if lo > best_lo:
            best, best_lo = float(tau), lo
    return best


def compare_variants(items: list[dict] | None = None, seed: int = SEED) -> dict:
    """Every embedded variant on the held-out half, after calibrating on the other half.

    Each variant's result also holds delta_vs_gloss: [accuracy difference from variant (a), 95% interval]
    (paired, cluster bootstrap).

    Returns {"seed", "calibration_items", "held_out_items", "prompt_weight", "chosen", "abstain_below",
    "variants": {name: result on the held-out half}}. `chosen` is the best variant on the calibration half.
    """
    items = load_labelled() if items is None else items
    cal, held = split_halves(items, seed)
    has_questions = all(item.get("question") for item in items)
    candidates = [v for v in VARIANTS if has_questions or v != "prompt-centred"]
    weight = calibrate_prompt_weight(items, cal) if has_questions else PROMPT_WEIGHT
    options = {v: ({"prompt_weight": weight} if v == "prompt-centred" else {}) for v in candidates}

    def accuracy_on(indices: list[int], variant: str) -> float:
        judgements = judge_embedded(items, variant, indices, **options[variant])
        return float(np.mean([j["choice"] == items[j["item"]]["label"] for j in judgements]))

    chosen = max(candidates, key=lambda v: (accuracy_on(cal, v), v == "gloss"))
    tau = calibrate_abstain(items, cal, chosen, **options[chosen])
    held_items = [items[i] for i in held]
    results = {v: validate_embedded(held_items, v, data="held-out half", **options[v]) for v in candidates}
    results[f"{chosen}+abstain"] = validate_embedded(
        held_items, chosen, data="held-out half", abstain_below=tau, **options[chosen]
    )
    baseline = _correct(held_items, judge_embedded(held_items, "gloss"))
    keys = [k for k in clusters(held_items) for _ in range(2)]
    for v in candidates:
        delta = _correct(held_items, judge_embedded(held_items, v, **options[v])) - baseline
        results[v]["delta_vs_gloss"] = [float(delta.mean()), *_bootstrap(delta, keys)]
    return {
        "seed": seed,
        "calibration_items": len(cal),
        "held_out_items": len(held),
        "prompt_weight": weight,
        "chosen": chosen,
        "abstain_below": tau,
        "variants": results,
    }
