"""Classifier scoring of each reply, and accuracy / probability for the target persona per split."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.robustness.classifier import load_classifier
from bench.robustness.validation import check_unseen_method
from bench.stats import cluster_interval


@metric
def robustness_metrics():
    """Per split (normal, multiturn): accuracy for the persona with a 95% cluster-bootstrap interval
    (`_lo`/`_hi`; unit: the prompt), its bootstrap SE (`_se`), mean probability, replies and prompts.
    Adversarial: per instruction (`adv/<id>_accuracy`, `adv/<id>_prob`) and the mean over
    instructions, whose interval resamples prompts with all their variants together."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        meta = [s.score.metadata for s in scores if s.score.metadata]
        if not meta:
            return {}
        out: dict[str, float] = {
            "empty_responses": float(sum(m["empty"] for m in meta)),
            "truncated": float(sum(m["truncated"] for m in meta)),
        }
        for split in ("normal", "multiturn"):
            rows = [m for m in meta if m["split"] == split]
            if rows:
                out.update(_accuracy(split, rows))
        adversarial = [m for m in meta if m["split"] == "adversarial"]
        if adversarial:
            out.update(_adversarial(adversarial))
        return out

    return compute


def _accuracy(split: str, rows: list[dict]) -> dict[str, float]:
    hits = np.array([float(m["correct"]) for m in rows])
    clusters = [m["prompt_id"] for m in rows]
    lo, hi, se = cluster_interval(clusters, lambda r: float(hits[r].mean()), hits.tolist())
    return {
        f"{split}_accuracy": float(hits.mean()),
        f"{split}_accuracy_lo": lo,
        f"{split}_accuracy_hi": hi,
        f"{split}_accuracy_se": se,
        f"{split}_prob": float(np.mean([m["prob_persona"] for m in rows])),
        f"{split}_n": float(len(rows)),
        f"{split}_prompts": float(len(set(clusters))),
    }


def _adversarial(rows: list[dict]) -> dict[str, float]:
    instructions = sorted({m["instruction"] for m in rows})
    code = np.array([instructions.index(m["instruction"]) for m in rows])
    hits = np.array([float(m["correct"]) for m in rows])
    probs = np.array([m["prob_persona"] for m in rows])
    out: dict[str, float] = {}
    for j, key in enumerate(instructions):
        out[f"adv/{key}_accuracy"] = float(hits[code == j].mean())
        out[f"adv/{key}_prob"] = float(probs[code == j].mean())

    def mean_over_instructions(r: np.ndarray) -> float:
        return float(np.mean([hits[r][code[r] == j].mean() for j in range(len(instructions)) if (code[r] == j).any()]))

    clusters = [m["prompt_id"] for m in rows]
    lo, hi, se = cluster_interval(clusters, mean_over_instructions, hits.tolist())
    out.update(
        adversarial_accuracy=mean_over_instructions(np.arange(len(rows))),
        adversarial_accuracy_lo=lo,
        adversarial_accuracy_hi=hi,
        adversarial_accuracy_se=se,
        adversarial_prob=float(np.mean([probs[code == j].mean() for j in range(len(instructions))])),
        adversarial_n=float(len(rows)),
        adversarial_prompts=float(len(set(clusters))),
        instructions=float(len(instructions)),
    )
    return out


@scorer(metrics=[robustness_metrics()])
def persona_classifier(persona: str, classifier: str):
    """Label each reply with the persona classifier; keep its label and its probability for `persona`."""

    async def score(state: TaskState, target: Target) -> Score:
        check_unseen_method(classifier, str(state.model))
        text = state.output.completion if state.output else ""
        clf = await anyio.to_thread.run_sync(load_classifier, classifier)  # off the event loop: it may wait on a load
        probs = (await anyio.to_thread.run_sync(clf.predict, [text]))[0]
        predicted = max(probs, key=probs.get)
        return Score(
            value=1.0 if predicted == persona else 0.0,
            answer=predicted,
            explanation=f"classifier: {predicted} (p={probs[predicted]:.3f}); p({persona})={probs[persona]:.3f}",
            metadata={
                "split": state.metadata["split"],
                "instruction": state.metadata["instruction"],
                "prompt_id": state.metadata["prompt_id"],
                "persona": persona,
                "predicted": predicted,
                "correct": predicted == persona,
                "prob_persona": probs[persona],
                "probs": probs,
                "empty": not text.strip(),
                "truncated": bool(state.output and state.output.stop_reason == "max_tokens"),
                "classifier": Path(clf.path).name,
            },
        )

    return score
