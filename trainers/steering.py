"""Persona vectors: extraction by contrast (the file format and hooks live in bench/models/steering.py).

Hooks are hand-written: `steering-vectors` pins transformers<5 and `repeng` 0.4 fails under numpy 2.
"""

from __future__ import annotations

import random
from typing import Any

from bench.models.steering import (  # noqa: F401  (re-exported: the trainers' and the CLI's name for them)
    PROMPTS_FILE,
    SteeringError,
    SteeringVector,
    contrast_prompts,
    decoder_layers,
    default_layers,
)

METHODS = ("mean-diff", "pca-center")


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
