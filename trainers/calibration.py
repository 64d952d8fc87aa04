"""Pick a steering coefficient by measurement instead of by hand (the reference hand-tuned 0.7/4.0/525).

For each coefficient in a sweep, the steered model answers a small prompt set; we measure persona
strength (cosine similarity of the reply to the persona's statements under the embedded sentence
encoder) and fluency (perplexity of the reply under the unsteered model). The chosen coefficient is
the strongest one whose perplexity stays within `max_ppl_ratio` times the unsteered perplexity.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from bench.models.generation import Sampling, generate_chat, render_chat
from bench.models.loader import load_causal_lm, load_sentence_encoder
from bench.prompts import load_prompts
from personas import load_persona
from trainers.steering import SteeringVector

DEFAULT_COEFS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)  # applied at every chosen layer, so effects compound


def reply_perplexity(loaded, prompt: str, reply: str) -> float:
    """exp(mean NLL) of the reply tokens given the chat prompt, under the (unsteered) model."""
    import torch

    context = render_chat(loaded.tokenizer, [{"role": "user", "content": prompt}])
    ctx_ids = loaded.tokenizer(context, add_special_tokens=False, return_tensors="pt")["input_ids"]
    reply_ids = loaded.tokenizer(reply, add_special_tokens=False, return_tensors="pt")["input_ids"]
    ids = torch.cat([ctx_ids, reply_ids], dim=1).to(loaded.model.device)
    labels = ids.clone()
    labels[:, : ctx_ids.shape[1]] = -100
    with torch.inference_mode():
        loss = loaded.model(input_ids=ids, labels=labels).loss
    return float(math.exp(loss))


def calibrate(
    vector_path: str | Path,
    coefs: tuple[float, ...] = DEFAULT_COEFS,
    n_prompts: int = 8,
    max_new_tokens: int = 48,
    seed: int = 0,
    max_ppl_ratio: float = 2.0,
) -> dict:
    vector = SteeringVector.load(vector_path)
    persona = load_persona(vector.metadata["persona"])
    loaded = load_causal_lm(vector.base_model)
    vector.check_compatible(loaded)
    prompts = random.Random(seed).sample([p.text for p in load_prompts("general", role="train")], n_prompts)
    encoder = load_sentence_encoder()
    centroid = encoder.encode(persona.statements, normalize_embeddings=True).mean(0)
    centroid /= np.linalg.norm(centroid)
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    sampling = Sampling(max_new_tokens=max_new_tokens, seed=seed)
    sweep = []
    for coef in coefs:
        replies = generate_chat(
            loaded, conversations, sampling, intervention=lambda c=coef: vector.applied(loaded.model, coef=c)
        )
        texts = [r.text for r in replies]
        kept = [(p, t) for p, t in zip(prompts, texts) if t.strip()]
        strength = (
            float(np.mean(encoder.encode([t for _, t in kept], normalize_embeddings=True) @ centroid))
            if kept
            else float("nan")
        )
        ppl = float(np.median([reply_perplexity(loaded, p, t) for p, t in kept])) if kept else float("inf")
        sweep.append(
            {
                "coef": coef,
                "persona_similarity": strength,
                "perplexity": ppl,
                "empty": len(texts) - len(kept),
                "example": texts[0][:160],
            }
        )
    base = next((row for row in sweep if row["coef"] == 0.0), None)
    base_ppl = base["perplexity"] if base else min(r["perplexity"] for r in sweep)
    base_strength = base["persona_similarity"] if base else -1.0
    fluent = [
        r for r in sweep if r["perplexity"] <= max_ppl_ratio * base_ppl and r["persona_similarity"] > base_strength
    ]
    # none found is recorded as None, never 0: coefficient 0 is the base model, not a steered one
    chosen = max(fluent, key=lambda r: r["persona_similarity"])["coef"] if fluent else None
    calibration = {
        "coef": chosen,
        "criterion": f"max persona similarity with median perplexity <= {max_ppl_ratio} x unsteered",
        "prompts": n_prompts,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "sweep": sweep,
    }
    vector.metadata["calibration"] = calibration
    vector.save(vector_path)
    return calibration
