"""Where charbench keeps things on disk, in one place."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache for converted weights and derived artefacts: `$CHARBENCH_CACHE` or ~/.cache/charbench."""
    root = os.environ.get("CHARBENCH_CACHE") or os.path.join(Path.home(), ".cache", "charbench")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """`results/` in the repository (the default Inspect log dir is `results/logs`)."""
    return Path(os.environ.get("CHARBENCH_RESULTS", REPO_ROOT / "results"))


def slug(text: str, length: int = 80) -> str:
    """A file-name-safe form of a model name or path (its last `length` characters), for result paths."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[-length:]


def portable(path: str | Path) -> str:
    """`path` relative to the working directory when it lies beneath it, else unchanged.

    What the suite passes to tasks and model names ends up in every log; a checkout's own files
    (vectors, classifiers, trait lists under `results/` or `bench/`) then read `results/vectors/x`
    instead of this machine's absolute path, so committed logs and leaderboards carry none. The
    relative form resolves the same way as long as runs start where Inspect expects them to: the
    directory the command was run from.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
