"""`charbench score` and `charbench compare`: shortcuts that write an experiment spec and run it.

Nothing here runs a model itself: the flags become a spec (`SuiteConfig` holds them), the spec is
written to `results/<experiment>.yaml` so the run can be repeated and extended with `charbench run`,
and `experiments.runner` runs it like any other. One path for every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from inspect_ai.log import EvalLog

from bench.models.specs import describe_model, local_model_name, parse_model_name, two_way_provider
from charbench.errors import CharbenchError
from charbench.paths import portable, results_dir


@dataclass
class SuiteConfig:
    """The suite's settings as flags give them. Defaults are for real runs; --small sets CPU-sized ones."""

    matchups: int = 2000
    prompts: int = 100
    max_tokens: int = 512
    seed: int = 0
    classifier: str | None = None
    allow_weak_classifier: bool = False  # score robustness with a classifier at chance (labelled weak)
    grader: str | None = None
    traits: str | None = None  # revealed_prefs trait file (default: the 144 reference words)
    capabilities: str = "standard"  # bench/capabilities tasks: "standard", "smoke", a comma list, or "none"
    capability_limit: int | None = None  # questions per benchmark (seeded subset); None = all
    drift_turns: int = 8  # bench/drift conversation length (runs when a classifier is given); 0 = skip
    drift_vector: str | None = None  # persona vector for drift's activation score (default: the steered one)
    task_args: dict[str, str] = field(default_factory=dict)  # -T NAME=VALUE: every eval of the suite that takes NAME
    roles: dict[str, str] = field(default_factory=dict)  # --model-role ROLE=MODEL (grader, prefill, user)
    model_args: dict[str, object] = field(default_factory=dict)  # -M KEY=VALUE: the base model's args
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def small(cls, **overrides) -> SuiteConfig:
        """CPU-sized: 48 matchups over 12 traits (each plays ~8), 3 prompts, 48-token replies, 24 questions
        of the offline capability smoke set, 3-turn drift conversations."""
        from bench.revealed_prefs.dataset import DATA_DIR

        defaults = {
            "matchups": 48,
            "prompts": 3,
            "max_tokens": 48,
            "traits": portable(DATA_DIR / "traits-demo-12.txt"),
            "capabilities": "smoke",
            "capability_limit": 24,
            "drift_turns": 3,
        }
        return cls(**{**defaults, **overrides})


def evals_section(config: SuiteConfig, classifier: bool, coherence_baseline: str | None) -> dict:
    """The spec's `evals:` for these flags; what does not run is noted in `config.skipped`."""
    evals: dict = {"revealed_prefs": {"n": config.matchups, "max_tokens": config.max_tokens, "traits": config.traits}}
    if classifier:
        evals["robustness"] = {"n": config.prompts, "max_tokens": config.max_tokens}
        if config.drift_turns > 0:
            drift = {"turns": config.drift_turns, "n": config.prompts, "max_tokens": config.max_tokens}
            if config.drift_vector:
                drift["vector"] = portable(config.drift_vector)
            evals["drift"] = drift
        else:
            config.skipped.append("drift")
    else:
        config.skipped += ["robustness", "drift"]
    if config.capabilities != "none":
        evals["capabilities"] = {"tasks": config.capabilities, "limit_per_task": config.capability_limit}
    else:
        config.skipped.append("capabilities")
    if coherence_baseline:
        evals["coherence"] = {"n": config.prompts, "max_tokens": config.max_tokens, "baseline": coherence_baseline}
    return apply_task_args(evals, config.task_args)


def apply_task_args(evals: dict, task_args: dict[str, str]) -> dict:
    """`-T NAME=VALUE` as `inspect eval` takes it: set on every eval of the suite whose arguments include
    NAME (YAML-parsed, so numbers stay numbers); a NAME no eval takes is a one-line error."""
    from experiments.spec import Evals

    for name, text in task_args.items():
        takers = [e for e in evals if name in Evals.model_fields[e].annotation.__args__[0].model_fields]
        if not takers:
            raise CharbenchError(f"-T {name}: no eval of this suite takes it ({', '.join(sorted(evals))})")
        for eval_name in takers:
            evals[eval_name][name] = yaml.safe_load(text)
    return evals


def instruments_section(config: SuiteConfig, train_prompts: int | None = None) -> dict:
    instruments: dict = {}
    roles = dict(config.roles)
    grader = roles.pop("grader", None) or config.grader
    if grader:
        instruments["grader"] = grader
    if roles:
        instruments["roles"] = roles
    if config.classifier:
        instruments["classifier"] = {"path": portable(config.classifier), "allow_weak": config.allow_weak_classifier}
    elif train_prompts:
        instruments["classifier"] = {"train": {"prompts": train_prompts}, "allow_weak": config.allow_weak_classifier}
    return instruments


def label(text: str) -> str:
    """A spec label from a model name or path (its last part, file-name-safe)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text.rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "model"


def method_of(model: str) -> tuple[dict, dict]:
    """(base entry, method entry) of a spec that scores exactly the model `model` names."""
    info = describe_model(model)
    if not model.startswith("charbench/"):
        if info["method"] == "fine-tuned":  # vllm/<base>:<adapter>
            base, _, adapter = model.rpartition(":")
            return {"label": label(base), "model": base}, {
                "label": "fine-tuned",
                "kind": "fine-tuned",
                "adapter": adapter,
            }
        return {"label": label(model), "model": model}, {"label": "base", "kind": "base"}
    spec = parse_model_name(model.removeprefix("charbench/"))
    kind = spec.label
    if kind == "steered":
        vector = spec.vector or ""
        method = {"label": "steered", "kind": "steered", "vector": vector, "coef": spec.coef}
        if spec.layers:
            method["layers"] = ",".join(str(x) for x in spec.layers)
        return {"label": label(str(info["base"])), "model": local_model_name(str(info["base"]))}, method
    if kind == "fine-tuned":
        return {"label": label(str(info["base"])), "model": local_model_name(str(info["base"]))}, {
            "label": "fine-tuned",
            "kind": "fine-tuned",
            "adapter": spec.base,
        }
    weights = spec.base  # base and prompted: the weights as typed (a delegate keeps its provider)
    model = weights if two_way_provider(weights) else f"charbench/{weights}"  # `google/...` as typed: the API
    return {"label": label(str(info["base"])), "model": model}, {"label": kind, "kind": kind}


def write_spec(spec: dict, log_root: Path | None = None) -> Path:
    """`results/<experiment>.yaml` (beside its directory), so the run can be repeated and extended."""
    root = log_root or results_dir()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{spec['experiment']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    print(f"spec: {portable(path)}   (repeat or extend it: charbench run {portable(path)})", flush=True)
    return path


def run(spec: dict, log_root: Path | None, display: str = "plain", max_tasks: int | None = 2) -> list[EvalLog]:
    from experiments.runner import run_experiment

    path = write_spec(spec, log_root)
    directory = (log_root or results_dir()) / spec["experiment"]
    return run_experiment(str(path), log_dir=str(directory), display=display, max_tasks=max_tasks)["logs"]


def score_model(
    model: str,
    persona: str,
    config: SuiteConfig,
    baseline: str | None = None,
    log_root: Path | None = None,
    display: str = "plain",
    model_args: dict | None = None,
) -> list[EvalLog]:
    """The suite on one model: a spec with that model's row (and, for coherence, the baseline's)."""
    from personas import load_persona

    persona_name = load_persona(persona).name
    base, method = method_of(model)
    model_args = {**config.model_args, **(model_args or {})}
    if model_args:
        base["model_args"] = model_args
    methods = [method]
    coherence = None
    if baseline:
        other_base, other = method_of(baseline)
        if other_base["model"] != base["model"] and other["kind"] != "fine-tuned":
            raise CharbenchError(
                f"--baseline {baseline}: a coherence baseline is a method on the same base ({base['model']}); "
                "for other comparisons write a spec (experiments/README.md)"
            )
        if other["label"] == method["label"]:
            raise CharbenchError(f"--baseline {baseline}: the model would be judged against itself")
        methods.append(other)
        coherence = other["label"]
    spec = {
        "experiment": f"score-{label(model)}-{persona_name}",
        "seed": config.seed,
        "bases": [base],
        "personas": [persona_name],
        "methods": methods,
        "evals": evals_section(config, bool(config.classifier), coherence),
        "instruments": instruments_section(config),
    }
    return run(spec, log_root, display)


def compare_methods(
    persona: str,
    base: str,
    config: SuiteConfig,
    adapter: str | None = None,
    vector: str | None = None,
    coef: float | None = None,
    classifier_prompts: int = 60,
    log_root: Path | None = None,
    none_class: bool = True,
) -> list[EvalLog]:
    """Base, prompted, steered and (with `adapter`) fine-tuned versions of `base`: one spec, one table."""
    from personas import load_persona

    persona_name = load_persona(persona).name
    weights = base.removeprefix("charbench/")
    methods: list[dict] = [
        {"label": "base", "kind": "base"},
        {"label": "prompted", "kind": "prompted"},
        {"label": "steered", "kind": "steered", "vector": portable(vector) if vector else "extract"}
        | {"coef": coef if coef is not None else "calibrate"},
    ]
    if adapter:
        methods.append({"label": "fine-tuned", "kind": "fine-tuned", "adapter": portable(adapter)})
    instruments = instruments_section(config, train_prompts=classifier_prompts)
    if "train" in instruments.get("classifier", {}):
        instruments["classifier"]["train"]["none_class"] = none_class
    spec = {
        "experiment": f"compare-{label(weights)}-{persona_name}",
        "seed": config.seed,
        "bases": [
            {"label": label(weights), "model": local_model_name(weights)}
            | ({"model_args": config.model_args} if config.model_args else {})
        ],
        "personas": [persona_name],
        "methods": methods,
        "evals": evals_section(config, True, "prompted"),
        "instruments": instruments,
    }
    return run(spec, log_root)
