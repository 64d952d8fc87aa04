"""The reference's capability benchmarks, through inspect_evals' own tasks (their prompts, datasets,
revisions and few-shot code), so our numbers are the numbers anyone running inspect_evals gets.

inspect_evals loads Hugging Face datasets when a task is built and retries a missing dataset for
minutes (its back-off policy waits a minute between tries). So before building a task we ask
`datasets` ourselves whether the pinned dataset revision loads, and a miss becomes one line saying
which dataset is missing and how to fetch it on a connected machine (`HF_HUB_OFFLINE=1`, which the
Makefile sets, makes that check take about a second).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from inspect_ai import Task

from charbench.errors import CharbenchError


@dataclass(frozen=True)
class Benchmark:
    """One standard benchmark: how inspect_evals builds it and which dataset it needs."""

    name: str
    module: str  # inspect_evals module holding the task function and the dataset constants
    function: str
    kwargs: tuple[tuple[str, object], ...]
    datasets: tuple[tuple[str, str | None, str], ...]  # (path, config, revision constant name)
    reference_shots: int
    shots: int
    note: str = ""

    def build(self) -> Task:
        module = importlib.import_module(self.module)
        builder: Callable[..., Task] = getattr(module, self.function)
        return builder(**dict(self.kwargs))

    def required(self) -> list[tuple[str, str | None, str]]:
        """(dataset path, config, revision) as the inspect_evals module pins them."""
        module = importlib.import_module(self.module)
        return [(path, config, getattr(module, rev)) for path, config, rev in self.datasets]


STANDARD: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "truthfulqa",
            "inspect_evals.truthfulqa.truthfulqa",
            "truthfulqa",
            (("target", "mc1"),),
            (("truthfulqa/truthful_qa", "multiple_choice", "TRUTHFULQA_DATASET_REVISION"),),
            reference_shots=0,
            shots=0,
            note="mc1 (one correct answer)",
        ),
        Benchmark(
            "arc_challenge",
            "inspect_evals.arc.arc",
            "arc_challenge",
            (),
            (("allenai/ai2_arc", "ARC-Challenge", "ARC_DATASET_REVISION"),),
            reference_shots=25,
            shots=0,
            note="inspect_evals has no few-shot option for ARC",
        ),
        Benchmark(
            "hellaswag",
            "inspect_evals.hellaswag.hellaswag",
            "hellaswag",
            (),
            (("Rowan/hellaswag", None, "HELLASWAG_DATASET_REVISION"),),
            reference_shots=10,
            shots=0,
            note="inspect_evals has no few-shot option for HellaSwag",
        ),
        Benchmark(
            "winogrande",
            "inspect_evals.winogrande.winogrande",
            "winogrande",
            (("fewshot", 5),),
            (("allenai/winogrande", "winogrande_xl", "WINOGRANDE_DATASET_REVISION"),),
            reference_shots=5,
            shots=5,
        ),
        Benchmark(
            "mmlu",
            "inspect_evals.mmlu.mmlu",
            "mmlu_5_shot",
            (),
            (("cais/mmlu", "all", "MMLU_REVISION"),),
            reference_shots=5,
            shots=5,
        ),
    )
}


def missing(benchmark: Benchmark) -> list[str]:
    """The datasets of `benchmark` that `datasets` cannot load from here (offline: not in the cache)."""
    import datasets

    out = []
    for path, config, revision in benchmark.required():
        try:
            datasets.load_dataset_builder(path, config, revision=revision)
        except Exception:  # offline: ConnectionError; a broken cache: anything datasets raises
            out.append(path + (f" ({config})" if config else ""))
    return out


def require_cached(names: list[str]) -> None:
    """One line naming every missing dataset and the command that fetches them, before any work."""
    gaps = {name: missing(STANDARD[name]) for name in names}
    gaps = {name: what for name, what in gaps.items() if what}
    if gaps:
        listed = "; ".join(f"{name}: {', '.join(what)}" for name, what in gaps.items())
        raise CharbenchError(
            f"bench/capabilities: not in the local Hugging Face cache: {listed}. On a connected machine run "
            f"`charbench capabilities fetch {','.join(gaps)}` and copy its HF cache (~/.cache/huggingface) "
            "here, or use -T tasks=smoke"
        )


def fetch(names: list[str]) -> None:
    """Download (into the HF cache) what the named benchmarks need: run on a connected machine."""
    for name in names:
        STANDARD[name].build()
