"""Persona vectors: extraction by contrast, application by forward hooks, coefficient calibration.

A vector file is `NAME.safetensors` (one direction per decoder layer, keys `layer.<i>`) beside
`NAME.json` (base model, layers, method, prompt-set hash, seed, norms, hidden size, calibration).
Hooks are hand-written: `steering-vectors` pins transformers<5 and `repeng` 0.4 fails under numpy 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charbench.errors import CharbenchError

PROMPTS_FILE = Path(__file__).parent / "data" / "steering_prompts.json"
METHODS = ("mean-diff", "pca-center")


class SteeringError(CharbenchError):
    """A vector file that is missing, malformed, or meant for another model."""


def decoder_layers(model: Any) -> Any:
    """The list of decoder blocks of a causal LM (Llama-style, GPT-2-style, or wrapped by PEFT)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for path in ("model.layers", "model.decoder.layers", "transformer.h", "gpt_neox.layers"):
        obj = inner
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise SteeringError(f"cannot find decoder layers in {type(inner).__name__}: steering supports Llama-style models")


def default_layers(num_layers: int) -> list[int]:
    """The middle 75% of layers (12.5% to 87.5% depth), as the reference."""
    lo, hi = round(0.125 * num_layers), round(0.875 * num_layers)
    return list(range(lo, max(hi, lo + 1)))


@dataclass
class SteeringVector:
    vectors: dict[int, Any]  # layer -> torch tensor [hidden]
    metadata: dict = field(default_factory=dict)

    @property
    def base_model(self) -> str:
        return self.metadata["base_model"]

    @property
    def layers(self) -> list[int]:
        return sorted(self.vectors)

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path).with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({f"layer.{i}": v.contiguous().float() for i, v in self.vectors.items()}, str(path))
        path.with_suffix(".json").write_text(json.dumps(self.metadata, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SteeringVector:
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise SteeringError(f"vector file {path} does not exist: run `charbench steer extract` first")
        meta_path = path.with_suffix(".json")
        if not meta_path.is_file():
            raise SteeringError(f"{meta_path} is missing: a vector needs its JSON metadata beside it")
        try:
            metadata = json.loads(meta_path.read_text())
            tensors = load_file(str(path))
        except Exception as err:
            raise SteeringError(f"{path}: cannot read the vector ({type(err).__name__}): re-run extraction") from None
        if "base_model" not in metadata:
            raise SteeringError(f"{meta_path}: field 'base_model' is missing: re-run extraction")
        return cls({int(k.split(".")[1]): v for k, v in tensors.items()}, metadata)

    def check_compatible(self, loaded: Any) -> None:
        size = next(iter(self.vectors.values())).shape[0]
        if size != loaded.hidden_size:
            raise SteeringError(
                f"vector has hidden size {size} but model {loaded.spec} has {loaded.hidden_size}: "
                f"extract a vector for this model"
            )
        if max(self.vectors) >= loaded.num_layers:
            raise SteeringError(f"vector uses layer {max(self.vectors)} but the model has {loaded.num_layers} layers")

    @contextlib.contextmanager
    def applied(self, model: Any, coef: float, layers: tuple[int, ...] | list[int] | None = None) -> Iterator[None]:
        """Add `coef * v[layer]` to each chosen decoder layer's output while inside the block."""
        chosen = list(layers) if layers else self.layers
        missing = [i for i in chosen if i not in self.vectors]
        if missing:
            raise SteeringError(f"no direction stored for layers {missing}: the vector has layers {self.layers}")
        blocks = decoder_layers(model)
        handles = []
        try:
            for i in chosen:
                handles.append(blocks[i].register_forward_hook(_adder(self.vectors[i], coef)))
            yield
        finally:
            for handle in handles:
                handle.remove()


def _adder(vector: Any, coef: float):
    cache: dict = {}

    def hook(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        key = (hidden.device, hidden.dtype)
        if key not in cache:
            cache[key] = (coef * vector).to(device=hidden.device, dtype=hidden.dtype)
        steered = hidden + cache[key]
        return (steered,) + tuple(output[1:]) if isinstance(output, tuple) else steered

    return hook


def contrast_prompts() -> tuple[list[str], list[str], str]:
    data = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))
    digest = hashlib.sha256(json.dumps([data["prompts"], data["openings"]]).encode()).hexdigest()[:12]
    return data["prompts"], data["openings"], digest


def _last_token_states(loaded: Any, texts: list[str], layers: list[int], batch_size: int) -> dict[int, Any]:
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    collected: dict[int, list] = {i: [] for i in layers}
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
        )
        with torch.inference_mode():
            out = model(**batch.to(model.device), output_hidden_states=True)
        for i in layers:
            collected[i].append(out.hidden_states[i + 1][:, -1, :].float().cpu())  # output of decoder layer i
    return {i: torch.cat(v) for i, v in collected.items()}


def steering_direction(diffs: Any, method: str) -> Any:
    """The steering direction for one layer from `diffs` [pairs, hidden], rows = with - without.

    mean-diff: `diffs.mean(0)`, the average persona shift.

    pca-center: what repeng (vgel/repeng, `read_representations`) calls `pca_center`. repeng
    subtracts each pair's midpoint and fits a PCA to the rows +d/2 and -d/2; those rows have mean
    zero, so their first principal component is the first principal direction of the *uncentred*
    differences, i.e. the top right singular vector v of `diffs` itself. (Centring the differences
    first would be repeng's `pca_diff`: it finds where the pairs disagree most, not the shift they
    share.) v is then multiplied by `mean @ v`, the mean difference's projection on it, which fixes
    its sign (the direction points along the mean shift, i.e. the with-persona states project higher
    on average; repeng instead takes the sign most pairs agree on) and scales it so that coefficient
    1 is the typical persona shift, as for mean-diff. If that projection is zero the sign is
    undefined and v is scaled by the mean difference's norm.
    """
    import torch

    if method not in METHODS:
        raise SteeringError(f"method '{method}': use one of {', '.join(METHODS)}")
    if diffs.ndim != 2 or diffs.shape[0] == 0:
        raise SteeringError(f"differences must be a non-empty [pairs, hidden] matrix, got shape {tuple(diffs.shape)}")
    mean = diffs.mean(0)
    if method == "mean-diff":
        return mean
    _, _, vh = torch.linalg.svd(diffs, full_matrices=False)
    pc = vh[0]
    projection = float(mean @ pc)
    return pc * (projection if abs(projection) > 1e-8 else float(mean.norm()))


def extract(
    persona_name: str,
    model_spec: str,
    layers: list[int] | None = None,
    method: str = "mean-diff",
    seed: int = 0,
    batch_size: int = 8,
) -> SteeringVector:
    """One direction per layer from the base with vs without the persona's system prompt.

    The differences are (with - without) last-token states, one row per contrast pair; see
    `steering_direction` for what each method computes from them.
    """
    from bench.models.generation import render_chat
    from bench.models.loader import load_causal_lm
    from personas import load_persona
    from personas.prompting import constitution_system_prompt

    if method not in METHODS:
        raise SteeringError(f"method '{method}': use one of {', '.join(METHODS)}")
    persona = load_persona(persona_name)
    loaded = load_causal_lm(model_spec)
    layers = layers or default_layers(loaded.num_layers)
    bad = [i for i in layers if not 0 <= i < loaded.num_layers]
    if bad:
        raise SteeringError(f"layers {bad} do not exist: {model_spec} has layers 0..{loaded.num_layers - 1}")
    prompts, openings, digest = contrast_prompts()
    rng = random.Random(seed)
    chosen_openings = [rng.choice(openings) for _ in prompts]
    system = constitution_system_prompt(persona)
    with_persona = [
        render_chat(loaded.tokenizer, [{"role": "system", "content": system}, {"role": "user", "content": p}]) + o
        for p, o in zip(prompts, chosen_openings)
    ]
    without = [
        render_chat(loaded.tokenizer, [{"role": "user", "content": p}]) + o for p, o in zip(prompts, chosen_openings)
    ]
    pos = _last_token_states(loaded, with_persona, layers, batch_size)
    neg = _last_token_states(loaded, without, layers, batch_size)
    vectors, norms = {}, {}
    for i in layers:
        direction = steering_direction(pos[i] - neg[i], method)
        vectors[i] = direction
        norms[str(i)] = float(direction.norm())
    metadata = {
        "persona": persona.name,
        "base_model": model_spec,
        "layers": layers,
        "method": method,
        "prompt_set_hash": digest,
        "pairs": len(prompts),
        "seed": seed,
        "norms": norms,
        "hidden_size": loaded.hidden_size,
        "calibration": None,
    }
    return SteeringVector(vectors, metadata)
