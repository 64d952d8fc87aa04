"""Coherence: is the model's persona coherent and realistic next to a baseline method's?

inspect eval bench/coherence --model M --model-role baseline=B [--model-role grader=J] -T persona=P
"""

from inspect_ai import Task, task
from inspect_ai.model import model_roles
from inspect_ai.model._model import active_model

from bench.coherence.dataset import prompt_dataset
from bench.coherence.scorers import pairwise_judge
from bench.coherence.solvers import NO_BASELINE, baseline_answer
from bench.models.generation import reference_generate_config
from bench.seeding import seeded_generate
from charbench.errors import CharbenchError
from personas import load_persona


def baseline_bound() -> bool:
    """Whether `--model-role baseline=...` was given (Inspect binds roles before building tasks)."""
    if active_model() is None:  # built outside an eval (e.g. in a script): the solver checks at run time
        return True
    return "baseline" in model_roles()


@task(name="bench/coherence")
def coherence(
    persona: str,
    prompts: str = "default",
    n: int | None = 100,
    seed: int = 0,
    baseline_log: str | None = None,
    max_tokens: int = 512,
) -> Task:
    load_persona(persona)  # an unknown persona fails here, before any generation
    if baseline_log is None and not baseline_bound():
        raise CharbenchError(NO_BASELINE)
    dataset, facts = prompt_dataset(prompts, n, seed, name="coherence")
    return Task(
        dataset=dataset,
        solver=[seeded_generate(), baseline_answer(baseline_log=baseline_log, max_tokens=max_tokens, seed=seed)],
        scorer=pairwise_judge(persona),
        config=reference_generate_config(max_tokens, seed),
        metadata={"persona": persona, "seed": seed, **facts},
    )


@task(name="bench/responses")
def responses(
    prompts: str = "default", n: int | None = 100, seed: int = 0, max_tokens: int = 512, partition: str = "eval"
) -> Task:
    """Just the model's answers: a coherence baseline generated once (`partition=eval`), or persona
    classifier training data (`partition=train`, the bundled prompts no evaluation uses)."""
    dataset, facts = prompt_dataset(prompts, n, seed, name="responses", partition=partition)
    return Task(
        dataset=dataset,
        solver=seeded_generate(),
        config=reference_generate_config(max_tokens, seed),
        metadata={"seed": seed, **facts},
    )
