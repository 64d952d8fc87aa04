"""Capabilities: does a persona method cost general capability? Multiple choice, scored the same way
for every method.

inspect eval bench/capabilities --model M                  # the reference's five benchmarks (HF datasets)
inspect eval bench/capabilities --model M -T tasks=smoke   # the bundled offline smoke set
inspect eval bench/capabilities --model M -T tasks=arc_challenge,mmlu -T limit_per_task=200

Generation-based multiple choice (Inspect's `multiple_choice()` + `choice()`), not log-likelihood
scoring: it works for every model Inspect can call, including prompted and steered ones through an
API, at the price of counting "did not answer in the format" as wrong (reported per benchmark).
All benchmarks run in one task so one log carries every accuracy: each sample keeps its benchmark's
own inspect_evals solver (prompt template, few-shot examples) and is dispatched to it.
"""

from __future__ import annotations

import random

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.solver import Generate, Solver, TaskState, multiple_choice, solver

from bench.capabilities.scorers import capability_choice
from bench.capabilities.smoke import SMOKE_FILE, load_smoke
from bench.capabilities.standard import STANDARD, require_cached
from charbench.errors import CharbenchError

SMOKE = "smoke"


def parse_tasks(tasks: str | list[str]) -> list[str]:
    """'standard' = the reference's five; otherwise a comma list of names (one-line error on a typo)."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    out: list[str] = []
    for name in names:
        expanded = list(STANDARD) if name == "standard" else [name]
        for item in expanded:
            if item not in STANDARD and item != SMOKE:
                known = ", ".join(["standard", SMOKE, *STANDARD])
                raise CharbenchError(f"bench/capabilities: unknown capability task '{item}'; known: {known}")
            if item not in out:
                out.append(item)
    if not out:
        raise CharbenchError("bench/capabilities: -T tasks=... is empty; e.g. -T tasks=smoke or -T tasks=standard")
    return out


def _subset(samples: list[Sample], limit: int | None, rng: random.Random) -> list[Sample]:
    """A seeded random subset in dataset order (MMLU is sorted by subject: the first N would be one subject)."""
    if limit is None or limit >= len(samples):
        return samples
    keep = sorted(rng.sample(range(len(samples)), limit))
    return [samples[i] for i in keep]


@solver
def per_benchmark(solvers: dict[str, Solver]) -> Solver:
    """Run each sample through its own benchmark's solver."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return await solvers[state.metadata["capability_task"]](state, generate)

    return solve


@task(name="bench/capabilities")
def capabilities(
    tasks: str | list[str] = "standard",
    limit_per_task: int | None = None,
    seed: int = 0,
    max_tokens: int = 64,
) -> Task:
    names = parse_tasks(tasks)
    require_cached([n for n in names if n != SMOKE])  # fails fast, one line, before any download retries
    rng = random.Random(seed)
    samples: list[Sample] = []
    solvers: dict[str, Solver] = {}
    facts: dict[str, dict] = {}
    for name in names:
        if name == SMOKE:
            source = list(load_smoke())
            solvers[name] = multiple_choice()
            facts[name] = {"shots": 0, "reference_shots": None, "source": SMOKE_FILE.name, "kind": "smoke check"}
        else:
            bench_task = STANDARD[name].build()
            source = list(bench_task.dataset)
            solvers[name] = bench_task.solver
            b = STANDARD[name]
            facts[name] = {"shots": b.shots, "reference_shots": b.reference_shots, "note": b.note, "kind": "benchmark"}
        chosen = _subset(source, limit_per_task, rng)
        facts[name]["available"] = len(source)
        facts[name]["used"] = len(chosen)
        for sample in chosen:
            sample.metadata = {**(sample.metadata or {}), "capability_task": name}
            sample.id = f"{name}/{sample.id}"
            samples.append(sample)
    return Task(
        dataset=MemoryDataset(samples, name="capabilities-" + "+".join(names)),
        solver=per_benchmark(solvers),
        scorer=capability_choice(),
        config=GenerateConfig(temperature=0.0, max_tokens=max_tokens, seed=seed),
        metadata={"seed": seed, "limit_per_task": limit_per_task, "tasks": names, "benchmarks": facts},
    )
