"""Where charbench keeps things on disk, in one place."""

import os
import re
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


# a "/" that starts the text or follows a separator (not a word character, and not "://")
_ABSOLUTE = re.compile(r"(?:(?<=^)|(?<=[\s/=(,'\"\[]))(?<!:/)/(?!/)[^\s,'\"()\[\]]+")


def shown(text: str, *roots: str | Path) -> str:
    """`text` with every absolute path in it made machine-free, for what the leaderboard writes.

    A path under one of `roots` (the log directory, say), the repository or the working directory
    is shown relative to the first that holds it; any other (a model cache, another machine's home)
    by its last component: `charbench/steer/0.2//home/me/x.safetensors` -> `charbench/steer/0.2/x.safetensors`.
    """
    bases = [Path(r).expanduser().resolve() for r in (*roots, REPO_ROOT, Path.cwd())]

    def relative(match: re.Match) -> str:
        path = Path(os.path.normpath(match.group(0)))
        for base in bases:
            try:
                return str(path.relative_to(base)) or "."
            except ValueError:
                continue
        return path.name or "/"

    return _ABSOLUTE.sub(relative, text)
