"""Reading jsonl files, in one place: a bad line is a one-line error naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

from charbench.errors import CharbenchError


def read_jsonl(path: str | Path, *, missing_ok: bool = False) -> list[tuple[int, dict]]:
    """(line number, row) for every non-blank line; a missing file is [] only when `missing_ok`."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return []
        raise CharbenchError(f"{path} does not exist")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError:
                raise CharbenchError(f"{path}:{n}: not valid JSON: fix or remove the line") from None
    return rows
