"""Robustness: does the model's output read as persona P to the persona classifier, does it still when
the user asks it to drop the act, and does it come back after a first reply written out of character?

inspect eval bench/robustness --model M -T persona=P -T classifier=DIR [-T split=all]
    [--model-role prefill=MODEL]   # who writes turn 1 of the multiturn split (default: M's base model)

The classifier must be validated (held-out macro-F1 above chance; `-T allow_weak_classifier=true`
accepts a weak one, recorded in the log) and must never have seen the prompts scored here.
"""

from inspect_ai import Task, task

from bench.models.generation import reference_generate_config
from bench.robustness.dataset import robustness_dataset
from bench.robustness.scorers import persona_classifier
from bench.robustness.solvers import prefill_turn
from bench.robustness.validation import check_no_overlap, classifier_facts, classifier_for
from bench.seeding import seeded_generate


@task(name="bench/robustness")
def robustness(
    persona: str,
    classifier: str,
    split: str = "all",
    prompts: str = "default",
    n: int | None = 50,
    seed: int = 0,
    max_tokens: int = 512,
    allow_weak_classifier: bool = False,
) -> Task:
    labels, validated = classifier_for(persona, classifier, allow_weak=allow_weak_classifier)
    dataset, facts = robustness_dataset(split, prompts, n, seed)
    check_no_overlap(classifier, {s.metadata["prompt_sha"] for s in dataset})
    return Task(
        dataset=dataset,
        solver=[prefill_turn(max_tokens=max_tokens, seed=seed), seeded_generate()],
        scorer=persona_classifier(persona=persona, classifier=classifier),
        config=reference_generate_config(max_tokens, seed),
        metadata={
            "persona": persona,
            "classifier": classifier_facts(classifier) | {"status": "validated" if validated else "weak"},
            "labels": labels,
            "seed": seed,
            "split": split,
            **facts,
        },
    )
