"""Drift: does the persona hold over a long conversation? Scored per turn, in text and in activations.

inspect eval bench/drift --model M -T persona=P -T classifier=DIR [-T turns=8] [-T vector=FILE]
    [--model-role user=MODEL]   # who plays the user (default: M's base model, no persona)

Each sample is one conversation opened by a prompt from the evaluation partition of our prompt set;
the model under test answers every turn with the full history. Per turn: the classifier's probability
of P, and with a persona vector (`-T vector=`, or a steered model's own) on a `charbench/` model, the
z-scored projection of the turn's residual stream on it (bench/drift/activations.py).
"""

from inspect_ai import Task, task

from bench.coherence.dataset import prompt_dataset
from bench.drift.metrics import THRESHOLD_FRACTION
from bench.drift.scorers import drift_scorer
from bench.drift.solvers import conversation
from bench.models.generation import reference_generate_config
from bench.robustness.validation import check_no_overlap, classifier_facts, classifier_for
from bench.stats import BOOTSTRAP_N
from charbench.errors import CharbenchError
from personas import load_persona


@task(name="bench/drift")
def drift(
    persona: str,
    classifier: str,
    turns: int = 8,
    n: int | None = 20,
    seed: int = 0,
    max_tokens: int = 256,
    user_max_tokens: int = 96,
    vector: str | None = None,
    prompts: str = "general",
    threshold: float = THRESHOLD_FRACTION,
    allow_weak_classifier: bool = False,
) -> Task:
    load_persona(persona)  # an unknown persona fails here, before any generation
    if int(turns) < 1:
        raise CharbenchError(f"turns={turns}: a conversation needs at least 1 turn (-T turns=8 is the default)")
    labels, validated = classifier_for(persona, classifier, allow_weak=allow_weak_classifier)
    vector_facts = check_vector(vector, persona) if vector else None
    dataset, facts = prompt_dataset(prompts, n, seed, name="drift")
    check_no_overlap(classifier, {s.metadata["prompt_sha"] for s in dataset})
    return Task(
        dataset=dataset,
        solver=conversation(turns=int(turns), user_max_tokens=user_max_tokens, seed=seed),
        scorer=drift_scorer(persona, classifier, turns=int(turns), vector=vector, fraction=threshold),
        config=reference_generate_config(max_tokens, seed),
        metadata={
            "persona": persona,
            "classifier": classifier_facts(classifier) | {"status": "validated" if validated else "weak"},
            "labels": labels,
            "vector": vector_facts,
            "turns": int(turns),
            "n": len(dataset),
            "seed": seed,
            "unit": "conversation",
            "bootstrap": BOOTSTRAP_N,
            "threshold_fraction": threshold,
            **facts,
        },
    )


def check_vector(path: str, persona: str) -> dict:
    """A readable vector file for `persona` (a SteeringError names the file and the fix otherwise)."""
    from bench.models.steering import SteeringVector

    vector = SteeringVector.load(path)
    own = vector.metadata.get("persona")
    if own and own != persona:
        raise CharbenchError(
            f"vector {path} is the persona vector of '{own}', not '{persona}': pass -T vector= a vector "
            f"extracted for {persona} (charbench steer extract --persona {persona})"
        )
    return {"path": str(path), "persona": own, "base_model": vector.base_model, "layers": vector.layers}
