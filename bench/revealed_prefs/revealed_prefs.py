"""Revealed-preference trait tournament: which traits does the model choose to express?

inspect eval bench/revealed_prefs --model charbench/smollm2-135m -T n=200 [--model-role grader=...]
"""

from inspect_ai import Task, task

from bench.models.generation import reference_generate_config
from bench.revealed_prefs.dataset import tournament_dataset
from bench.revealed_prefs.scorers import trait_judge
from bench.seeding import seeded_generate


@task(name="bench/revealed_prefs")
def revealed_prefs(
    n: int = 2000,
    seed: int = 0,
    condition: str = "like",
    traits: str | None = None,
    prompts: str = "general",
    judge: str = "auto",
    max_tokens: int = 1024,
) -> Task:
    dataset, facts = tournament_dataset(n=n, seed=seed, condition=condition, traits=traits, prompts=prompts)
    return Task(
        dataset=dataset,
        solver=seeded_generate(),  # each reply seeded from (seed, sample id, epoch): bench/seeding.py
        scorer=trait_judge(judge=judge),
        config=reference_generate_config(max_tokens, seed),
        metadata={"seed": seed, "condition": condition, **facts},
    )
