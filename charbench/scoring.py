"""`charbench score` and `charbench compare`: the whole suite, one resolved config, through eval_set.

Every method is scored by the same tasks with the same settings; `compare` only changes the model.
Logs go to `results/logs/<run>/` (one eval-set directory per model and persona, so an interrupted run
resumes where it stopped) and carry `persona`, `method`, `base` and the config in their metadata.
"""

from __future__ import annotations

import contextvars
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inspect_ai import Task
from inspect_ai.log import EvalLog

from bench.models.generation import server_extra_body
from bench.models.specs import describe_model
from bench.robustness.validation import check_validated
from charbench.errors import CharbenchError
from charbench.paths import portable, results_dir, slug
from experiments.checks import checkpoint_dir, train_eval_overlap, warn_overlap  # noqa: F401  (re-exported)
from experiments.summary import drift_headline, summarize  # noqa: F401  (re-exported)


@dataclass
class SuiteConfig:
    """One config for every method. Defaults are for real runs; the CLI's --small sets CPU-sized ones."""

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
    drift_vector: str | None = None  # persona vector for drift's activation score (default: a steered model's own)
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


def suite_tasks(persona: str, config: SuiteConfig, baseline: str | None) -> list[Task]:
    """Every task of the run, built before anything runs: a missing dataset or classifier fails here."""
    from bench.capabilities.capabilities import capabilities
    from bench.coherence.coherence import coherence
    from bench.drift.drift import drift
    from bench.revealed_prefs.revealed_prefs import revealed_prefs
    from bench.robustness.robustness import robustness

    tasks = [revealed_prefs(n=config.matchups, seed=config.seed, max_tokens=config.max_tokens, traits=config.traits)]
    if config.classifier:
        tasks.append(
            robustness(
                persona=persona,
                classifier=config.classifier,
                split="all",
                n=config.prompts,
                seed=config.seed,
                max_tokens=config.max_tokens,
                allow_weak_classifier=config.allow_weak_classifier,
            )
        )
    elif "robustness" not in config.skipped:
        config.skipped.append("robustness")
    if config.classifier and config.drift_turns > 0:
        tasks.append(
            drift(
                persona=persona,
                classifier=config.classifier,
                turns=config.drift_turns,
                n=config.prompts,
                seed=config.seed,
                max_tokens=config.max_tokens,
                vector=config.drift_vector,
                allow_weak_classifier=config.allow_weak_classifier,
            )
        )
    elif "drift" not in config.skipped:
        config.skipped.append("drift")
    if config.capabilities != "none":
        tasks.append(capabilities(tasks=config.capabilities, limit_per_task=config.capability_limit, seed=config.seed))
    elif "capabilities" not in config.skipped:
        config.skipped.append("capabilities")
    if baseline:
        tasks.append(coherence(persona=persona, n=config.prompts, seed=config.seed, max_tokens=config.max_tokens))
    return tasks


def score_model(
    model: str,
    persona: str,
    config: SuiteConfig,
    baseline: str | None = None,
    log_root: Path | None = None,
    display: str = "plain",
    model_args: dict | None = None,
) -> list[EvalLog]:
    """Run the suite on one model; returns the logs (resumes an interrupted run in the same directory)."""
    from inspect_ai import eval_set

    from personas import load_persona

    load_persona(persona)
    # files under the working directory are named relative to it in the logs (no machine paths)
    config.classifier = portable(config.classifier) if config.classifier else None
    config.traits = portable(config.traits) if config.traits else None
    info = describe_model(model)
    run = slug(f"{model.removeprefix('charbench/')}--{persona}" + (f"--vs-{baseline}" if baseline else ""))
    log_dir = (log_root or results_dir() / "logs") / run
    roles = {}
    if baseline:
        roles["baseline"] = baseline
    if config.grader:
        roles["grader"] = config.grader
    metadata = {
        "persona": persona,
        "method": info["method"],
        # the persona of the method itself (none for a base model): what the classifier may learn as its label
        "method_persona": None if info["method"] == "base" else (info["persona"] or persona),
        "base": info["base"],
        "config": asdict(config),
    }
    if baseline:
        metadata["baseline"] = baseline
        metadata["baseline_method"] = describe_model(baseline)["method"]
    # A fresh context: an earlier eval in this process leaves its active model and roles behind, which
    # would make the tasks' construction-time checks look at the wrong run.
    tasks = contextvars.Context().run(suite_tasks, persona, config, baseline)
    overlap = train_eval_overlap(model, tasks)
    if overlap:
        metadata["train_eval_overlap"] = overlap
        warn_overlap(model, overlap)
    success, logs = eval_set(
        tasks,
        log_dir=str(log_dir),
        model=model,
        model_args=model_args or {},
        model_roles=roles or None,
        metadata=metadata,
        display=display,
        retry_attempts=1,
        log_dir_allow_dirty=True,
        extra_body=server_extra_body(model),
    )
    if not success:
        raise CharbenchError(f"scoring {model} did not finish: re-run the same command to resume ({log_dir})")
    return logs


def compare_methods(
    persona: str,
    base: str,
    config: SuiteConfig,
    adapter: str | None = None,
    vector: str | None = None,
    coef: float | None = None,
    classifier_prompts: int = 12,
    log_root: Path | None = None,
    force: bool = False,
    none_class: bool = True,
) -> dict[str, list[EvalLog]]:
    """Score base, prompted, steered and (if given) fine-tuned versions of `base` with one config.

    A resumed run may reuse logs written under other settings: every method's tournament is checked
    against the base's (judge, condition, traits, prompt set, seed policy) and a mismatch is an error
    unless `force`.
    """
    from trainers.steering import SteeringVector

    if vector is None:
        vector = portable(_vector_for(persona, base))
    if coef is None:
        coef = (SteeringVector.load(vector).metadata.get("calibration") or {}).get("coef")
        if coef is None:
            from trainers.calibration import calibrate

            coef = calibrate(vector, max_new_tokens=config.max_tokens)["coef"]
    vector = portable(vector)
    prompted = f"charbench/prompt/{persona}/{base}"
    models = {"base": f"charbench/{base}", "prompted": prompted, "steered": f"charbench/steer/{coef:g}/{vector}"}
    if adapter:
        models["fine-tuned"] = f"charbench/ft/{adapter}"
    if config.classifier is None:
        methods = [models["steered"]] + ([f"{models['fine-tuned']}={persona}"] if adapter else [])
        config.classifier = portable(quick_classifier(base, classifier_prompts, config, methods, none_class))
    # a weak classifier stops the run here, before any scoring, with what to do about it
    check_validated(config.classifier, allow_weak=config.allow_weak_classifier)
    if config.drift_vector is None:  # one vector for every method: their activation scores share one scale
        config.drift_vector = vector
    results = {}
    for label, model in models.items():
        baseline = None if label in ("base", "prompted") else prompted
        if label == "prompted":
            baseline = models["base"]
        results[label] = score_model(model, persona, config, baseline=baseline, log_root=log_root)
    check_tournaments_comparable(results, force)
    return results


def check_tournaments_comparable(results: dict[str, list[EvalLog]], force: bool = False) -> dict[str, list[str]]:
    """Each method's revealed-preferences log against the base's: the facts that differ, per method."""
    from inspect_ai.log import read_eval_log

    from bench.revealed_prefs.compare import comparable, log_facts

    def prefs(logs: list[EvalLog]) -> EvalLog | None:
        found = [log for log in logs if log.eval.task.endswith("revealed_prefs")]
        return read_eval_log(found[0].location) if found else None

    base = prefs(results.get("base", []))
    differences = {}
    for label, logs in results.items():
        other = prefs(logs)
        if base is None or other is None or label == "base":
            continue
        differences[label] = comparable(log_facts(base), log_facts(other), force=force)
    return differences


def _vector_for(persona: str, base: str) -> Path:
    from trainers.steering import extract

    path = results_dir() / "vectors" / f"{persona}-{slug(base)}-mean-diff.safetensors"
    if not path.is_file():
        extract(persona, base).save(path)
    return path


def quick_classifier(
    base: str, prompts: int, config: SuiteConfig, method_models: list[str], none_class: bool = True
) -> Path:
    """A small all-persona classifier trained, as in the reference, on the default replies of every method
    being compared: the prompted method for every persona, plus `method_models` (steered, fine-tuned),
    plus the base model as the `none` class. Cached under a key of everything that changes its data."""
    import hashlib
    import json

    from bench.prompts import PARTITION_SALT
    from personas import list_personas
    from trainers.classifier import (
        ClassifierConfig,
        data_models,
        generate_logs,
        read_rows,
        resolve_backbone,
        train_classifier,
    )

    found = list_personas()  # reads and validates every persona file: once
    personas = sorted(found)
    models = data_models(personas, base, method_models, none_class)
    settings = ClassifierConfig(backbone="auto", epochs=3, seed=config.seed)
    key = {
        "models": models,
        "files": {m: _file_digest(m.rpartition("=")[0] if "=" in m else m) for m in method_models},
        "constitutions": {p: hashlib.sha256(found[p].model_dump_json().encode()).hexdigest() for p in personas},
        "prompts": prompts,
        "seed": config.seed,
        "max_tokens": config.max_tokens,
        "partition": PARTITION_SALT,
        "none_class": none_class,
        "config": asdict(settings),
        "backbone": resolve_backbone(settings.backbone)[1],  # `auto` depends on what the HF cache holds
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    out = results_dir() / "classifiers" / f"quick-{slug(base)}-{digest}"
    if (out / "labels.json").is_file():
        return out
    logs = generate_logs(models, out.with_name(out.name + ".data"), prompts, config.max_tokens, config.seed, "plain")
    rows, skipped = read_rows([str(p) for p in logs], none_class=none_class)
    sources = [f"{m} (bench/responses, training partition, {prompts} prompts)" for m in models]
    train_classifier(rows, out, settings, sources, skipped)
    out.joinpath("cache_key.json").write_text(json.dumps(key, indent=2))
    return out


def _file_digest(model: str) -> str | None:
    """Content hash of the file or directory a method model names (steering vector, adapter), if local."""
    import hashlib

    from bench.models.loader import adapter_subfolder
    from bench.models.specs import parse_model_name

    spec = parse_model_name(model.removeprefix("charbench/"))
    target = Path(spec.vector) if spec.vector else (adapter_subfolder(spec.base) or Path(spec.base))
    if target.is_file():
        return hashlib.sha256(target.read_bytes()).hexdigest()
    if target.is_dir():
        digest = hashlib.sha256()
        for f in sorted(target.rglob("*.json")) + sorted(target.rglob("*.safetensors")):
            digest.update(f.name.encode() + f.read_bytes())
        return digest.hexdigest()
    return None
