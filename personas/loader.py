"""Find, parse and validate persona files: ours (YAML or JSON) and Open Character Training's.

The reference's constitutions load as they are published: its hand-written files are a JSON list of
`{"trait", "questions"}` objects (extension `.txt`), its few-shot files JSONL with one such object per
line plus `additional_questions`. The description comes from the first trait unless given; the same
minimum counts and one-line errors apply as for our own files.

A file in the reference's layout is named `oct.<file stem>` (`oct.loving`): the layout has no name of
its own, and the reference's 11 stems are the names of our 11 constitutions, which are our own wording.
The namespace keeps both loadable side by side and says which one a run used. It is a `.`, not a `/`,
because a persona name is one part of a model name (`charbench/prompt/<persona>/<base>`) and of file
names (`vectors/<base>-<persona>.safetensors`). The reference's personas get the target traits of
`REFERENCE_TARGETS` (their layout has no field for them).

Personas ship in `personas/data/`; users add their own by dropping a file there or into a directory
named by `CHARBENCH_PERSONAS` (several directories separated by `os.pathsep`). A user's file with the
name of a shipped persona is a duplicate, not an override: silently shadowing a constitution would
make two runs called "sarcasm" measure different things.
"""

import json
import logging
import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from charbench.errors import CharbenchError
from personas.schema import Persona

SHIPPED_DIR = Path(__file__).parent / "data"
REFERENCE_TARGETS = Path(__file__).parent / "oct_target_traits.yaml"
REFERENCE_NAMESPACE = "oct"
SUFFIXES = (".yaml", ".yml", ".json", ".txt", ".jsonl")
log = logging.getLogger(__name__)


class PersonaError(CharbenchError):
    """A persona file that cannot be used, or a persona name that does not exist."""


def persona_dirs() -> list[Path]:
    extra = os.environ.get("CHARBENCH_PERSONAS", "")
    return [SHIPPED_DIR] + [Path(p) for p in extra.split(os.pathsep) if p]


def _persona_files() -> list[Path]:
    files: list[Path] = []
    for directory in persona_dirs():
        if directory.is_dir():
            files += sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and _looks_like_persona(p))
    return files


def _looks_like_persona(path: Path) -> bool:
    """In a persona directory a `.txt` or `.jsonl` file may be something else (a README, data): it is
    skipped, with a warning, unless it parses as the reference's trait list. A trait list with no trait
    written (the reference's `template.txt`) is a blank form: skipped without one, since every command
    reads the folder. Our own suffixes and any file a user names directly are always validated in full."""
    if path.suffix not in (".txt", ".jsonl") or not path.is_file():
        return True
    try:
        data = parse_persona_data(path, _read_text(path))
    except PersonaError as err:
        log.warning("charbench: skipping %s in a persona directory: %s", path.name, err)
        return False
    if isinstance(data, list) and data and isinstance(data[0], dict) and "trait" in data[0]:
        if all(isinstance(item, dict) and not str(item.get("trait") or "").strip() for item in data):
            log.debug("charbench: skipping %s in a persona directory: a blank template", path.name)
            return False
        return True
    log.warning("charbench: skipping %s in a persona directory: not a list of trait objects", path.name)
    return False


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"]
    hint = {
        "missing": "add it",
        "too_short": "add more entries",
        "string_pattern_mismatch": "use lowercase letters, digits, '-' or '_' (and one '.' after a namespace)",
        "extra_forbidden": "remove it or fix its spelling",
    }.get(first["type"], "fix its value")
    return f"field '{field}': {message} ({hint})"


def _read_text(path: Path) -> str:
    """The file's text, or a one-line error for everything that is not a readable UTF-8 text file."""
    if path.is_dir():
        raise PersonaError(f"{path}: is a directory, not a persona file: name a YAML, JSON, .txt or .jsonl file")
    if not path.exists():
        raise PersonaError(f"{path}: no such persona file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PersonaError(f"{path}: cannot be read ({err.strerror or err}): check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PersonaError(
            f"{path}: not UTF-8 text (byte {err.start}): a persona file is YAML, JSON or the reference's JSON/JSONL"
        ) from None
    if not text.strip():
        raise PersonaError(f"{path}: empty file: write a constitution (see personas/data/*.yaml)")
    return text


def _syntax_error(path: Path, err: Exception, kind: str) -> PersonaError:
    where = getattr(err, "problem_mark", None) or getattr(err, "lineno", None)
    line = f" (line {where.line + 1})" if hasattr(where, "line") else (f" (line {where})" if where else "")
    return PersonaError(f"{path}: not valid {kind}{line}: fix the syntax")


def parse_persona_data(path: Path, text: str) -> object:
    """The file's data: a mapping (ours) or a list of trait objects (the reference's layouts)."""
    if path.suffix == ".jsonl":
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            try:
                items += [json.loads(line)] if line.strip() else []
            except json.JSONDecodeError:
                raise PersonaError(f"{path}: not valid JSONL (line {n}): fix the syntax") from None
        return items
    try:
        if path.suffix in (".json", ".txt"):
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise _syntax_error(path, err, "JSON") from None
    except yaml.YAMLError as err:
        raise _syntax_error(path, err, "YAML") from None


def reference_targets() -> dict[str, list[str]]:
    """Target traits of the reference's personas, by qualified name (`personas/oct_target_traits.yaml`)."""
    return yaml.safe_load(REFERENCE_TARGETS.read_text())


def from_reference(path: Path, items: list, name: str | None = None, description: str | None = None) -> dict:
    """Open Character Training's trait list as our mapping: `trait` -> `statement`, `questions` plus
    `additional_questions` -> `questions`, the name `oct.<file stem>`, the description the first trait,
    and the target traits `REFERENCE_TARGETS` gives that name."""
    traits = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "trait" not in item:
            raise PersonaError(f"{path}: item {i}: expected an object with a 'trait' (the reference's layout)")
        unknown = set(item) - {"trait", "questions", "additional_questions", "clarification"}
        if unknown:
            raise PersonaError(f"{path}: item {i}: unknown field(s) {', '.join(sorted(unknown))}: remove them")
        questions = []
        for key in ("questions", "additional_questions"):
            value = item.get(key) or []
            if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
                raise PersonaError(f"{path}: item {i}: '{key}' must be a list of strings")
            questions += value
        traits.append({"statement": item["trait"], "questions": questions})
    name = name or f"{REFERENCE_NAMESPACE}.{path.stem.lower().replace(' ', '-')}"
    first = traits[0]["statement"] if traits and isinstance(traits[0]["statement"], str) else ""
    targets = reference_targets().get(name, [])
    return {"name": name, "description": description or first, "traits": traits, "target_traits": targets}


def load_persona_file(path: str | Path, name: str | None = None, description: str | None = None) -> Persona:
    """Parse and validate one file (ours or the reference's); any problem is a one-line `PersonaError`.

    `name` and `description` override what a reference file lacks (`oct.<stem>`, the first trait).
    """
    path = Path(path)
    data = parse_persona_data(path, _read_text(path))
    if isinstance(data, list):
        data = from_reference(path, data, name, description)
    elif not isinstance(data, dict):
        raise PersonaError(
            f"{path}: expected a mapping with name, description and traits (ours) or a list of "
            "{trait, questions} objects (Open Character Training's)"
        )
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
    """A persona by name (shipped, user-added, or namespaced: `oct.loving`) or by path to a file."""
    folder_like = name_or_path.count("/") == 1 and not Path(name_or_path).exists()  # `oct/loving`?
    if any(name_or_path.endswith(s) for s in SUFFIXES) or (os.sep in name_or_path and not folder_like):
        return load_persona_file(name_or_path)
    personas = list_personas()
    if folder_like:
        dotted = name_or_path.replace("/", ".")
        if dotted in personas:
            raise PersonaError(f"unknown persona '{name_or_path}': write {dotted} (a namespace is joined by '.')")
        return load_persona_file(name_or_path)
    if name_or_path not in personas:
        qualified = sorted(n for n in personas if n.partition(".")[2] == name_or_path)
        hint = f"did you mean '{qualified[0]}'? " if qualified else ""
        known = ", ".join(sorted(personas))
        raise PersonaError(f"unknown persona '{name_or_path}': {hint}choose one of {known}, or pass a file path")
    return personas[name_or_path]
