"""The offline default judges, built on the embedded models. Weak judges, named as such in every log."""

from __future__ import annotations

from functools import lru_cache

EMBEDDED_SIMILARITY = "embedded-similarity"


@lru_cache(maxsize=4096)
def _embed_one(text: str):
    from bench.models.loader import load_sentence_encoder

    return load_sentence_encoder().encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]


def similarity_choice(response: str, candidates: dict[str, str]) -> tuple[str, float, dict[str, float]]:
    """Pick the candidate whose description is closest to the response (cosine of MiniLM embeddings).

    `candidates` maps a label to the text it is compared with (a trait word plus our gloss). Returns the
    chosen label, its margin over the runner-up, and every similarity.
    """
    from bench.models.loader import load_sentence_encoder

    encoder = load_sentence_encoder()
    response_vec = encoder.encode([response], normalize_embeddings=True, convert_to_numpy=True)[0]
    sims = {label: float(response_vec @ _embed_one(text)) for label, text in candidates.items()}
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
