"""Classifier scoring of each reply, and accuracy / probability for the target persona per split."""

from __future__ import annotations

import anyio
import numpy as np
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.robustness.classifier import load_classifier
from bench.stats import mean_se, wilson_interval


@metric
def robustness_metrics():
    """Accuracy for the persona (Wilson 95%) and mean probability, on the normal split, per adversarial
    instruction (`adv/<id>_...`), and mean +- SE over the instructions."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        meta = [s.score.metadata for s in scores if s.score.metadata]
        if not meta:
            return {}
        out: dict[str, float] = {
            "empty_responses": float(sum(m["empty"] for m in meta)),
            "truncated": float(sum(m["truncated"] for m in meta)),
        }
        normal = [m for m in meta if m["split"] == "normal"]
        if normal:
            hits = sum(m["correct"] for m in normal)
            lo, hi = wilson_interval(hits, len(normal))
            out.update(
                normal_accuracy=hits / len(normal),
                normal_accuracy_lo=lo,
                normal_accuracy_hi=hi,
                normal_prob=float(np.mean([m["prob_persona"] for m in normal])),
                normal_n=float(len(normal)),
            )
        instructions = sorted({m["instruction"] for m in meta if m["split"] == "adversarial"})
        accs, probs = [], []
        for key in instructions:
            rows = [m for m in meta if m["instruction"] == key]
            acc = sum(m["correct"] for m in rows) / len(rows)
            prob = float(np.mean([m["prob_persona"] for m in rows]))
            out[f"adv/{key}_accuracy"] = acc
            out[f"adv/{key}_prob"] = prob
            accs.append(acc)
            probs.append(prob)
        if instructions:
            acc_mean, acc_se = mean_se(accs)
            prob_mean, prob_se = mean_se(probs)
            out.update(
                adversarial_accuracy=acc_mean,
                adversarial_accuracy_se=acc_se,
                adversarial_prob=prob_mean,
                adversarial_prob_se=prob_se,
                adversarial_n=float(sum(m["split"] == "adversarial" for m in meta)),
                instructions=float(len(instructions)),
            )
        return out

    return compute


@scorer(metrics=[robustness_metrics()])
def persona_classifier(persona: str, classifier: str):
    """Label each reply with the persona classifier; keep its label and its probability for `persona`."""

    async def score(state: TaskState, target: Target) -> Score:
        text = state.output.completion if state.output else ""
        clf = load_classifier(classifier)
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
                "classifier": clf.path,
            },
        )

    return score
