"""Find, parse and validate persona files (YAML or JSON).

Personas ship in `personas/data/`; users add their own by dropping a file there or into a directory
named by `CHARBENCH_PERSONAS` (several directories separated by `os.pathsep`). A user's file with the
name of a shipped persona is a duplicate, not an override: silently shadowing a constitution would
make two runs called "sarcasm" measure different things.
"""

import json
import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from charbench.errors import CharbenchError
from personas.schema import Persona

SHIPPED_DIR = Path(__file__).parent / "data"
SUFFIXES = (".yaml", ".yml", ".json")


class PersonaError(CharbenchError):
    """A persona file that cannot be used, or a persona name that does not exist."""


def persona_dirs() -> list[Path]:
    extra = os.environ.get("CHARBENCH_PERSONAS", "")
    return [SHIPPED_DIR] + [Path(p) for p in extra.split(os.pathsep) if p]


def _persona_files() -> list[Path]:
    files: list[Path] = []
    for directory in persona_dirs():
        if directory.is_dir():
            files += sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES)
    return files


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"]
    hint = {
        "missing": "add it",
        "too_short": "add more entries",
        "string_pattern_mismatch": "use lowercase letters, digits, '-' or '_'",
        "extra_forbidden": "remove it or fix its spelling",
    }.get(first["type"], "fix its value")
    return f"field '{field}': {message} ({hint})"


def load_persona_file(path: str | Path) -> Persona:
    """Parse and validate one file; any problem becomes a one-line `PersonaError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise PersonaError(f"{path}: no such persona file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        where = getattr(err, "problem_mark", None) or getattr(err, "lineno", None)
        line = f" (line {where.line + 1})" if hasattr(where, "line") else (f" (line {where})" if where else "")
        raise PersonaError(f"{path}: not valid {path.suffix[1:].upper()}{line}: fix the syntax") from None
    if not isinstance(data, dict):
        raise PersonaError(f"{path}: expected a mapping with name, description and traits at the top level")
    try:
        return Persona.model_validate(data)
    except ValidationError as err:
        raise PersonaError(f"{path}: {_describe(err)}") from None


def list_personas() -> dict[str, Persona]:
    """Every persona found, by name; a duplicate name anywhere is an error naming both files."""
    found: dict[str, Persona] = {}
    origin: dict[str, Path] = {}
    for path in _persona_files():
        persona = load_persona_file(path)
        if persona.name in found:
            raise PersonaError(
                f"{path}: duplicate persona name '{persona.name}' (also in {origin[persona.name]}): rename one"
            )
        found[persona.name] = persona
        origin[persona.name] = path
    return found


def load_persona(name_or_path: str) -> Persona:
    """A persona by name (shipped or user-added) or by path to a file."""
    if any(name_or_path.endswith(s) for s in SUFFIXES) or os.sep in name_or_path:
        return load_persona_file(name_or_path)
    personas = list_personas()
    if name_or_path not in personas:
        known = ", ".join(sorted(personas))
        raise PersonaError(f"unknown persona '{name_or_path}': choose one of {known}, or pass a file path")
    return personas[name_or_path]
