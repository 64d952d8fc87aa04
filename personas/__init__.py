"""Personas (constitutions) as validated data. `load_persona` is the only way code reads one."""

from personas.loader import PersonaError, list_personas, load_persona, load_persona_file, persona_dirs
from personas.schema import Persona, Trait

__all__ = [
    "Persona",
    "PersonaError",
    "Trait",
    "list_personas",
    "load_persona",
    "load_persona_file",
    "persona_dirs",
]
