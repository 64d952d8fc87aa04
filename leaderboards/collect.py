"""Turn a directory of Inspect logs into one table: rows = base model x persona x method.

A log written by `charbench run` carries its row as the spec declared it (`row` metadata: base label,
persona, method label, kind), and that is the row, whatever the model's name; in an experiment
directory only the logs its `rows*.json` manifests name are read, so the base row that shifts are
measured against is the experiment's declared one, never the newest file on disk. A log from a plain
`inspect eval` is placed by its model name (`describe_model`: an adapter's base from its
`adapter_config.json`). The base method's persona-independent logs (`persona: null`) serve the base
row of every persona on that base.

Nothing is recomputed from anything but the logs: headline metrics come from each log's results,
and the quantities that span logs (Spearman against the base model's ranking, macro-F1 across
personas) are recomputed from the per-sample scores stored in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log

from bench.logs import judges_used, log_metrics
from bench.models.specs import describe_model
from charbench.errors import CharbenchError
from charbench.paths import shown
from experiments.spec import KINDS


@dataclass
class RunLogs:
    """The newest successful log of each task for one (base, persona, method) row."""

    base: str
    persona: str
    method: str
    model: str
    kind: str = ""  # base | prompted | steered | fine-tuned (the method label may be anything)
    prefs: EvalLog | None = None
    prefs_retest: EvalLog | None = None  # the base row's second run on the same design (test-retest)
    robustness: EvalLog | None = None
    capabilities: EvalLog | None = None
    drift: EvalLog | None = None
    coherence: dict[str, EvalLog] = field(default_factory=dict)  # baseline method -> log

    def logs(self) -> list[EvalLog]:
        """Every log the row has (the base row's shared tournament and capabilities included)."""
        logs = [self.prefs, self.prefs_retest, self.robustness, self.capabilities, self.drift]
        return [log for log in [*logs, *self.coherence.values()] if log is not None]


def _identity(log: EvalLog, log_dir: str | Path) -> tuple[str, str | None, str, str]:
    """(base, persona, method, kind): declared by the spec when the log has a `row`, else from the
    model name, with machine paths in a local base's name made relative (`shown`)."""
    meta = log.eval.metadata or {}
    row = meta.get("row")
    if isinstance(row, dict) and row.get("base") and row.get("method"):
        return str(row["base"]), row.get("persona"), str(row["method"]), str(row.get("kind") or row["method"])
    info = describe_model(log.eval.model)
    persona = meta.get("persona") or log.eval.task_args.get("persona") or info["persona"] or "-"
    base = shown(meta.get("base") or info["base"] or "?", log_dir)
    method = meta.get("method") or info["method"]
    return base, persona, method, method if method in KINDS else "?"


def _manifest_logs(log_dir: Path) -> set[str] | None:
    """The log file names an experiment's manifests list (None: not an experiment directory)."""
    import json

    root = log_dir.parent if log_dir.name == "logs" else log_dir
    manifests = sorted(root.glob("rows*.json"))
    if not manifests:
        return None
    return {entry["log"] for m in manifests for entry in json.loads(m.read_text())}


def logs_dir(path: str | Path) -> Path:
    """An experiment directory's `logs/`, or the directory itself."""
    path = Path(path)
    return path / "logs" if (path / "logs").is_dir() and (path / "spec.yaml").is_file() else path


def collect(log_dir: str | Path) -> dict[tuple[str, str, str], RunLogs]:
    """The log of each task per row (in an experiment: the one its manifest names; elsewhere the newest
    successful one); names carry no absolute path of the machine that wrote the logs (vector files,
    local checkpoints: relative to the log dir or repo, else file names)."""
    log_dir = logs_dir(log_dir)
    listed = _manifest_logs(log_dir)
    runs: dict[tuple[str, str, str], RunLogs] = {}
    shared: list[tuple[tuple[str, str, str], EvalLog]] = []
    infos = sorted(list_eval_logs(str(log_dir), recursive=True), key=lambda i: i.mtime or 0)
    for info in infos:
        if listed is not None and Path(info.name).name not in listed:
            continue
        log = read_eval_log(info, header_only=True)
        if log.status != "success":
            continue
        base, persona, method, kind = _identity(log, log_dir)
        if persona is None:  # the base row's persona-independent evals: every persona's table reads them
            shared.append(((base, method, kind), log))
            continue
        _place(runs, (base, persona, method), kind, log, log_dir)
    personas_of: dict[str, set[str]] = {}
    for base, persona, _ in runs:
        personas_of.setdefault(base, set()).add(persona)
    for (base, method, kind), log in shared:
        for persona in sorted(personas_of.get(base) or {"-"}):
            _place(runs, (base, persona, method), kind, log, log_dir)
    return runs


def _place(runs: dict, key: tuple[str, str, str], kind: str, log: EvalLog, log_dir: Path) -> None:
    run = runs.setdefault(key, RunLogs(*key, model=shown(log.eval.model, log_dir), kind=kind))
    task = log.eval.task
    if task.endswith("revealed_prefs") and (log.eval.task_args or {}).get("replicate"):
        run.prefs_retest = log
    elif task.endswith("revealed_prefs"):
        run.prefs = log
    elif task.endswith("robustness"):
        run.robustness = log
    elif task.endswith("capabilities"):
        run.capabilities = log
    elif task.endswith("drift"):
        run.drift = log
    elif task.endswith("coherence"):
        baseline = (log.eval.metadata or {}).get("baseline_method")
        if baseline is None:
            roles = log.eval.model_roles or {}
            baseline = describe_model(roles["baseline"].model)["method"] if "baseline" in roles else "log"
        run.coherence[baseline] = log


def _metadata(run: RunLogs, key: str) -> list:
    """`key` from the run metadata of each of a row's logs that records it."""
    return [(log.eval.metadata or {})[key] for log in run.logs() if key in (log.eval.metadata or {})]


class _FullLogs:
    """Each log read with its samples at most once per build (the base model's log serves every row)."""

    def __init__(self) -> None:
        self._logs: dict[str, EvalLog] = {}

    def __call__(self, log: EvalLog) -> EvalLog:
        if log.location not in self._logs:
            self._logs[log.location] = read_eval_log(log.location)
        return self._logs[log.location]


def build_table(
    runs: dict[tuple[str, str, str], RunLogs], bootstrap: int | None = None, force: bool = False
) -> tuple[pd.DataFrame, dict]:
    """The leaderboard table, plus each row's trait-shift comparison against its base (for plots).

    The Spearman against the base is computed only when the two tournaments are comparable (judge,
    condition, traits, prompt set, seed policy); otherwise the cell stays empty and
    `prefs_vs_base` says why, unless `force`, which computes it and labels it FORCED. The base row's
    second run on its design (`retest`), where the experiment declared one, gives the test-retest
    ceiling of every Spearman against that base; `prefs_retest` says when there is none.
    """
    from bench.revealed_prefs.compare import (
        comparable,
        compare_frames,
        log_facts,
        matches_from_log,
        persona_targets,
    )
    from bench.revealed_prefs.validity import DRAWS, MULTIPLICITY
    from bench.robustness.report import rows_from_logs, split_scores

    full = _FullLogs()

    bootstrap = bootstrap or DRAWS
    base_prefs: dict[str, EvalLog] = {}
    base_retest: dict[str, EvalLog] = {}
    base_capabilities: dict[str, EvalLog] = {}
    for run in runs.values():
        if run.kind == "base" and run.prefs is not None:
            base_prefs[run.base] = run.prefs
        if run.kind == "base" and run.prefs_retest is not None:
            base_retest[run.base] = run.prefs_retest
        if run.kind == "base" and run.capabilities is not None:
            base_capabilities[run.base] = run.capabilities
    # macro-F1 over personas, for methods whose robustness logs cover every classifier label
    coverage: dict[tuple[str, str], list[EvalLog]] = {}
    for run in runs.values():
        if run.robustness is not None:
            coverage.setdefault((run.base, run.method), []).append(run.robustness)
    macro: dict[tuple[str, str], dict[str, dict]] = {}
    for key, logs in coverage.items():
        labels = set((logs[0].eval.metadata or {}).get("labels") or [])
        personas = {lg.eval.task_args.get("persona") for lg in logs}
        if labels and labels - {"none"} <= personas:
            frame = rows_from_logs([lg.location for lg in logs])
            # the same definition as `charbench robustness report` (cluster bootstrap by prompt)
            # over the persona labels only: `none` is never a true label, so its F1 would be 0 by construction
            macro[key] = {r["split"]: r for r in split_scores(frame, sorted(labels - {"none"}))}
    rows, shifts = [], {}
    for run in sorted(runs.values(), key=lambda r: (r.base, r.persona, r.method)):
        row: dict[str, object] = {
            "base": run.base,
            "persona": run.persona,
            "method": run.method,
            "kind": run.kind,
            "model": run.model,
        }
        if run.prefs is not None:
            m = log_metrics(run.prefs)
            row.update(
                prefs_matchups=m.get("matchups"),
                prefs_valid=m.get("valid"),
                prefs_invalid_rate=m.get("invalid_rate"),
                prefs_prompts=m.get("prompts"),
                prefs_spread=m.get("spread"),
                prefs_spread_null=m.get("spread_null"),  # the design null (NaN: the log predates it)
                prefs_spread_corrected=m.get("spread_corrected"),
                prefs_spread_corrected_lo=m.get("spread_corrected_lo"),
                prefs_spread_corrected_hi=m.get("spread_corrected_hi"),
                prefs_spread_coinflip=m.get("spread_coinflip"),
                prefs_reliability=m.get("reliability"),
                prefs_reliability_lo=m.get("reliability_lo"),
                prefs_reliability_hi=m.get("reliability_hi"),
                prefs_judge=judges_used(full(run.prefs), "trait_judge"),
                prefs_judge_accuracy=m.get("judge_accuracy"),
                prefs_judge_accuracy_lo=m.get("judge_accuracy_lo"),
                prefs_judge_status=_judge_status(m),
            )
            reference = base_prefs.get(run.base)
            if reference is not None and run.kind != "base":
                differ = comparable(log_facts(full(reference)), log_facts(full(run.prefs)), force=True)
                row["prefs_vs_base"] = (
                    "comparable" if not differ else f"{'FORCED' if force else 'not comparable'}: {', '.join(differ)}"
                )
                try:
                    if differ and not force:
                        raise CharbenchError(f"not comparable with the base ({', '.join(differ)})")
                    retest = base_retest.get(run.base)
                    result = compare_frames(
                        matches_from_log(full(reference))[0],
                        matches_from_log(full(run.prefs))[0],
                        n=bootstrap,
                        targets=persona_targets(run.persona, missing_ok=True),
                        retest=None if retest is None else matches_from_log(full(retest))[0],
                        reliability=False,  # each log's own metrics carry it
                    )
                    shifts[(run.base, run.persona, run.method)] = result
                    row.update(
                        prefs_unit=result["unit"],
                        prefs_spearman_vs_base=result["spearman"],
                        prefs_spearman_lo=result["spearman_ci"][0],
                        prefs_spearman_hi=result["spearman_ci"][1],
                        prefs_shifts_surviving=result["survivors"],
                        prefs_shifts_tested=result["traits"],  # traits in enough prompts of both logs
                        prefs_multiplicity=MULTIPLICITY,
                    )
                    if result["retest"] is None:
                        row["prefs_retest"] = "none: declare retest: true under evals.revealed_prefs"
                    else:
                        row.update(
                            prefs_retest="base rerun on its design",
                            prefs_retest_spearman=result["retest"]["spearman"],
                            prefs_retest_spearman_lo=result["retest"]["ci"][0],
                            prefs_retest_spearman_hi=result["retest"]["ci"][1],
                        )
                    row.update(_target_cells(result["target"]))
                except CharbenchError as err:  # an empty cell says why, never an invented number
                    row["prefs_target_shift_why"] = str(err)
        if run.robustness is not None:
            row.update(_robustness_cells(run.robustness, macro.get((run.base, run.method), {})))
        if run.capabilities is not None:
            row.update(_capability_cells(run, base_capabilities.get(run.base), full))
        if run.drift is not None:
            row.update(_drift_cells(run.drift))
            if run.robustness is None:
                row.update(_classifier_cells(run.drift))
        steering = next((s for s in _metadata(run, "steering") if isinstance(s, dict)), None)
        if steering is not None:
            row.update(steer_coef=steering.get("coef"), steer_coef_chosen_by=steering.get("chosen_by"))
        for baseline, log in sorted(run.coherence.items()):
            m = log_metrics(log)
            row.update(
                {
                    f"coh_win_vs_{baseline}": m.get("win_rate"),
                    f"coh_win_vs_{baseline}_lo": m.get("win_rate_lo"),
                    f"coh_win_vs_{baseline}_hi": m.get("win_rate_hi"),
                    f"coh_consistency_vs_{baseline}": m.get("consistency_rate"),
                    f"coh_invalid_rate_vs_{baseline}": m.get("invalid_rate"),
                    f"coh_pairs_vs_{baseline}": m.get("pairs"),
                    "coh_judge": judges_used(full(log), "pairwise_judge"),
                    "coh_judge_status": _judge_status(m),
                    "coh_judge_accuracy": m.get("judge_accuracy"),
                    "coh_judge_accuracy_lo": m.get("judge_accuracy_lo"),
                    "coh_judge_accuracy_hi": m.get("judge_accuracy_hi"),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows), shifts


def _target_cells(target: dict | None) -> dict[str, object]:
    """The target-trait shift (see `bench.revealed_prefs.compare.target_shift`): mean change of the
    persona's target traits with its bootstrap interval, their mean rank among all changes and its p."""
    if target is None:
        return {}
    from bench.revealed_prefs.compare import unrated

    why = (
        {"prefs_target_shift_why": f"no target trait has an interval: {unrated(target)}"} if not target["rated"] else {}
    )
    return {
        **why,
        "prefs_targets": ",".join(target["rated"]) or None,
        "prefs_targets_not_rated": ",".join(target["missing"]) or None,
        "prefs_targets_too_sparse": ",".join(target["sparse"]) or None,
        "prefs_target_shift": target["delta"],
        "prefs_target_shift_lo": target["lo"],
        "prefs_target_shift_hi": target["hi"],
        "prefs_target_mean_rank": target["mean_rank"],
        "prefs_target_rank_of": target["of"],
        "prefs_target_rank_p": target["rank_p"],
    }


def _robustness_cells(log: EvalLog, macro: dict[str, dict]) -> dict[str, object]:
    """Accuracy per split with 95% intervals, macro-F1 across personas where every label was scored,
    and beside them the classifier's own record (`_classifier_cells`)."""
    m = log_metrics(log)
    cells = _classifier_cells(log)
    for split, short in (("normal", "normal"), ("adversarial", "adv"), ("multiturn", "multiturn")):
        cells.update(
            {
                f"robust_{short}_acc": m.get(f"{split}_accuracy"),
                f"robust_{short}_lo": m.get(f"{split}_accuracy_lo"),
                f"robust_{short}_hi": m.get(f"{split}_accuracy_hi"),
                f"robust_{short}_se": m.get(f"{split}_accuracy_se"),
                f"robust_{short}_n": m.get(f"{split}_n"),
            }
        )
        if split in macro:
            cells.update(
                {
                    f"robust_macro_f1_{short}": macro[split]["macro_f1"],
                    f"robust_macro_f1_{short}_lo": macro[split]["lo"],
                    f"robust_macro_f1_{short}_hi": macro[split]["hi"],
                }
            )
    cells["robust_samples"] = sum(m.get(f"{s}_n") or 0 for s in ("normal", "adversarial", "multiturn"))
    return cells


def _classifier_cells(log: EvalLog) -> dict[str, object]:
    """The classifier behind a robustness or drift log: its held-out validation and status (validated /
    weak / unknown), its held-out accuracy per method it learned and its score on the shipped labelled texts."""
    clf = (log.eval.metadata or {}).get("classifier")
    clf = clf if isinstance(clf, dict) else {}  # older logs stored only the path
    validation = clf.get("validation") or {}
    labelled = clf.get("labelled") or {}
    return {
        "classifier": clf.get("name") or Path(str(log.eval.task_args.get("classifier", ""))).name,
        "classifier_status": clf.get("status", "unknown"),
        "classifier_macro_f1": validation.get("macro_f1"),
        "classifier_macro_f1_lo": validation.get("macro_f1_lo"),
        "classifier_macro_f1_hi": validation.get("macro_f1_hi"),
        "classifier_chance": validation.get("chance_macro_f1"),
        "classifier_methods": ",".join(sorted(clf.get("methods") or {})) or None,
        "classifier_held_out": _by_method_text(clf.get("held_out_by_method") or {}),
        "classifier_labelled_acc": labelled.get("accuracy"),
        "classifier_labelled_lo": labelled.get("accuracy_lo"),
        "classifier_labelled_hi": labelled.get("accuracy_hi"),
        "classifier_labelled_n": labelled.get("texts"),
        # a classifier that records every model it learned is checked by the tasks: the scored model is unseen
        "classifier_models_recorded": "yes" if clf.get("models") is not None else "no",
    }


def _by_method_text(figures: dict[str, dict]) -> str | None:
    """The classifier's held-out accuracy per method it learned, e.g. "prompted 0.55 [0.40, 0.70] (n=60)"."""
    parts = [
        f"{method} {f['accuracy']:.2f} [{f['accuracy_lo']:.2f}, {f['accuracy_hi']:.2f}] (n={f['texts']})"
        for method, f in sorted(figures.items())
        if f.get("accuracy") is not None
    ]
    return "; ".join(parts) or None


def _drift_cells(log: EvalLog) -> dict[str, object]:
    """bench/drift's summary (`bench.drift.metrics.curve_summary`) under `drift_`: turns and
    conversations, AUC, slope and threshold turn of the classifier's p(persona) (`text_`) and of the
    persona-vector z-score (`act_`, only where activations were reachable), the per-turn means, each
    with its interval over conversations, and invalid turns by reason."""
    m = log_metrics(log)
    keep = ("text_", "act_", "invalid/", "activation_absent/")
    cells: dict[str, object] = {"drift_turns": m.get("turns"), "drift_conversations": m.get("conversations")}
    cells.update({f"drift_{k}": v for k, v in m.items() if k.startswith(keep) and not k.endswith("_se")})
    return cells


def _judge_status(metrics: dict) -> str:
    """'validated', 'unvalidated' (interval not above the threshold), or 'unknown' (older logs)."""
    if metrics.get("judge_validated") is None:
        return "unknown"
    return "validated" if metrics["judge_validated"] else "unvalidated"


def _parsable(m: dict) -> tuple[int, int]:
    """(answers parsed, questions) over a capabilities log's benchmarks, from its metrics."""
    tasks = {k.split("/", 1)[0] for k in m if k.endswith("/n")}
    answered = sum(int(m.get(f"{t}/n", 0)) for t in tasks)
    unusable = sum(int(m.get(f"{t}/unparsed", 0)) + int(m.get(f"{t}/empty", 0)) for t in tasks)
    return answered - unusable, answered


def _capability_cells(run: RunLogs, base: EvalLog | None, full: _FullLogs) -> dict[str, object]:
    """Accuracy per benchmark with its Wilson interval, and the paired change against the base model."""
    from bench.capabilities.report import mean_delta, paired_deltas

    m = log_metrics(run.capabilities)
    parsable, answered = _parsable(m)
    cells: dict[str, object] = {"cap_parsable": parsable, "cap_answered": answered}
    for task in sorted({k.split("/", 1)[0] for k in m if k.endswith("/accuracy")}):
        cells.update(
            {
                f"cap_{task}_acc": m.get(f"{task}/accuracy"),
                f"cap_{task}_lo": m.get(f"{task}/accuracy_lo"),
                f"cap_{task}_hi": m.get(f"{task}/accuracy_hi"),
                f"cap_{task}_n": m.get(f"{task}/n"),
                f"cap_{task}_unparsed": m.get(f"{task}/unparsed"),
            }
        )
    if base is not None and run.kind != "base":
        unusable = [
            f"{label}: {parsable} of {answered} answers parsable"
            for label, log in (("method", run.capabilities), ("base", base))
            for parsable, answered in [_parsable(log_metrics(log))]
            if answered and not parsable
        ]
        overall = None if unusable else mean_delta(full(run.capabilities), full(base))
        if unusable:  # an instrument failure is a reason, never "+0.000 [+0.000, +0.000]"
            cells["cap_delta_vs_base_why"] = "; ".join(unusable)
        elif overall is None:
            cells["cap_delta_vs_base_why"] = "no question answered by both the method and the base"
        if overall is not None:
            cells.update(
                cap_delta_vs_base=overall["delta"],
                cap_delta_lo=overall["lo"],
                cap_delta_hi=overall["hi"],
                cap_delta_benchmarks=overall["benchmarks"],
                cap_delta_n=overall["n"],
            )
        for task, d in ({} if unusable else paired_deltas(full(run.capabilities), full(base))).items():
            cells.update(
                {
                    f"cap_{task}_delta_vs_base": d["delta"],
                    f"cap_{task}_delta_lo": d["lo"],
                    f"cap_{task}_delta_hi": d["hi"],
                }
            )
    return cells
