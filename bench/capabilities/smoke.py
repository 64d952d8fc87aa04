"""The bundled offline multiple-choice smoke set: 120 questions we wrote (general knowledge, reasoning,
reading), 30 correct answers in each position.

It exists so that `make test` and the embedded model exercise the same solver and scorer as the
standard benchmarks without any download. It is a smoke check, not a benchmark: the questions are
easy, few and unvalidated by anyone but us, so its accuracies say "the pipeline and the model's
answer format work", not "the model is capable".
"""

from __future__ import annotations

import json
from pathlib import Path

from inspect_ai.dataset import MemoryDataset, Sample

from charbench.errors import CharbenchError

SMOKE_FILE = Path(__file__).parent / "data" / "smoke-mc.jsonl"
REQUIRED = ("id", "category", "question", "choices", "answer")


def load_smoke(path: str | Path = SMOKE_FILE) -> MemoryDataset:
    """The smoke questions as Inspect samples (target = the answer letter), validated line by line."""
    path = Path(path)
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CharbenchError(f"{where}: not valid JSON ({err.msg}); one question object per line") from None
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise CharbenchError(
                f"{where}: missing field(s) {', '.join(missing)}; each line needs {', '.join(REQUIRED)}"
            )
        letters = "ABCDEFGHIJ"[: len(row["choices"])]
        if len(row["choices"]) < 2 or row["answer"] not in letters:
            raise CharbenchError(
                f"{where}: 'answer' must be one of {', '.join(letters)} for {len(row['choices'])} choices"
            )
        samples.append(
            Sample(
                id=row["id"],
                input=row["question"],
                choices=row["choices"],
                target=row["answer"],
                metadata={"category": row["category"]},
            )
        )
    return MemoryDataset(samples, name="charbench-smoke-mc", location=str(path))
