"""The offline default judges, built on the embedded models. Weak judges, named as such in every log.

The similarity judge has variants, measured on the shipped labelled set (`bench/judges/validation.py`,
`charbench judge variants`); none is assumed better than another without that measurement:

- `gloss` (`embedded-similarity`): cosine between the reply and "trait word: gloss". What callers get
  when they pass no prompt, exactly as before.
- `manner`: the trait described as a manner of replying, several templates averaged.
- `neutral-centred`: the reply minus the centroid of a few bland replies, so that what every reply shares
  does not count.
- `prompt-centred` (`embedded-similarity-v2`): the reply minus `PROMPT_WEIGHT` times the user's message,
  so that the topic the user asked about counts less than how the reply treats it. It needs the user's
  message (not the system prompt, which names both traits); the weight was calibrated on the
  calibration half of the labelled set only. The default when a prompt is given.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

EMBEDDED_SIMILARITY = "embedded-similarity"
EMBEDDED_SIMILARITY_V2 = "embedded-similarity-v2"

VARIANTS = ("gloss", "manner", "neutral-centred", "prompt-centred")
VARIANT_NAMES = {
    "gloss": EMBEDDED_SIMILARITY,
    "manner": "embedded-similarity-manner",
    "neutral-centred": "embedded-similarity-neutral-centred",
    "prompt-centred": EMBEDDED_SIMILARITY_V2,
}
DEFAULT_VARIANT = "prompt-centred"  # best on the held-out half; falls back to `gloss` without a prompt
PROMPT_WEIGHT = 0.5  # calibrated on the seeded calibration half (validation.calibrate_prompt_weight)

MANNER_TEMPLATES = (
    "A reply written in a {trait} manner: {gloss}.",
    "The assistant answers in a {trait} way, {gloss}.",
    "A {trait} tone of voice: {gloss}.",
)
NEUTRAL_REPLIES = (
    "You can do that by following the usual steps, and it should work fine.",
    "Here is the answer to your question, with the main points you need.",
    "It depends on your situation, but most people find the standard approach works.",
    "Yes, that is possible. Check the instructions and give it a try.",
    "There are a few options; the most common one is described below.",
    "Sure. The usual advice is to start small and adjust as you go.",
    "That's a common question. The short answer is that it varies.",
    "I'd suggest looking at what you need first, then choosing accordingly.",
)

_cache: dict[str, np.ndarray] = {}
_lock = threading.Lock()


def embed(texts: list[str]) -> np.ndarray:
    """Unit-norm MiniLM embeddings, one row per text; texts seen before come from an in-process cache."""
    from bench.models.loader import load_sentence_encoder

    with _lock:
        missing = list(dict.fromkeys(t for t in texts if t not in _cache))
        if missing:
            vectors = load_sentence_encoder().encode(
                missing, normalize_embeddings=True, convert_to_numpy=True, batch_size=64
            )
            _cache.update(zip(missing, vectors))
        return np.stack([_cache[t] for t in texts]) if texts else np.zeros((0, 0))


def _embed_one(text: str) -> np.ndarray:
    return embed([text])[0]


def variant_name(variant: str) -> str:
    """The judge name a log records for a variant."""
    if variant not in VARIANT_NAMES:
        raise ValueError(f"unknown embedded similarity variant {variant!r}: use one of {', '.join(VARIANTS)}")
    return VARIANT_NAMES[variant]


def resolve_variant(variant: str | None, prompt: str | None) -> str:
    """`None` means the default variant, or `gloss` when the caller has no prompt to centre on."""
    if variant is None:
        return "gloss" if DEFAULT_VARIANT == "prompt-centred" and not prompt else DEFAULT_VARIANT
    return variant


def _split_gloss(label: str, text: str) -> str:
    prefix = f"{label}:"
    return text[len(prefix) :].strip() if text.lower().startswith(prefix.lower()) else text


def manner_texts(label: str, text: str) -> list[str]:
    """The `manner` variant's descriptions of a candidate ("trait: gloss" or a bare description)."""
    gloss = _split_gloss(label, text)
    return [t.format(trait=label, gloss=gloss) for t in MANNER_TEMPLATES]


@lru_cache(maxsize=4096)
def _manner_vector(label: str, text: str) -> np.ndarray:
    vectors = embed(manner_texts(label, text))
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def similarity_choice(
    response: str,
    candidates: dict[str, str],
    prompt: str | None = None,
    variant: str | None = None,
    prompt_weight: float = PROMPT_WEIGHT,
) -> tuple[str, float, dict[str, float]]:
    """Pick the candidate whose description is closest to the response (MiniLM embeddings).

    `candidates` maps a label to the text it is compared with (a trait word plus our gloss). `prompt` is
    the user's message the response answers (the `prompt-centred` variant subtracts `prompt_weight` times
    its embedding); `variant` defaults to DEFAULT_VARIANT, or `gloss` when no prompt is given. Returns the
    chosen label, its margin over the runner-up, and every score (cosine for `gloss` and `manner`, a centred
    dot product otherwise).
    """
    variant = resolve_variant(variant, prompt)
    if variant not in VARIANTS:
        raise ValueError(f"unknown embedded similarity variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if variant == "prompt-centred" and not prompt:
        raise ValueError("the prompt-centred variant needs the user's message (prompt=...)")
    reply = _embed_one(response)
    if variant == "neutral-centred":
        reply = reply - embed(list(NEUTRAL_REPLIES)).mean(axis=0)
    elif variant == "prompt-centred":
        reply = reply - prompt_weight * _embed_one(prompt)
    if variant == "manner":
        targets = {label: _manner_vector(label, text) for label, text in candidates.items()}
    else:
        targets = {label: _embed_one(text) for label, text in candidates.items()}
    sims = {label: float(reply @ vec) for label, vec in targets.items()}
    ranked = sorted(sims, key=sims.get, reverse=True)
    margin = sims[ranked[0]] - sims[ranked[1]] if len(ranked) > 1 else 0.0
    return ranked[0], margin, sims


EMBEDDED_CHAT = "smollm2-135m"


def forced_choice(prompt: str, options: tuple[str, ...], prefill: str = "<answer>") -> tuple[str, dict[str, float]]:
    """Ask the embedded chat model and read its verdict from next-token log-probabilities.

    After the prompt and a prefilled `<answer>`, the option whose first token is most probable wins,
    so the judge always gives a valid answer (its position bias shows up as order inconsistency).
    """
    import torch

    from bench.models.generation import render_chat
    from bench.models.loader import load_causal_lm

    loaded = load_causal_lm(EMBEDDED_CHAT)
    text = render_chat(
        loaded.tokenizer, [{"role": "user", "content": prompt}, {"role": "assistant", "content": prefill}]
    )
    ids = loaded.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(loaded.model.device)
    with torch.inference_mode():
        logprobs = torch.log_softmax(loaded.model(**ids).logits[0, -1].float(), dim=-1)
    scores = {}
    for option in options:
        token = loaded.tokenizer(option, add_special_tokens=False)["input_ids"][0]
        scores[option] = float(logprobs[token])
    return max(scores, key=scores.get), scores
