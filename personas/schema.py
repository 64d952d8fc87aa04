"""The typed shape of a constitution. Validation lives here so every consumer sees the same rules."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MIN_TRAITS = 10
MIN_QUESTIONS = 5


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class Trait(BaseModel):
    """One first-person statement of the character, with user questions that invite it."""

    model_config = ConfigDict(extra="forbid")
    statement: str
    questions: list[Annotated[str, AfterValidator(_non_blank)]] = Field(min_length=MIN_QUESTIONS)

    _statement = field_validator("statement")(_non_blank)


def _in_vocabulary(value: str) -> str:
    """A target trait must be one of the revealed-preferences words, or the tournament never rates it."""
    import difflib

    from bench.revealed_prefs.dataset import load_traits

    word = value.strip().lower()
    vocabulary = load_traits()
    if word not in vocabulary:
        near = difflib.get_close_matches(word, vocabulary, n=1)
        hint = f"did you mean '{near[0]}'?" if near else "see bench/revealed_prefs/data/traits-144.txt"
        raise ValueError(f"'{value}' is not one of the {len(vocabulary)} trait words ({hint})")
    return word


def _no_repeats(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"names {', '.join(repeated)} twice")
    return values


class Persona(BaseModel):
    """A constitution: the persona's name, a one-line description, its traits, and the revealed-preference
    trait words it should raise (`target_traits`: the known-effect check of a persona that took)."""

    model_config = ConfigDict(extra="forbid")
    # `oct.loving`: one optional namespace (personas.loader names the reference's files so)
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)?$")
    description: str
    traits: list[Trait] = Field(min_length=MIN_TRAITS)
    target_traits: Annotated[list[Annotated[str, AfterValidator(_in_vocabulary)]], AfterValidator(_no_repeats)] = Field(
        default_factory=list
    )

    _description = field_validator("description")(_non_blank)

    @property
    def statements(self) -> list[str]:
        return [t.statement for t in self.traits]

    @property
    def questions(self) -> list[str]:
        return [q for t in self.traits for q in t.questions]
