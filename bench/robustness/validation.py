"""Is the persona classifier good enough to believe, and has it seen the prompts it will score?

A classifier is an instrument (VALIDITY.md, section 3): its held-out accuracy and macro-F1 come with
intervals whose unit is the prompt (all replies to one prompt are resampled together), beside chance
and a confusion matrix. It is *validated* when the lower end of its macro-F1 interval is above chance
macro-F1 (the mean macro-F1 of the same predictions against shuffled labels). Robustness refuses a
classifier that is not validated, unless the user accepts it as weak, and refuses one that was trained
or validated on any prompt it is asked to score.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np

from bench.robustness.report import macro_f1_codes
from bench.stats import BOOTSTRAP_N, cluster_bootstrap, cluster_proportion_interval, percentile_interval
from charbench.errors import CharbenchError

MANIFEST = "manifest.json"
METRICS = "metrics.json"
SHIPPED_SET = Path(__file__).parent / "data" / "labelled_personas.jsonl"
UNIT = "prompt"
PERMUTATIONS = 200
# Below this many held-out prompts a percentile bootstrap over prompts is too coarse to mean anything
# (with one prompt every draw is the same): such a classifier is not called validated, whatever it scores.
MIN_HELD_OUT_PROMPTS = 8
WEAK_HINT = (
    "use more prompts (--classifier-prompts / --prompts), longer replies (--max-tokens) or a stronger "
    "backbone (answerdotai/ModernBERT-base in the HF cache, or --backbone), or pass "
    "--allow-weak-classifier (-T allow_weak_classifier=true) to go on with it labelled weak; in an experiment "
    "spec: instruments.classifier.train.prompts / .max_tokens / .backbone, or instruments.classifier.allow_weak: true"
)


class WeakClassifierError(CharbenchError):
    """The classifier's held-out macro-F1 does not clear chance."""


class ClassifierOverlapError(CharbenchError):
    """The classifier saw prompts that the evaluation would score."""


def validation_scores(
    truth: list[str], predicted: list[str], clusters: list[str], labels: list[str], seed: int = 0
) -> dict:
    """Accuracy and macro-F1 with 95% cluster-bootstrap intervals, chance levels, confusion matrix."""
    index = {label: i for i, label in enumerate(labels)}
    t = np.array([index[x] for x in truth], dtype=int)
    p = np.array([index.get(x, -1) for x in predicted], dtype=int)
    k = len(labels)
    hits = (t == p).astype(float)
    acc_lo, acc_hi = cluster_proportion_interval(hits.tolist(), clusters, seed=seed)
    draws = cluster_bootstrap(clusters, lambda r: macro_f1_codes(t[r], p[r], k), n=BOOTSTRAP_N, seed=seed)
    rng = np.random.default_rng(seed)
    chance = float(np.mean([macro_f1_codes(rng.permutation(t), p, k) for _ in range(PERMUTATIONS)]))
    macro = macro_f1_codes(t, p, k)
    lo, hi, _ = percentile_interval(draws)
    prompts = len(set(clusters))
    # a classifier that gives one label to every text carries no information; its macro-F1 is unchanged
    # by permuting the truth, so its interval sits exactly on chance and float rounding would decide
    one_label = len(set(p[p >= 0].tolist())) < 2
    clears = lo > chance + 1e-9 and not one_label
    if prompts < MIN_HELD_OUT_PROMPTS:
        reason = f"only {prompts} held-out prompts (at least {MIN_HELD_OUT_PROMPTS} are needed for an interval)"
    elif one_label:
        reason = "it gives one label to every held-out text"
    elif not clears:
        reason = "macro-F1 interval does not clear chance"
    else:
        reason = "macro-F1 interval above chance"
    confusion = np.zeros((k, k), dtype=int)
    for a, b in zip(t, p):
        if b >= 0:
            confusion[a, b] += 1
    return {
        "texts": int(len(t)),
        "prompts": prompts,
        "unit": UNIT,
        "accuracy": float(hits.mean()),
        "accuracy_lo": acc_lo,
        "accuracy_hi": acc_hi,
        "macro_f1": macro,
        "macro_f1_lo": lo,
        "macro_f1_hi": hi,
        "chance_accuracy": float(np.bincount(t, minlength=k).max() / len(t)),
        "chance_macro_f1": chance,
        "validated": bool(clears and prompts >= MIN_HELD_OUT_PROMPTS),
        "validation": reason,
        "labels": labels,
        "confusion_matrix": confusion.tolist(),
    }


def format_scores(scores: dict, title: str) -> str:
    labels = scores["labels"]
    width = max(8, *(len(x) for x in labels)) + 1
    lines = [
        f"{title}: {scores['texts']} texts from {scores['prompts']} prompts (interval unit: {scores['unit']})",
        f"  accuracy {scores['accuracy']:.3f} [{scores['accuracy_lo']:.3f}, {scores['accuracy_hi']:.3f}]  "
        f"(majority class {scores['chance_accuracy']:.3f})",
        f"  macro-F1 {scores['macro_f1']:.3f} [{scores['macro_f1_lo']:.3f}, {scores['macro_f1_hi']:.3f}]  "
        f"(chance {scores['chance_macro_f1']:.3f}): {'validated' if scores['validated'] else 'NOT validated'} "
        f"({scores['validation']})",
        "  confusion matrix (rows: true, columns: predicted)",
        " " * (width + 2) + "".join(f"{x[:7]:>8}" for x in labels),
    ]
    for label, row in zip(labels, scores["confusion_matrix"]):
        lines.append(f"  {label:<{width}}" + "".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


def _read(path: Path, name: str) -> dict:
    file = Path(path) / name
    if not file.is_file():
        return {}
    return json.loads(file.read_text())


def classifier_facts(path: str | Path) -> dict:
    """What a robustness log records about its classifier: backbone, max length, labels, sources,
    methods it was trained on and its held-out validation."""
    manifest, metrics = _read(Path(path), MANIFEST), _read(Path(path), METRICS)
    keys = ("accuracy", "accuracy_lo", "accuracy_hi", "macro_f1", "macro_f1_lo", "macro_f1_hi", "validation")
    return {
        "name": Path(path).name,
        "backbone": manifest.get("backbone"),
        "max_length": (manifest.get("config") or {}).get("max_length"),
        "methods": manifest.get("methods"),
        "none_class": manifest.get("none_class"),
        "validation": {k: metrics.get(k) for k in (*keys, "chance_macro_f1", "validated", "texts", "prompts", "unit")},
        # the methods whose replies trained it (never a scored steered or fine-tuned model), held-out by method,
        # and its score on the shipped labelled texts, written independently of every method
        "models": manifest.get("models"),  # None: an older classifier that did not record them
        "held_out_by_method": metrics.get("held_out_by_method") or {},
        "labelled": {k: (metrics.get("labelled") or {}).get(k) for k in (*keys, "chance_macro_f1", "texts", "source")}
        if metrics.get("labelled")
        else None,
    }


def check_validated(path: str | Path, allow_weak: bool = False) -> bool:
    """True when validated; a weak classifier raises unless `allow_weak` (then False)."""
    metrics = _read(Path(path), METRICS)
    if "validated" not in metrics:
        if allow_weak:
            return False
        raise WeakClassifierError(
            f"classifier {path} records no held-out validation (trained by an older charbench): retrain it "
            "with `charbench classifier train`, or pass --allow-weak-classifier"
        )
    if metrics["validated"]:
        return True
    if allow_weak:
        return False
    raise WeakClassifierError(
        f"classifier {path} is not validated on its held-out prompts ({metrics.get('validation', 'at chance')}; "
        f"macro-F1 {metrics['macro_f1']:.2f} [{metrics['macro_f1_lo']:.2f}, {metrics['macro_f1_hi']:.2f}], "
        f"chance {metrics['chance_macro_f1']:.2f}): " + WEAK_HINT
    )


def trained_prompt_shas(path: str | Path) -> set[str]:
    """Text hashes of every prompt whose replies the classifier was trained or validated on."""
    manifest = _read(Path(path), MANIFEST)
    prompts = manifest.get("prompts")
    if prompts is None:
        raise ClassifierOverlapError(
            f"classifier {path} does not list the prompts it was trained on, so overlap with this evaluation "
            "cannot be checked: retrain it with `charbench classifier train`"
        )
    return {row["sha"] for side in prompts.values() for row in side if row.get("sha")}


class ClassifierSawMethodError(CharbenchError):
    """The classifier learned the replies of the steered or fine-tuned model it is asked to score."""


SEEN_OK = ("prompted", "base", "file")  # the constitution's own expression, the none class, labelled texts


def method_key(model: str) -> str:
    """A model as the classifier's record of it: a steered model without its coefficient (the same
    vector at another strength writes in the same style)."""
    return re.sub(r"^charbench/steer/[^/]+/", "charbench/steer/*/", model)


@functools.cache
def _seen_method(path: str, model: str, stamp: int) -> str | None:
    """Cached per manifest version (`stamp`: its modification time), so a classifier retrained in
    place is read again."""
    return (_read(Path(path), MANIFEST).get("models") or {}).get(method_key(model))


def check_unseen_method(path: str | Path, model: str) -> None:
    """Refuse to score a steered or fine-tuned model whose own replies trained the classifier: it would
    be recognised by its style, not its persona. Checked by the scorers (they know the model under test
    on every path, `inspect eval` included)."""
    manifest = Path(path).resolve() / MANIFEST
    stamp = manifest.stat().st_mtime_ns if manifest.is_file() else -1
    method = _seen_method(str(manifest.parent), model, stamp)
    if method is not None and method not in SEEN_OK:
        raise ClassifierSawMethodError(
            f"classifier {path} was trained on {model}'s own replies ({method}): it cannot score that method; "
            "train one on the personas' prompted replies (`charbench classifier train` without --method, or "
            "without that model's logs in --data)"
        )


def check_no_overlap(path: str | Path, shas: set[str]) -> None:
    seen = trained_prompt_shas(path) & shas
    if seen:
        raise ClassifierOverlapError(
            f"classifier {path} was trained on {len(seen)} of the {len(shas)} prompts this evaluation would score: "
            "score other prompts (-T prompts=...) or train the classifier on the training partition"
        )


def read_labelled(path: Path) -> list[dict]:
    """Rows `{persona, text[, prompt_id]}`; a row without prompt_id is its own cluster."""
    from charbench.jsonl import read_jsonl

    rows = []
    for n, row in read_jsonl(path):
        missing = [k for k in ("persona", "text") if k not in row]
        if missing:
            raise CharbenchError(f"{path}:{n}: missing field(s) {', '.join(missing)}: rows need persona and text")
        rows.append({**row, "prompt_id": str(row.get("prompt_id", f"row-{n}"))})
    if not rows:
        raise CharbenchError(f"{path}: no labelled texts")
    return rows


def evaluate(classifier: str | Path, data: str | Path | None = None, seed: int = 0) -> tuple[dict, list[str]]:
    """Scores of a saved classifier on labelled texts, and notes on what was left out (`labelled_scores`)."""
    from bench.robustness.classifier import load_classifier, read_labels

    read_labels(classifier)  # a one-line error for a directory that is not a classifier, before loading
    return labelled_scores(load_classifier(classifier), data, seed)


def labelled_scores(clf, data: str | Path | None = None, seed: int = 0) -> tuple[dict, list[str]]:
    """Scores of a loaded classifier on labelled texts, and notes on what was left out.

    A user file with a persona the classifier does not know is an error; the shipped set is cut to
    the classifier's labels (and says so), since it covers every bundled persona and `none`. Training
    runs this on the shipped set too, so every classifier carries a figure on texts written
    independently of any method it will score.
    """
    labels = list(clf.labels)
    path = Path(data) if data else SHIPPED_SET
    if not path.is_file():
        raise CharbenchError(f"labelled file {path} does not exist")
    rows = read_labelled(path)
    notes = []
    unknown = sorted({r["persona"] for r in rows} - set(labels))
    if unknown and data:
        raise CharbenchError(
            f"{path}: persona(s) {', '.join(unknown)} are not among the classifier's labels ({', '.join(labels)}): "
            "remove those rows or train a classifier that includes them"
        )
    if unknown:
        rows = [r for r in rows if r["persona"] in labels]
        notes.append(f"left out {', '.join(unknown)} (not among the classifier's labels)")
    if not rows:
        raise CharbenchError(f"{path}: none of its personas are among the classifier's labels ({', '.join(labels)})")
    probs = clf.predict([r["text"] for r in rows])
    predicted = [max(p, key=p.get) for p in probs]
    present = [x for x in labels if any(r["persona"] == x for r in rows)]
    scores = validation_scores([r["persona"] for r in rows], predicted, [r["prompt_id"] for r in rows], present, seed)
    missing = sorted(set(labels) - set(present))
    if missing:
        notes.append(f"no texts for label(s) {', '.join(missing)}: scored over the {len(present)} labels present")
    scores["source"] = path.name if not data else str(data)
    scores["notes"] = notes
    return scores, notes


def by_method(truth: list[str], predicted: list[str], clusters: list[str], methods: list[str], seed: int = 0) -> dict:
    """Held-out accuracy per method with its interval (prompts resampled) and n: a classifier that
    only reads one method's style shows it here, and a method it never saw reads as such."""
    out = {}
    for method in sorted(set(methods)):
        rows = [i for i, m in enumerate(methods) if m == method]
        hits = [float(truth[i] == predicted[i]) for i in rows]
        lo, hi = cluster_proportion_interval(hits, [clusters[i] for i in rows], seed=seed)
        out[method] = {
            "accuracy": float(np.mean(hits)),
            "accuracy_lo": lo,
            "accuracy_hi": hi,
            "texts": len(rows),
            "prompts": len({clusters[i] for i in rows}),
        }
    return out


def classifier_for(persona: str, classifier: str, allow_weak: bool = False) -> tuple[list[str], bool]:
    """(labels, validated) of a classifier a task will score `persona` with: one that does not know the
    persona, or is weak without `allow_weak`, is a one-line error before any generation."""
    from bench.robustness.classifier import read_labels

    labels = read_labels(classifier)
    if persona not in labels:
        raise CharbenchError(
            f"persona '{persona}' is not among the classifier's labels ({', '.join(labels)}): "
            f"train a classifier that includes it"
        )
    return labels, check_validated(classifier, allow_weak=allow_weak)
