"""Per-turn persona score in activations: projection of an assistant turn onto a persona vector.

Definitions (stated the same way in bench/drift/README.md):

- **raw projection** of an assistant turn: the model under test reads the conversation up to that
  turn exactly as it saw it when replying (its persona system prompt included, its steering hooks
  applied), followed by the reply; at each of the vector's layers l, the output of decoder layer l at
  every reply token is projected on the unit vector v_l / |v_l|; the score is the mean over reply
  tokens, then over layers.
- **base reference**: the base model (no persona prompt, no steering, a LoRA adapter switched off)
  reads the vector's own contrast set, the 60 prompts of `charbench steer extract` each followed by
  its reply opening (paired by the vector's seed), without the persona's system prompt; the raw
  projection of each opening gives a distribution with mean mu and SD sd. The same texts read *with*
  the persona's system prompt give `persona_mean`. The reference depends only on the vector and the
  base weights, never on the method or its replies, so every method scored with one vector is on one
  scale.
- **z-score** of a turn: (raw - mu) / sd. 0 is the base model's neutral assistant; `persona_z` =
  (persona_mean - mu) / sd is where the prompted base sits on the same scale.

The vector file format, the decoder-layer lookup and the contrast prompts come from
`bench.models.steering`, the same code that steers the provider's models.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.models.generation import Messages, render_chat

_references: dict[tuple, dict] = {}
_reference_lock = threading.Lock()


def reply_projection(
    loaded: Any,
    vector: Any,
    history: Messages,
    reply: str,
    intervention: Callable[[], Any] | None = None,
) -> float | None:
    """The raw projection of `reply` after `history` (None for an empty reply)."""
    prefix = render_chat(loaded.tokenizer, history)
    return _projection(loaded, vector, prefix, reply, intervention)


def _projection(
    loaded: Any, vector: Any, prefix: str, reply: str, intervention: Callable[[], Any] | None = None
) -> float | None:
    import torch

    from bench.models.generation import _GENERATION_LOCK
    from bench.models.steering import decoder_layers

    if not reply.strip():
        return None
    tokenizer, model = loaded.tokenizer, loaded.model
    start = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    inputs = tokenizer(prefix + reply, add_special_tokens=False, return_tensors="pt").to(model.device)
    if inputs["input_ids"].shape[1] <= start:
        return None
    captured: dict[int, Any] = {}

    def keep(i: int):
        def hook(module, args, output):
            captured[i] = (output[0] if isinstance(output, tuple) else output)[0, start:].float()

        return hook

    blocks = decoder_layers(model)
    # One forward at a time: steering hooks sit on weights shared with every method of this base.
    with _GENERATION_LOCK, torch.inference_mode():
        with intervention() if intervention else contextlib.nullcontext():
            handles = [blocks[i].register_forward_hook(keep(i)) for i in vector.layers]  # after steering hooks
            try:
                model(**inputs)
            finally:
                for handle in handles:
                    handle.remove()
    per_layer = []
    for i in vector.layers:
        v = vector.vectors[i].float().to(captured[i].device)
        per_layer.append(float((captured[i] @ (v / v.norm())).mean()))
    return float(np.mean(per_layer))


def base_reference(loaded: Any, vector: Any, vector_path: str) -> dict:
    """mu, sd (and the prompted base's mean) of the base model's projections on the contrast set."""
    key = (str(Path(vector_path).resolve()), loaded.source, id(loaded.model))
    with _reference_lock:
        if key not in _references:
            _references[key] = _compute_reference(loaded, vector)
        return _references[key]


def _compute_reference(loaded: Any, vector: Any) -> dict:
    from bench.models.steering import contrast_prompts
    from personas import load_persona
    from personas.prompting import constitution_system_prompt

    prompts, openings, digest = contrast_prompts()
    rng = random.Random(int(vector.metadata.get("seed", 0)))
    chosen = [rng.choice(openings) for _ in prompts]  # the pairing `extract` used
    persona = vector.metadata.get("persona")
    system = constitution_system_prompt(load_persona(persona)) if persona else None
    adapter_off = getattr(loaded.model, "disable_adapter", None)
    neutral, prompted = [], []
    with adapter_off() if adapter_off else contextlib.nullcontext():
        for prompt, opening in zip(prompts, chosen):
            user = [{"role": "user", "content": prompt}]
            neutral.append(_projection(loaded, vector, render_chat(loaded.tokenizer, user), opening))
            if system:
                with_persona = [{"role": "system", "content": system}, *user]
                prompted.append(_projection(loaded, vector, render_chat(loaded.tokenizer, with_persona), opening))
    values = np.array([x for x in neutral if x is not None])
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    persona_mean = float(np.mean([x for x in prompted if x is not None])) if prompted else None
    return {
        "mean": mean,
        "sd": sd,
        "persona_mean": persona_mean,
        "persona_z": None if persona_mean is None else (persona_mean - mean) / sd,
        "texts": int(len(values)),
        "prompt_set_hash": digest,
        "layers": list(vector.layers),
        "definition": "base model, no persona or steering, reading the vector's contrast prompts + reply "
        "openings; mean projection over the opening's tokens and the vector's layers",
    }


def activation_access(model: Any) -> tuple[Any | None, str | None]:
    """(the charbench provider behind `model`, None) when activations are reachable, else (None, reason)."""
    from bench.models.provider import CharbenchAPI

    api = getattr(model, "api", None)
    if not isinstance(api, CharbenchAPI):
        return None, f"no activation access ({model})"
    if api.delegate is not None:
        return None, f"no activation access (delegated to {api.spec.base})"
    if api.engine != "transformers":
        return None, f"no activation access ({api.engine} engine)"
    return api, None


def vector_matches(api: Any, vector: Any) -> bool:
    """Whether the vector was extracted on the weights the model under test runs on."""
    from bench.models.loader import weights_source

    try:
        return weights_source(vector.base_model) == weights_source(api.spec.base)
    except Exception:  # a base that cannot be resolved cannot match
        return False


def conversation_projections(api: Any, vector: Any, messages: Messages) -> list[float | None]:
    """Raw projection of every assistant turn of `messages`, each read after its own history, as the
    model under test saw it (constitution prepended for a prompted model, steering hooks on)."""
    from personas.prompting import with_constitution

    loaded = api.loaded  # memoised by the provider and the loader: never a second copy
    persona = getattr(api, "_persona", None)
    intervention = api.intervention()
    out = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        history = messages[:i]
        if persona is not None:
            history = with_constitution(persona, history)
        out.append(reply_projection(loaded, vector, history, message["content"], intervention))
    return out
