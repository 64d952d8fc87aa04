"""`charbench train all`: distill -> dpo -> merge -> introspect -> sft -> combine (-> score).

The final model is the reference's: one LoRA adapter on the base, its DPO adapter and its introspection
SFT adapter (trained on the DPO-merged model) combined with weights 1.0 and 0.25 (`combine_weights`,
`combination_type`; `combine_weights: null` merges the SFT adapter into the DPO-merged model instead).
`dpo-adapter/` is the DPO-only model, `persona-adapter/` (or `final/`) the DPO + introspection one.
`charbench train all` then scores the checkpoint with the same suite as every method.

One YAML file (or CLI flags) holds every setting; the resolved config is written next to the final
checkpoint, and the checkpoint is scored by the same bench tasks as every other method. Between
stages `release_generation` frees the vLLM engine and the cached models, so each stage (training
included) starts on an empty GPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from charbench.errors import CharbenchError
from trainers.backend import release_generation
from trainers.distill import DistillConfig, distill
from trainers.finetune import REFERENCE_COMBINATION, DPOSettings, SFTSettings, combine, merge, train_dpo, train_sft
from trainers.introspect import IntrospectConfig, introspect


@dataclass
class PipelineConfig:
    persona: str
    base: str
    teacher: str | None = None  # default: the base model itself with the constitution
    out: str = "results/checkpoints"
    repeats: int = 5
    prompt_limit: int | None = None
    max_new_tokens: int = 1024
    # introspection's reflections and self-interaction turns (None: max_new_tokens). Distillation drops a
    # pair whose reply hit the limit, introspection keeps it (counted): the two can need different lengths.
    introspection_max_new_tokens: int | None = None
    reflection_samples: int = 1000
    conversations: int = 2000
    turns: int = 10
    seed: int = 0
    min_distinct: float = 0.9  # trainers.diversity.MIN_DISTINCT: the collapse stop of both data stages
    # the final adapter: DPO and SFT adapters combined with these weights (the reference's), or None: merge
    combine_weights: tuple[float, float] | None = REFERENCE_COMBINATION["weights"]
    combination_type: str = REFERENCE_COMBINATION["combination_type"]
    dpo: DPOSettings = field(default_factory=DPOSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    score: dict = field(default_factory=dict)  # SuiteConfig overrides for the final scoring

    @classmethod
    def from_yaml(cls, path: str, **overrides) -> PipelineConfig:
        file = Path(path)
        if not file.is_file():
            raise CharbenchError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError:
            raise CharbenchError(f"{path}: not valid YAML") from None
        return cls.from_dict({**data, **{k: v for k, v in overrides.items() if v is not None}}, source=path)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> PipelineConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CharbenchError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}")
        try:
            dpo = DPOSettings(**data.pop("dpo", {}) or {})
            sft = SFTSettings(**data.pop("sft", {}) or {})
        except TypeError as err:
            raise CharbenchError(f"{source}: {err}") from None
        if "persona" not in data or "base" not in data:
            raise CharbenchError(f"{source}: 'persona' and 'base' are required")
        return cls(**data, dpo=dpo, sft=sft)


def run_pipeline(config: PipelineConfig) -> dict:
    """Train; returns {"checkpoint": the final adapter, "dpo_adapter": the DPO-only one}. Scoring is the
    caller's (`charbench train all` runs the suite on the checkpoint through an experiment spec)."""
    from personas import load_persona

    load_persona(config.persona)
    root = Path(config.out) / f"{config.persona}-{Path(config.base).name}"
    root.mkdir(parents=True, exist_ok=True)
    teacher = config.teacher or config.base
    distill(
        DistillConfig(
            persona=config.persona,
            teacher=teacher,
            student=config.base,
            out=str(root / "distill"),
            repeats=config.repeats,
            limit=config.prompt_limit,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
            min_distinct=config.min_distinct,
        )
    )
    release_generation()  # each stage starts on an empty GPU: the engines and models before it are freed
    dpo_adapter = train_dpo(str(root / "distill" / "pairs.jsonl"), config.base, str(root / "dpo-adapter"), config.dpo)
    dpo_model = merge(str(dpo_adapter), str(root / "dpo-merged"))
    release_generation()
    introspect(
        IntrospectConfig(
            persona=config.persona,
            model=str(dpo_model),
            out=str(root / "introspect"),
            reflection_samples=config.reflection_samples,
            conversations=config.conversations,
            turns=config.turns,
            max_new_tokens=config.introspection_max_new_tokens or config.max_new_tokens,
            seed=config.seed,
            min_distinct=config.min_distinct,
        )
    )
    release_generation()
    sft_adapter = train_sft(
        str(root / "introspect" / "sft.jsonl"), str(dpo_model), str(root / "sft-adapter"), config.sft
    )
    if config.combine_weights is not None:
        weights = tuple(float(w) for w in config.combine_weights)
        final = combine(
            [str(dpo_adapter), str(sft_adapter)], str(root / "persona-adapter"), weights, config.combination_type
        )
    else:
        final = merge(str(sft_adapter), str(root / "final"))
    release_generation()
    resolved = asdict(config)
    (final / "charbench_pipeline.json").write_text(json.dumps(resolved, indent=2))
    (root / "config.resolved.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    return {"checkpoint": str(final), "dpo_adapter": str(dpo_adapter)}
