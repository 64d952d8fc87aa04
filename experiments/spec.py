"""The experiment spec: one YAML file declares a study (bases x personas x methods x evals + instruments).

Every field is typed and documented here, unknown keys are errors, and a spec that cannot run (a
steered method on a served base, a fine-tuned method without an adapter, a persona that is not
found) fails on load with one line naming the field and the fix, before any compute. The format is
documented with a full example in `experiments/README.md`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from charbench.errors import CharbenchError

KINDS = ("base", "prompted", "steered", "fine-tuned")
LABEL = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"


class SpecError(CharbenchError):
    """A spec that is malformed or inconsistent: the message names the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Base(_Strict):
    """A base model: a short label for tables and an Inspect model spec (ours or any Inspect model)."""

    label: str = Field(pattern=LABEL)
    # `charbench/<weights>` runs on our provider (all four methods); `vllm/...`, `openai-api/...`, `hf/...`
    # or any Inspect model runs there (base, prompted; fine-tuned on vllm/ as `<model>:<adapter>`)
    model: str
    model_args: dict[str, Any] = Field(default_factory=dict)  # `-M` args of every row on this base

    @property
    def ours(self) -> bool:
        return self.model.startswith("charbench/")

    @field_validator("model")
    @classmethod
    def _one_reading(cls, model: str) -> str:
        """`charbench/google/gemma-3-4b-it` says ours but its rows would go to Inspect's google provider."""
        from bench.models.specs import local_model_name, own_base, refuse_two_way

        if model.startswith("charbench/"):
            try:
                refuse_two_way(own_base(model), model, local_model_name(model), own_base(model))
            except CharbenchError as err:
                raise ValueError(str(err)) from None
        return model


Template = str | dict[str, str]  # one path template, or one per base label


class Method(_Strict):
    """A persona method. `label` names the row in tables (any number of fine-tuned variants: `dpo`,
    `dpo+introspection`); `kind` says what the row is."""

    label: str = Field(pattern=LABEL)
    kind: Literal["base", "prompted", "steered", "fine-tuned"]
    # steered: a vector file template, or "extract" (a mean-difference vector extracted per base and
    # persona into the experiment's directory); coef: a number or "calibrate" (measured per vector)
    vector: str | None = None
    coef: float | Literal["calibrate"] | None = None
    layers: str | None = None  # steered: `12`, `4-9` or `3,5,7` (default: the vector's own)
    # fine-tuned: an adapter or checkpoint per base and persona: a template with {base} (label) and
    # {persona} (`adapters/{base}/{persona}`, `org/repo:{persona}` for a hub repo with one folder per
    # persona), or a map base label -> template
    adapter: Template | None = None
    # fine-tuned: personas whose adapter does not follow the template (a template or map), or null: no row
    adapter_overrides: dict[str, Template | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_kind(self) -> Method:
        if self.kind == "steered":
            self.vector = self.vector or "extract"
            self.coef = "calibrate" if self.coef is None else self.coef
        elif self.vector is not None or self.coef is not None or self.layers is not None:
            raise ValueError(f"vector/coef/layers belong to a steered method, not to kind {self.kind}")
        if self.kind == "fine-tuned" and self.adapter is None:
            raise ValueError("a fine-tuned method needs `adapter:` (e.g. adapters/{base}/{persona})")
        if self.kind != "fine-tuned" and (self.adapter is not None or self.adapter_overrides):
            raise ValueError(f"adapter belongs to a fine-tuned method, not to kind {self.kind}")
        return self


class PlannedDesign(_Strict):
    """A planned tournament shared by every row: `share` of the matchups pit the target traits against
    the whole vocabulary, the rest stay uniform (bench/revealed_prefs/dataset.py `draw_planned`)."""

    # "experiment": the union of the spec's personas' target traits; or a list of trait words
    targets: Literal["experiment"] | list[str] = "experiment"
    share: float = Field(0.5, gt=0, lt=1)


class RevealedPrefs(_Strict):
    n: int = Field(2000, ge=2)
    max_tokens: int = Field(1024, ge=1)
    condition: Literal["like", "feel", "random", "assigned"] = "like"
    traits: str | None = None  # trait file (default: the reference's 144 words)
    prompts: str = "general"
    judge: str = "auto"
    # judge every reply once more on another matchup's traits: the null of this judge on this design
    design_null: bool = True
    # run the base row's tournament a second time on the same design with independent replies: the
    # test-retest ceiling of every Spearman against the base (one more base tournament per base)
    retest: bool = False
    # null: matchups drawn uniformly over all trait pairs; a planned design puts a share on the targets
    design: PlannedDesign | None = None


class Robustness(_Strict):
    n: int = Field(100, ge=1)
    max_tokens: int = Field(512, ge=1)
    split: str = "all"
    prompts: str = "default"


class Coherence(_Strict):
    n: int = Field(100, ge=1)
    max_tokens: int = Field(512, ge=1)
    prompts: str = "default"
    # the method label each row is judged against (the baseline row itself is judged against `base`)
    baseline: str = "prompted"


class Capabilities(_Strict):
    tasks: str = "standard"  # "standard" (the reference's five), "smoke" (offline), or a comma list
    limit_per_task: int | None = None


class Drift(_Strict):
    turns: int = Field(8, ge=1)
    n: int = Field(20, ge=1)
    max_tokens: int = Field(256, ge=1)
    user_max_tokens: int = Field(96, ge=1)
    prompts: str = "general"
    # the persona vector of the activation score: "steered" (the experiment's steered vector for the
    # base and persona, so every method shares one scale), a file template, or null (text score only)
    vector: str | None = "steered"


class Evals(_Strict):
    """The evals that run (an eval left out does not run; `{}` runs it with its defaults), with their
    task arguments: the one place for n, max_tokens, condition, splits, turns and prompt sets."""

    revealed_prefs: RevealedPrefs | None = None
    robustness: Robustness | None = None
    coherence: Coherence | None = None
    capabilities: Capabilities | None = None
    drift: Drift | None = None

    def names(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class ClassifierTraining(_Strict):
    """A persona classifier trained once per base model of the experiment, on replies no scored method
    wrote: every persona's prompted replies (the constitution's own expression) and the base's (`none`)."""

    prompts: int = Field(60, ge=2)  # training prompts per persona; about 20% are held out by prompt
    personas: Literal["all", "experiment"] = "all"  # labels: every persona found, or this spec's
    none_class: bool = True
    max_tokens: int = Field(128, ge=1)
    epochs: float = Field(3.0, gt=0)
    backbone: str = "auto"


class Classifier(_Strict):
    path: str | None = None  # a trained classifier directory (`charbench classifier train`)
    train: ClassifierTraining | None = None
    allow_weak: bool = False  # score with a classifier that does not validate (labelled weak everywhere)

    @model_validator(mode="after")
    def _one_source(self) -> Classifier:
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of `path:` (a classifier directory) or `train:` ({} for defaults)")
        return self


class Instruments(_Strict):
    grader: str | None = None  # Inspect model judging revealed_prefs and coherence (default: offline embedded)
    classifier: Classifier | None = None  # robustness and drift need one
    roles: dict[str, str] = Field(default_factory=dict)  # other Inspect model roles (prefill, user, ...)

    @field_validator("roles")
    @classmethod
    def _no_reserved(cls, roles: dict[str, str]) -> dict[str, str]:
        reserved = {"grader": "instruments.grader", "baseline": "evals.coherence.baseline"}
        for role in roles:
            if role in reserved:
                raise ValueError(f"role '{role}' is set by {reserved[role]}")
        return roles


class ExperimentSpec(_Strict):
    experiment: str = Field(pattern=LABEL)
    description: str = ""
    seed: int = 0
    bases: list[Base] = Field(min_length=1)
    personas: list[str] = Field(min_length=1)  # persona names (ours, `$CHARBENCH_PERSONAS`) or files
    methods: list[Method] = Field(min_length=1)
    evals: Evals
    instruments: Instruments = Field(default_factory=Instruments)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        for field, labels in (("bases", [b.label for b in self.bases]), ("methods", [m.label for m in self.methods])):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            if dup:
                raise ValueError(f"{field}: label {dup[0]} is used twice: give each a distinct label")
        if len(set(self.personas)) != len(self.personas):
            raise ValueError("personas: a persona is listed twice")
        if sum(m.kind == "base" for m in self.methods) > 1:
            raise ValueError("methods: at most one method of kind base (every shift is measured against it)")
        needs_classifier = [e for e in ("robustness", "drift") if getattr(self.evals, e) is not None]
        if needs_classifier and self.instruments.classifier is None:
            raise ValueError(f"evals.{needs_classifier[0]} needs instruments.classifier: `train: {{}}` or `path: DIR`")
        coherence = self.evals.coherence
        if coherence is not None and coherence.baseline not in [m.label for m in self.methods]:
            raise ValueError(
                f"evals.coherence.baseline '{coherence.baseline}' is not a method label: use one of "
                + ", ".join(m.label for m in self.methods)
            )
        for i, method in enumerate(self.methods):
            for base in self.bases:
                problem = _unsupported(method, base)
                if problem:
                    raise ValueError(f"methods.{i} ({method.label}) on bases {base.label}: {problem}")
        return self

    def method(self, label: str) -> Method:
        return next(m for m in self.methods if m.label == label)

    def base_method(self) -> Method | None:
        """The reference row's method; None when the spec scores no base row (no shifts then)."""
        return next((m for m in self.methods if m.kind == "base"), None)


def _unsupported(method: Method, base: Base) -> str | None:
    if method.kind == "steered" and not base.ours:
        return (
            f"steering needs activations, which only charbench's provider reaches; write the base as "
            f"charbench/<weights> instead of {base.model}"
        )
    if method.kind == "fine-tuned" and not base.ours and not base.model.startswith("vllm/"):
        return f"a LoRA adapter runs on charbench/<weights> or vllm/<weights>, not on {base.model}"
    return None


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a spec file; personas are resolved too, so a typo fails here."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"spec file {path} does not exist (shipped specs: experiments/*.yaml)")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    spec = parse_spec(data, source=str(path))
    check_personas(spec, source=str(path))
    return spec


def parse_spec(data: Any, source: str = "spec") -> ExperimentSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec is a mapping (experiment:, bases:, personas:, methods:, evals:)")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (see experiments/README.md for the fields)"
        elif first["type"] == "missing":
            message = "required"
        raise SpecError(f"{source}: {where}: {message}") from None


def check_personas(spec: ExperimentSpec, source: str = "spec") -> None:
    from personas import load_persona

    for i, name in enumerate(spec.personas):
        try:
            load_persona(name)
        except CharbenchError as err:
            raise SpecError(f"{source}: personas.{i}: {err}") from None


def fill(template: str, **values: str) -> str:
    """`{base}` and `{persona}` in a path template; any other `{name}` is an error naming it."""
    unknown = set(re.findall(r"{(\w*)}", template)) - set(values)
    if unknown:
        raise SpecError(f"template '{template}': unknown field {{{sorted(unknown)[0]}}}; use {{base}} or {{persona}}")
    return template.format(**values)
