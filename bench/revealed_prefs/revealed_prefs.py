"""Revealed-preference trait tournament: which traits does the model choose to express?

inspect eval bench/revealed_prefs --model charbench/smollm2-135m -T n=200 [--model-role grader=...]
"""

from inspect_ai import Task, task

from bench.models.generation import reference_generate_config, row_seed
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
    design_null: bool = True,
    replicate: int = 0,
    targets: str | None = None,
    target_share: float = 0.0,
) -> Task:
    """`seed` fixes the design (matchups, prompts, judge orders, null re-pairing) and, with `replicate`
    0, the replies' seeds; `replicate` k > 0 reruns the same design with independent replies (the
    test-retest ceiling of a comparison). `design_null` judges every reply once more on another
    matchup's traits: the null of this judge on this design (bench/revealed_prefs/validity.py).
    `targets` (comma-separated trait words) with `target_share` > 0 is a planned design: that share of
    matchups pits a target trait against the whole vocabulary (`dataset.draw_planned`)."""
    dataset, facts = tournament_dataset(
        n=n, seed=seed, condition=condition, traits=traits, prompts=prompts, targets=targets, target_share=target_share
    )
    run_seed = seed if replicate == 0 else row_seed(seed, f"replicate:{replicate}")
    return Task(
        dataset=dataset,
        solver=seeded_generate(),  # each reply seeded from (run seed, sample id, epoch): bench/seeding.py
        scorer=trait_judge(judge=judge, design_null=design_null),
        config=reference_generate_config(max_tokens, run_seed),
        metadata={"seed": seed, "replicate": replicate, "run_seed": run_seed, "condition": condition, **facts},
    )
