"""Persona vectors as evaluation reads them: the file format, application by forward hooks, and the
contrast prompts. Extraction (trainers/steering.py) writes these files; everything that runs a steered
model or projects activations on a vector (bench/) reads them from here, so bench/ never imports trainers/.

A vector file is `NAME.safetensors` (one direction per decoder layer, keys `layer.<i>`) beside
`NAME.json` (base model, layers, method, prompt-set hash, seed, norms, hidden size, calibration).
Hooks are hand-written: `steering-vectors` pins transformers<5 and `repeng` 0.4 fails under numpy 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charbench.errors import CharbenchError

PROMPTS_FILE = Path(__file__).parent / "data" / "steering_prompts.json"


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
