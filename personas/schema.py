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


class Persona(BaseModel):
    """A constitution: the persona's name, a one-line description and its traits."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    description: str
    traits: list[Trait] = Field(min_length=MIN_TRAITS)

    _description = field_validator("description")(_non_blank)

    @property
    def statements(self) -> list[str]:
        return [t.statement for t in self.traits]

    @property
    def questions(self) -> list[str]:
        return [q for t in self.traits for q in t.questions]
