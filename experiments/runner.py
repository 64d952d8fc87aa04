"""`charbench run SPEC`: instruments once, then every row's tasks as one Inspect eval set in one directory.

    results/<experiment>/
        spec.yaml            the resolved spec (every default filled in) of the last run
        logs/                the eval set: one Inspect log per (row, eval); `inspect view` reads it
        rows.json            which log is which declared row (rows.K-of-N.json per shard)
        classifiers/<base>/  the persona classifier, trained once per base and shared by its rows
        vectors/             persona vectors extracted (and calibrated) for the steered rows
        leaderboard.*        `charbench leaderboard results/<experiment>`

Inspect's eval set makes it resumable and appendable: a task whose log is complete is not run again,
so re-running a spec generates nothing and a method added to it runs only its own rows. Each log's
metadata carries the row as declared (`experiment`, `row`: base label, persona, method label, kind),
which is all the leaderboard groups by. Rows can be split across machines with `--shard K/N` after
the instruments exist (`--only instruments`); no scheduler of our own.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from charbench.errors import CharbenchError
from charbench.paths import portable, results_dir
from experiments.plan import (
    Row,
    classifier_check,
    coherence_baseline,
    parse_shard,
    plan_rows,
    row_model,
    sample_counts,
    steering_vector,
)
from experiments.spec import ExperimentSpec, SpecError, load_spec


def experiment_dir(spec: ExperimentSpec, log_dir: str | None = None) -> Path:
    """`--log-dir`, else `$INSPECT_LOG_DIR/<experiment>`, else `results/<experiment>`."""
    if log_dir:
        return Path(log_dir)
    root = os.environ.get("INSPECT_LOG_DIR")
    return Path(root) / spec.experiment if root else results_dir() / spec.experiment


@dataclass
class Instruments:
    """What the rows share, made once per experiment: a classifier per base, a vector and coefficient
    per (base, persona) for steered methods."""

    classifiers: dict[str, str] = field(default_factory=dict)  # base label -> directory
    coefs: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (base, persona, method) -> coef


def describe_plan(spec: ExperimentSpec, rows: list[Row], exp_dir: Path) -> list[str]:
    """The lines `--dry-run` prints: rows, their tasks, samples and generated tokens per model."""
    lines = [
        f"experiment {spec.experiment}: {len(spec.bases)} base(s) x {len(spec.personas)} persona(s) x "
        f"{len(spec.methods)} method(s); evals: {', '.join(spec.evals.names())}; seed {spec.seed}",
        f"directory: {portable(exp_dir)}",
    ]
    total_tasks = total_samples = total_tokens = 0
    for row in rows:
        counts = sample_counts(spec, row)
        total_tasks += len(counts)
        samples = sum(c["samples"] or 0 for c in counts.values())
        tokens = sum(c["tokens"] or 0 for c in counts.values())
        unknown = [name for name, c in counts.items() if c["tokens"] is None]
        total_samples, total_tokens = total_samples + samples, total_tokens + tokens
        try:
            model = row_model(row, exp_dir)
        except SpecError:
            model = row_model(row, exp_dir, coef=float("nan")).replace("nan", "<calibrated>")
        lines.append(
            f"  {row.name:<36} {model}\n      {', '.join(row.evals)}: {samples} samples, "
            f"<= {tokens:,} generated tokens"
            + (f" (+ {', '.join(unknown)}: answers of a few tokens)" if unknown else "")
        )
    lines.append(
        f"{len(rows)} rows, {total_tasks} tasks, {total_samples:,} samples, <= {total_tokens:,} generated tokens "
        "by the models under test (judges, user simulators and baselines are extra)"
    )
    prefs = spec.evals.revealed_prefs
    if prefs is not None:
        targets = design_targets(spec)
        lines.append(
            f"tournament design (every row): {prefs.n} matchups, "
            + (
                f"planned: {prefs.design.share:g} of them on {len(targets)} target traits ({', '.join(targets)})"
                if prefs.design is not None
                else "uniform over all trait pairs"
            )
        )
    classifier = spec.instruments.classifier
    if classifier is not None:
        if classifier.train is not None:
            t = classifier.train
            lines.append(
                f"instrument classifier: trained once per base on {t.prompts} training prompts x "
                f"{'every persona' if t.personas == 'all' else 'this spec’s personas'} (prompted replies)"
                + (" + the base model (none)" if t.none_class else "")
            )
        else:
            lines.append(f"instrument classifier: {classifier.path}")
    steered = [m for m in spec.methods if m.kind == "steered"]
    for method in steered:
        lines.append(f"instrument vectors ({method.label}): {method.vector}; coefficient: {method.coef}")
    lines.append(f"instrument grader: {spec.instruments.grader or 'offline embedded judges (weak; named in logs)'}")
    return lines


def check_instruments(spec: ExperimentSpec, rows: list[Row], exp_dir: Path) -> list[str]:
    """Problems that would stop the run after generation was spent, found before anything runs."""
    problems = []
    classifier = spec.instruments.classifier
    message = classifier_check(spec)
    if message and classifier is not None and not classifier.allow_weak:
        problems.append(message)
    if classifier is not None and classifier.path is not None:
        if not Path(classifier.path).is_dir():
            problems.append(f"instruments.classifier.path {classifier.path} is not a directory")
        else:
            problems += classifier_saw(classifier.path, rows, exp_dir)
    problems += missing_adapters(spec)
    try:
        design_targets(spec)
    except CharbenchError as err:
        problems.append(f"evals.revealed_prefs.design: {err}")
    return problems


def classifier_saw(path: str, rows: list[Row], exp_dir: Path) -> list[str]:
    """A given classifier that learned a steered or fine-tuned row's own replies (the scorers refuse it
    too, but only after the row's replies were generated)."""
    from bench.robustness.validation import ClassifierSawMethodError, check_unseen_method

    problems = []
    for row in rows:
        if row.method.kind not in ("steered", "fine-tuned") or not {"robustness", "drift"} & set(row.evals):
            continue
        try:  # the classifier's record ignores a steering coefficient: any stands in for the calibrated one
            check_unseen_method(path, row_model(row, exp_dir, coef=1.0))
        except ClassifierSawMethodError as err:
            problems.append(f"instruments.classifier.path: {err}")
    return problems


HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(:[\w./-]+)?$")


def missing_adapters(spec: ExperimentSpec) -> list[str]:
    """Local adapters a fine-tuned row names that are not there (hub ids are checked when they load)."""
    from experiments.plan import adapter_for

    problems = []
    for method in spec.methods:
        if method.kind != "fine-tuned":
            continue
        for base in spec.bases:
            for persona in spec.personas:
                adapter = adapter_for(method, base, persona)
                if adapter is None or Path(adapter.split(":")[0]).exists() or HUB_ID.match(adapter):
                    continue
                problems.append(
                    f"methods ({method.label}): adapter {adapter} for {base.label}/{persona} does not exist "
                    "(train it with `charbench train all`, or fix the template)"
                )
    return problems


def prepare_instruments(spec: ExperimentSpec, exp_dir: Path, rows: list[Row], display: str) -> Instruments:
    """Train or load the classifier, extract and calibrate the vectors: each once, stored in `exp_dir`."""
    from bench.robustness.validation import check_validated

    made = Instruments()
    classifier = spec.instruments.classifier
    for base in spec.bases:
        if classifier is None:
            break
        path = classifier.path or str(train_classifier_for(spec, base, exp_dir, display))
        check_validated(path, allow_weak=classifier.allow_weak)  # weak: stop here, before the rows run
        made.classifiers[base.label] = portable(path)
    for row in rows:
        method = row.method
        if method.kind != "steered" or row.persona is None:
            continue
        vector = steering_vector(method.vector or "extract", exp_dir, row.base, row.persona)
        if not vector.is_file():
            if method.vector != "extract":
                raise SpecError(f"methods ({method.label}): vector file {vector} does not exist")
            from trainers.steering import extract

            print(f"extracting the {row.persona} vector of {row.base.label} -> {portable(vector)}", flush=True)
            extract(row.persona, row.base.model.removeprefix("charbench/"), seed=spec.seed).save(vector)
        made.coefs[(row.base.label, row.persona, method.label)] = steering_coef(spec, row, vector)
    return made


def steering_coef(spec: ExperimentSpec, row: Row, vector: Path) -> float:
    """The declared coefficient, or the vector's calibrated one (calibrated now if it has none). A
    calibration that finds no coefficient refuses: scoring the base model as "steered" is not a row."""
    if row.method.coef != "calibrate":
        return float(row.method.coef)  # type: ignore[arg-type]
    from trainers.steering import SteeringVector

    calibration = SteeringVector.load(vector).metadata.get("calibration")
    if not calibration:
        from trainers.calibration import calibrate

        print(f"calibrating {portable(vector)}", flush=True)
        calibration = calibrate(vector, seed=spec.seed)
    coef = calibration.get("coef")
    if not coef:  # None (none found; older vectors recorded 0)
        raise SpecError(
            f"{row.name}: calibration of {portable(vector)} found no coefficient that raises the persona's "
            "similarity while staying fluent (its sweep is in the vector's .json): set "
            f"methods ({row.method.label}).coef to a number, or leave the steered method out"
        )
    return float(coef)


def classifier_models(spec: ExperimentSpec, base) -> dict[str, str | None]:
    """The models whose replies train a base's classifier: each persona's prompted method and, for the
    none class, the base itself; never a steered or fine-tuned row (`trainers.classifier.data_models`)."""
    from personas import list_personas
    from trainers.classifier import data_models

    t = spec.instruments.classifier.train
    personas = sorted(list_personas()) if t.personas == "all" else list(spec.personas)
    weights = base.model.removeprefix("charbench/") if base.ours else base.model
    return data_models(personas, weights, [], t.none_class)


def train_classifier_for(spec: ExperimentSpec, base, exp_dir: Path, display: str) -> Path:
    """The experiment's classifier for one base: trained on every persona's prompted replies and the
    base's own (`none`), never on a steered or fine-tuned model it will score (VALIDITY.md section 3)."""
    from trainers.classifier import (
        ClassifierConfig,
        generate_logs,
        read_rows,
        train_classifier,
    )

    assert spec.instruments.classifier is not None and spec.instruments.classifier.train is not None
    t = spec.instruments.classifier.train
    out = exp_dir / "classifiers" / base.label
    if (out / "labels.json").is_file():
        return out
    models = classifier_models(spec, base)
    print(f"training the classifier of {base.label}: {len(models)} models x {t.prompts} prompts", flush=True)
    logs = generate_logs(models, out.with_name(out.name + ".data"), t.prompts, t.max_tokens, spec.seed, display)
    rows, skipped = read_rows([str(p) for p in logs], none_class=t.none_class)
    sources = [f"{m} (bench/responses, training partition, {t.prompts} prompts)" for m in models]
    settings = ClassifierConfig(backbone=t.backbone, epochs=t.epochs, seed=spec.seed)
    train_classifier(rows, out, settings, sources, skipped)
    return out


def build_tasks(spec: ExperimentSpec, rows: list[Row], exp_dir: Path, made: Instruments) -> list:
    """One Inspect task per (row, eval), each with its row's model, roles and declared identity."""
    from inspect_ai import task_with

    models: dict[str, object] = {}

    def model_of(row: Row):
        coef = made.coefs.get((row.base.label, row.persona or "", row.method.label))
        name = row_model(row, exp_dir, coef=coef)
        if name not in models:
            models[name] = _model(name, row.base.model_args)
        return name, models[name]

    tasks = []
    for row in rows:
        name, model = model_of(row)
        roles: dict[str, object] = {}
        if spec.instruments.grader:
            roles["grader"] = spec.instruments.grader
        roles.update(spec.instruments.roles)
        for eval_name in row.evals:
            eval_roles = dict(roles)
            metadata = {
                "experiment": spec.experiment,
                "row": row.identity,
                "persona": row.persona,
                "method": row.method.label,
                "method_kind": row.method.kind,
                "method_persona": None if row.method.kind == "base" else row.persona,
                "base": row.base.label,
                "base_model": row.base.model,
                "seed": spec.seed,
            }
            if row.method.kind == "steered":  # the trust column names the coefficient and who chose it
                coef = made.coefs.get((row.base.label, row.persona or "", row.method.label))
                chosen = "declared" if row.method.coef != "calibrate" else "calibration"
                metadata["steering"] = {"coef": coef, "chosen_by": chosen}
            if eval_name == "coherence":
                baseline_row = coherence_baseline(spec, row)
                baseline_name, baseline_model = model_of(baseline_row)
                eval_roles["baseline"] = baseline_model
                metadata |= {"baseline": baseline_name, "baseline_method": baseline_row.method.label}
            task = contextvars.Context().run(_task, spec, row, eval_name, exp_dir, made)
            metadata = {**(task.metadata or {}), **metadata}  # the task's own facts (classifier, design) stay
            tasks.append(task_with(task, model=model, model_roles=eval_roles or None, metadata=metadata))
    return tasks


def _model(name: str, model_args: dict):
    from inspect_ai.model import GenerateConfig, get_model

    from bench.models.generation import server_extra_body

    extra = server_extra_body(name)
    config = GenerateConfig(extra_body=extra) if extra else GenerateConfig()
    return get_model(name, config=config, memoize=False, **model_args)


def design_targets(spec: ExperimentSpec) -> list[str]:
    """The planned design's target traits, the same for every row (the base's too), so that every
    comparison in the experiment stays paired: the declared list, or the union of the personas' own."""
    a = spec.evals.revealed_prefs
    if a is None or a.design is None:
        return []
    from bench.revealed_prefs.dataset import load_traits, planned_targets

    if a.design.targets != "experiment":
        declared = list(a.design.targets)
    else:
        from personas import load_persona

        declared = list(dict.fromkeys(t for name in spec.personas for t in load_persona(name).target_traits))
    return planned_targets(load_traits(a.traits), declared, a.design.share)  # only what the trait list has


def _task(spec: ExperimentSpec, row: Row, eval_name: str, exp_dir: Path, made: Instruments):
    """The eval's task with the spec's arguments (built in a fresh context: an earlier eval's active
    model would otherwise leak into the tasks' construction-time checks)."""
    e, seed = spec.evals, spec.seed
    classifier = made.classifiers.get(row.base.label)
    allow_weak = bool(spec.instruments.classifier and spec.instruments.classifier.allow_weak)
    if eval_name == "revealed_prefs":
        from bench.revealed_prefs.revealed_prefs import revealed_prefs

        a = e.revealed_prefs
        assert a is not None
        targets = design_targets(spec)
        return revealed_prefs(
            n=a.n, seed=seed, condition=a.condition, traits=a.traits, prompts=a.prompts, judge=a.judge,
            max_tokens=a.max_tokens, design_null=a.design_null, replicate=row.replicate,
            targets=",".join(targets) if targets else None, target_share=a.design.share if a.design else 0.0,
        )  # fmt: skip
    if eval_name == "capabilities":
        from bench.capabilities.capabilities import capabilities

        a = e.capabilities
        assert a is not None
        return capabilities(tasks=a.tasks, limit_per_task=a.limit_per_task, seed=seed)
    assert row.persona is not None and (classifier or eval_name == "coherence")
    if eval_name == "robustness":
        from bench.robustness.robustness import robustness

        a = e.robustness
        assert a is not None
        return robustness(
            persona=row.persona, classifier=classifier, split=a.split, prompts=a.prompts, n=a.n, seed=seed,
            max_tokens=a.max_tokens, allow_weak_classifier=allow_weak,
        )  # fmt: skip
    if eval_name == "drift":
        from bench.drift.drift import drift

        a = e.drift
        assert a is not None
        return drift(
            persona=row.persona, classifier=classifier, turns=a.turns, n=a.n, seed=seed, max_tokens=a.max_tokens,
            user_max_tokens=a.user_max_tokens, vector=drift_vector(spec, row, exp_dir), prompts=a.prompts,
            allow_weak_classifier=allow_weak,
        )  # fmt: skip
    from bench.coherence.coherence import coherence

    a = e.coherence
    assert a is not None
    return coherence(persona=row.persona, prompts=a.prompts, n=a.n, seed=seed, max_tokens=a.max_tokens)


def drift_vector(spec: ExperimentSpec, row: Row, exp_dir: Path) -> str | None:
    """One vector per (base, persona) for every method's activation score, so they share one scale."""
    assert spec.evals.drift is not None and row.persona is not None
    choice = spec.evals.drift.vector
    if choice is None or not row.base.ours:
        return None
    if choice == "steered":
        steered = [m for m in spec.methods if m.kind == "steered"]
        if not steered:
            return None
        path = steering_vector(steered[0].vector or "extract", exp_dir, row.base, row.persona)
    else:
        from experiments.spec import fill

        path = Path(fill(choice, base=row.base.label, persona=row.persona))
    return portable(path) if path.is_file() else None


def run_experiment(
    spec_path: str,
    log_dir: str | None = None,
    dry_run: bool = False,
    shard: str | None = None,
    only: str | None = None,
    max_tasks: int | None = None,
    display: str = "plain",
) -> dict:
    """Run (or plan) a spec; returns {"dir", "logs", "rows"}. Re-running resumes and appends."""
    spec = load_spec(spec_path)
    exp_dir = experiment_dir(spec, log_dir)
    rows = plan_rows(spec)
    if shard:
        k, n = parse_shard(shard)
        rows = rows[k - 1 :: n]
    problems = check_instruments(spec, rows, exp_dir)
    if dry_run:
        for line in describe_plan(spec, rows, exp_dir):
            print(line)
        for problem in problems:
            print(f"WILL NOT RUN: {problem}")
        if not problems:
            print("instruments: every size can validate")
        return {"dir": exp_dir, "logs": [], "rows": rows}
    if problems:
        raise SpecError(f"{spec_path}: {problems[0]}")
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    if shard and spec.instruments.classifier and spec.instruments.classifier.train:
        missing = [b.label for b in spec.bases if not (exp_dir / "classifiers" / b.label / "labels.json").is_file()]
        if missing:
            raise SpecError(
                f"--shard {shard}: the classifier of {missing[0]} is not trained yet; run "
                f"`charbench run {spec_path} --only instruments` once first, then the shards"
            )
    made = prepare_instruments(spec, exp_dir, rows, display)
    if only == "instruments":
        return {"dir": exp_dir, "logs": [], "rows": rows}
    tasks = build_tasks(spec, rows, exp_dir, made)
    warn_checkpoint_overlap(tasks)
    logs = run_tasks(tasks, exp_dir / "logs", max_tasks, display)
    from bench.models.vllm_engine import Engine

    # generation is over: stop an in-process vLLM engine now (frees its KV cache and gives torch back its
    # set_num_threads), not at interpreter exit (where, on a GPU, vLLM force-kills its engine-core
    # process and prints a warning after the run's summary)
    Engine.shutdown()
    write_rows_manifest(exp_dir, logs, shard)
    return {"dir": exp_dir, "logs": logs, "rows": rows}


def run_tasks(tasks: list, log_dir: Path, max_tasks: int | None, display: str) -> list:
    from inspect_ai import eval_set

    success, logs = eval_set(
        tasks,
        log_dir=str(log_dir),
        display=display,
        retry_attempts=1,
        log_dir_allow_dirty=True,
        max_tasks=max_tasks,
    )
    if not success:
        raise CharbenchError(f"the experiment did not finish: re-run the same command to resume ({log_dir})")
    return logs


def warn_checkpoint_overlap(tasks: list) -> None:
    """A fine-tuned row trained on an evaluation prompt is warned about here and recorded in its log."""
    from experiments.checks import train_eval_overlap, warn_overlap

    by_model: dict[str, list] = {}
    for task in tasks:
        by_model.setdefault(str(task.model), []).append(task)
    for model, group in by_model.items():
        overlap = train_eval_overlap(model, group)
        if overlap:
            warn_overlap(model, overlap)
            for task in group:
                task.metadata = {**(task.metadata or {}), "train_eval_overlap": overlap}


def write_rows_manifest(exp_dir: Path, logs: list, shard: str | None) -> Path:
    """Which log file holds which declared row and eval: the leaderboard reads exactly these."""
    entries = []
    for log in logs:
        meta = log.eval.metadata or {}
        entries.append(
            {"row": meta.get("row"), "task": log.eval.task, "log": Path(log.location).name, "status": log.status}
        )
    name = f"rows.{shard.replace('/', '-of-')}.json" if shard else "rows.json"
    path = exp_dir / name
    path.write_text(json.dumps(entries, indent=2))
    return path
