"""Per-turn persona scores of each conversation (text and activations) and the drift metrics.

Every per-turn number is kept in the score's metadata (`text`, `activation`, `activation_raw`,
`invalid`), so a report or the leaderboard can recompute the curves from the log alone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import numpy as np
from inspect_ai.model import get_model
from inspect_ai.scorer import Score, Target, metric, scorer
from inspect_ai.scorer._metric import SampleScore
from inspect_ai.solver import TaskState

from bench.drift.activations import activation_access, base_reference, conversation_projections, vector_matches
from bench.drift.metrics import THRESHOLD_FRACTION, curve_summary
from bench.robustness.classifier import load_classifier
from bench.robustness.validation import check_unseen_method


@metric
def drift_metrics(seed: int = 0):
    """`text_*` from the classifier, `act_*` from the activation z-scores (only where present): per-turn
    means, slope, AUC and threshold turn with 95% intervals over conversations (`bench.drift.metrics`);
    `invalid/<reason>` turns and `activation_absent/<reason>` conversations are counted."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        meta = [s.score.metadata for s in scores if s.score.metadata]
        if not meta:
            return {}
        turns = int(max(m["turns"] for m in meta))
        return drift_summary(meta, turns, meta[0].get("threshold_fraction", THRESHOLD_FRACTION), seed)

    return compute


def drift_summary(meta: list[dict], turns: int, fraction: float = THRESHOLD_FRACTION, seed: int = 0) -> dict:
    """The metrics from the per-sample score metadata (what `charbench drift report` also calls)."""
    ids = [str(m["conversation"]) for m in meta]
    out: dict[str, float] = {"conversations": float(len(meta)), "turns": float(turns)}
    out.update(curve_summary([m["text"] for m in meta], ids, turns, "text_", fraction, seed=seed))
    present = [m for m in meta if m.get("activation") is not None]
    if present:
        ids_present = [str(m["conversation"]) for m in present]
        out.update(curve_summary([m["activation"] for m in present], ids_present, turns, "act_", fraction, seed=seed))
        ref = present[0]["activation_reference"]
        out.update(act_reference_mean=ref["mean"], act_reference_sd=ref["sd"])
        if ref.get("persona_z") is not None:
            out["act_reference_persona_z"] = ref["persona_z"]
    invalid = Counter(reason for m in meta for reason in m["invalid"] if reason)
    out.update({f"invalid/{reason}": float(k) for reason, k in sorted(invalid.items())})
    absent = Counter(m["activation_absent"] for m in meta if m.get("activation_absent"))
    out.update({f"activation_absent/{reason}": float(k) for reason, k in sorted(absent.items())})
    out["user_fallbacks"] = float(sum(m.get("user_fallbacks", 0) for m in meta))
    return {k: float(v) for k, v in out.items()}


def turn_reasons(replies: list[str], truncated: list[bool], turns: int) -> list[str | None]:
    """Why each turn is invalid or flagged: `empty` (not scored), `truncated` (scored, cut at max
    tokens), `missing` (the conversation ended before this turn); None for a clean turn."""
    reasons: list[str | None] = []
    for t in range(turns):
        if t >= len(replies):
            reasons.append("missing")
        elif not replies[t].strip():
            reasons.append("empty")
        elif t < len(truncated) and truncated[t]:
            reasons.append("truncated")
        else:
            reasons.append(None)
    return reasons


@scorer(metrics=[drift_metrics()])
def drift_scorer(
    persona: str, classifier: str, turns: int, vector: str | None = None, fraction: float = THRESHOLD_FRACTION
):
    """Each assistant turn: the classifier's probability of `persona`; with a persona vector and a
    model whose activations are reachable, the turn's z-scored projection too (else absent, with why)."""

    async def score(state: TaskState, target: Target) -> Score:
        check_unseen_method(classifier, str(state.model))
        messages = [{"role": m.role, "content": m.text} for m in state.messages if m.role in ("user", "assistant")]
        replies = [m["content"] for m in messages if m["role"] == "assistant"]
        clf = await anyio.to_thread.run_sync(load_classifier, classifier)
        scored = [r for r in replies if r.strip()]
        probs = iter((await anyio.to_thread.run_sync(clf.predict, scored)) if scored else [])
        # an empty reply expresses no persona: it scores the floor (0), counted as `empty` in `invalid`;
        # leaving it out of the means would let a persona that collapses into silence look better
        text = [next(probs)[persona] if r.strip() else 0.0 for r in replies]
        activation = raw = reference = None
        model = get_model()  # the model under test
        absent, vector_path = _activation_plan(vector, model)
        if vector_path is not None:
            absent, raw, reference = await anyio.to_thread.run_sync(_activations, vector_path, messages, model)
            if raw is not None:
                activation = [None if x is None else (x - reference["mean"]) / reference["sd"] for x in raw]
        valid = [x for x in text if x is not None]
        return Score(
            value=float(np.mean(valid)) if valid else 0.0,
            explanation=f"p({persona}) per turn: " + ", ".join("-" if x is None else f"{x:.2f}" for x in text),
            metadata={
                "conversation": state.sample_id,
                "prompt_id": state.metadata.get("prompt_id"),
                "persona": persona,
                "turns": turns,
                "threshold_fraction": fraction,
                "text": text,
                "activation": activation,
                "activation_raw": raw,
                "activation_reference": reference,
                "activation_absent": absent,
                "invalid": turn_reasons(replies, state.metadata.get("truncated_turns", []), turns),
                "user_fallbacks": state.metadata.get("user_fallbacks", 0),
                "user_model": state.metadata.get("user_model"),
            },
        )

    return score


def _activation_plan(vector: str | None, model: Any) -> tuple[str | None, str | None]:
    """(reason absent, None) or (None, the vector file): the task's vector, else a steered model's own."""
    if vector is not None:
        return None, vector
    api, _ = activation_access(model)
    own = getattr(api, "_steering", None) and api.spec.vector if api is not None else None
    return (None, own) if own else ("no persona vector", None)


def _activations(vector_path: str, messages: list[dict], model: Any) -> tuple[str | None, list | None, dict | None]:
    from bench.models.steering import SteeringVector

    api, reason = activation_access(model)
    if api is None:
        return reason, None, None
    vector = SteeringVector.load(vector_path)
    if not vector_matches(api, vector):
        return f"vector extracted on another base ({vector.base_model})", None, None
    loaded = api.loaded
    vector.check_compatible(loaded)
    reference = base_reference(loaded, vector, vector_path) | {"vector": str(vector_path)}
    return None, conversation_projections(api, vector, messages), reference
