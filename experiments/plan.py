"""From a spec to its rows and their tasks: which model each (base, persona, method) is, what it runs.

A row's model name is derived here and only here (the `charbench/...` grammar of `bench.models.specs`).
The base method's persona-independent evals (revealed preferences, capabilities) run once per base
and serve every persona's table; everything else runs per persona. Nothing here runs a model: the
plan is what `--dry-run` prints and what the runner turns into Inspect tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charbench.errors import CharbenchError
from experiments.spec import Base, ExperimentSpec, Method, SpecError, fill

SHARED_EVALS = ("revealed_prefs", "capabilities")  # independent of the persona: once per base for the base row
PER_PERSONA_EVALS = ("robustness", "drift", "coherence")


@dataclass(frozen=True)
class Row:
    """One (base, persona, method) of the experiment. `persona` is None for the base method's shared
    evals, which every persona's table reads."""

    base: Base
    method: Method
    persona: str | None
    evals: tuple[str, ...]
    replicate: int = 0  # > 0: a rerun of the row on the same design with independent replies (test-retest)

    @property
    def identity(self) -> dict[str, str | int | None]:
        """What every log of the row carries as metadata: the row as the spec declares it."""
        identity: dict[str, str | int | None] = {
            "base": self.base.label,
            "persona": self.persona,
            "method": self.method.label,
            "kind": self.method.kind,
        }
        return identity | ({"replicate": self.replicate} if self.replicate else {})

    @property
    def name(self) -> str:
        retest = f" (retest {self.replicate})" if self.replicate else ""
        return f"{self.base.label}/{self.persona or '*'}/{self.method.label}{retest}"


def vector_path(exp_dir: Path, base: Base, persona: str) -> Path:
    """Where an extracted persona vector of the experiment lives."""
    return exp_dir / "vectors" / f"{base.label}-{persona}.safetensors"


def steering_vector(spec_vector: str, exp_dir: Path, base: Base, persona: str) -> Path:
    if spec_vector == "extract":
        return vector_path(exp_dir, base, persona)
    return Path(fill(spec_vector, base=base.label, persona=persona))


def adapter_for(method: Method, base: Base, persona: str) -> str | None:
    """The adapter of a fine-tuned method for this base and persona; None: no row (declared so)."""
    template = method.adapter
    if persona in method.adapter_overrides:
        template = method.adapter_overrides[persona]
        if template is None:
            return None
    if isinstance(template, dict):
        if base.label not in template:
            raise SpecError(
                f"methods ({method.label}).adapter has no entry for base {base.label}: add `{base.label}: <template>`"
            )
        template = template[base.label]
    assert template is not None
    return fill(template, base=base.label, persona=persona)


def row_model(row: Row, exp_dir: Path, coef: float | None = None) -> str:
    """The Inspect model name of a row; a steered row needs its coefficient (calibrated or declared)."""
    base, method, persona = row.base, row.method, row.persona
    ours = base.model.removeprefix("charbench/") if base.ours else None
    if method.kind == "base":
        return base.model
    assert persona is not None
    if method.kind == "prompted":
        return f"charbench/prompt/{persona}/{ours if ours is not None else base.model}"
    if method.kind == "steered":
        value = coef if coef is not None else method.coef
        if not isinstance(value, float | int):
            raise SpecError(f"{row.name}: the steering coefficient is not calibrated yet")
        layers = f"@{method.layers}" if method.layers else ""
        vector = steering_vector(method.vector or "extract", exp_dir, base, persona)
        return f"charbench/steer/{float(value):g}{layers}/{_portable(vector)}"
    adapter = adapter_for(method, base, persona)
    assert adapter is not None
    if ours is not None:
        return f"charbench/ft/{_portable(adapter)}"
    return f"{base.model}:{_portable(adapter)}"  # vllm/<base>:<adapter>, Inspect's LoRA spelling


def _portable(path: str | Path) -> str:
    """Files under the working directory are named relative to it: logs carry no machine path."""
    from charbench.paths import portable

    return portable(path)


def plan_rows(spec: ExperimentSpec) -> list[Row]:
    """Every row in a fixed order: base by base, the base row's shared evals first, then persona by
    persona in the spec's method order."""
    evals = spec.evals.names()
    coherence = spec.evals.coherence
    rows: list[Row] = []
    for base in spec.bases:
        base_method = spec.base_method()
        shared = tuple(e for e in evals if e in SHARED_EVALS)
        if shared and base_method is not None:
            rows.append(Row(base, base_method, None, shared))
            if "revealed_prefs" in shared and spec.evals.revealed_prefs and spec.evals.revealed_prefs.retest:
                rows.append(Row(base, base_method, None, ("revealed_prefs",), replicate=1))
        for persona in spec.personas:
            for method in spec.methods:
                if method.kind == "fine-tuned" and adapter_for(method, base, persona) is None:
                    continue
                mine = [e for e in evals if e in PER_PERSONA_EVALS or method.kind != "base"]
                if method.kind == "base":
                    mine = [e for e in mine if e not in SHARED_EVALS]
                no_baseline = method.label == getattr(coherence, "baseline", None) and base_method is None
                if "coherence" in mine and (method.kind == "base" or no_baseline):
                    mine.remove("coherence")  # the base is the reference, never judged against itself
                if mine:
                    rows.append(Row(base, method, persona, tuple(mine)))
    return rows


def coherence_baseline(spec: ExperimentSpec, row: Row) -> Row:
    """The row a row's replies are judged against: the declared baseline method, or the base for the
    baseline method's own row."""
    assert spec.evals.coherence is not None
    label = spec.evals.coherence.baseline
    method = spec.base_method() if row.method.label == label else spec.method(label)
    assert method is not None  # plan_rows gives the baseline row no coherence when there is no base
    return Row(row.base, method, row.persona, ())


def parse_shard(spec_text: str) -> tuple[int, int]:
    """`K/N` -> (K, N), 1-based; a one-line error otherwise."""
    try:
        k, n = (int(x) for x in spec_text.split("/"))
    except ValueError:
        raise SpecError(f"--shard {spec_text}: write K/N, e.g. --shard 1/4") from None
    if not 1 <= k <= n:
        raise SpecError(f"--shard {spec_text}: K must be between 1 and N")
    return k, n


def sample_counts(spec: ExperimentSpec, row: Row) -> dict[str, dict[str, int | None]]:
    """Per eval of a row: samples and generated tokens at most (replies of the model under test only;
    judges, user simulators and baselines are extra), computed from the same datasets the tasks use."""
    out: dict[str, dict[str, int | None]] = {}
    e = spec.evals
    for name in row.evals:
        if name == "revealed_prefs":
            assert e.revealed_prefs is not None
            n, tokens = e.revealed_prefs.n, e.revealed_prefs.max_tokens
            out[name] = {"samples": n, "tokens": n * tokens}
        elif name == "robustness":
            assert e.robustness is not None
            from bench.robustness.dataset import robustness_dataset

            dataset, _ = robustness_dataset(e.robustness.split, e.robustness.prompts, e.robustness.n, spec.seed)
            out[name] = {"samples": len(dataset), "tokens": len(dataset) * e.robustness.max_tokens}
        elif name == "coherence":
            assert e.coherence is not None
            out[name] = {"samples": e.coherence.n, "tokens": e.coherence.n * e.coherence.max_tokens}
        elif name == "drift":
            assert e.drift is not None
            replies = e.drift.n * e.drift.turns
            out[name] = {"samples": e.drift.n, "tokens": replies * e.drift.max_tokens}
        elif name == "capabilities":
            assert e.capabilities is not None
            from bench.capabilities.capabilities import parse_tasks

            tasks = parse_tasks(e.capabilities.tasks)
            limit = e.capabilities.limit_per_task
            out[name] = {"samples": limit * len(tasks) if limit else None, "tokens": None}
    return out


def classifier_check(spec: ExperimentSpec) -> str | None:
    """Whether a classifier trained at the spec's size can validate: the held-out prompts it would get
    (the same split the trainer makes) against the minimum; None when fine, else what to set."""
    classifier = spec.instruments.classifier
    if classifier is None or classifier.train is None:
        return None
    from bench.robustness.validation import MIN_HELD_OUT_PROMPTS

    prompts = classifier.train.prompts
    held_out = held_out_prompts(prompts, spec.seed)
    if held_out >= MIN_HELD_OUT_PROMPTS:
        return None
    need = next(
        (p for p in range(prompts + 1, 10 * prompts + 100) if held_out_prompts(p, spec.seed) >= MIN_HELD_OUT_PROMPTS),
        None,
    )
    return (
        f"classifier: {prompts} prompts -> {held_out} held out, {MIN_HELD_OUT_PROMPTS} needed: "
        f"set instruments.classifier.train.prompts >= {need or 'more'}"
        + (" (or allow_weak: true to score with it labelled weak)" if not classifier.allow_weak else "")
    )


def held_out_prompts(prompts: int, seed: int) -> int:
    """How many prompts the classifier trainer holds out when it trains on `prompts` training prompts:
    the same prompt draw and the same split (`trainers.classifier.split_rows`), no generation."""
    from bench.coherence.dataset import prompt_dataset
    from trainers.classifier import ClassifierConfig, split_rows

    dataset, _ = prompt_dataset("default", prompts, seed, name="responses", partition="train")
    rows = [{"prompt_sha": s.metadata["prompt_sha"], "text": ""} for s in dataset]
    try:
        _, held = split_rows(rows, ClassifierConfig().held_out, seed)
    except CharbenchError:  # too few prompts to hold any out
        return 0
    return len({r["prompt_sha"] for r in held})
