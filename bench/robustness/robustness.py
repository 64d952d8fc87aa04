"""Robustness: does the model's output read as persona P to the persona classifier, and does it still
when the user asks it to drop the act?

inspect eval bench/robustness --model M -T persona=P -T classifier=DIR [-T split=both]
"""

from inspect_ai import Task, task
from inspect_ai.solver import generate

from bench.models.generation import reference_generate_config
from bench.robustness.classifier import read_labels
from bench.robustness.dataset import robustness_dataset
from bench.robustness.scorers import persona_classifier
from charbench.errors import CharbenchError


@task(name="bench/robustness")
def robustness(
    persona: str,
    classifier: str,
    split: str = "both",
    prompts: str = "default",
    n: int | None = 50,
    seed: int = 0,
    max_tokens: int = 512,
) -> Task:
    labels = read_labels(classifier)
    if persona not in labels:
        raise CharbenchError(
            f"persona '{persona}' is not among the classifier's labels ({', '.join(labels)}): "
            f"train a classifier that includes it"
        )
    dataset, facts = robustness_dataset(split, prompts, n, seed)
    return Task(
        dataset=dataset,
        solver=generate(),
        scorer=persona_classifier(persona=persona, classifier=classifier),
        config=reference_generate_config(max_tokens, seed),
        metadata={"persona": persona, "classifier": classifier, "labels": labels, "seed": seed, **facts},
    )
