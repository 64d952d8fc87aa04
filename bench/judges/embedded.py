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
