"""Strict parsing of judge answers into one of a fixed set of choices, or `invalid` with a reason.

Judges answer inside <answer>...</answer>. Anything else is invalid and counted by reason, never
dropped silently (the reference dropped them without a count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
REFUSAL = re.compile(
    r"\b(i can(?:'|no)t|i cannot|i won't|i will not|i'm (?:not able|unable)|i am (?:not able|unable)|"
    r"as an ai|i'm sorry|i am sorry|i apologi[sz]e|not appropriate)\b",
    re.IGNORECASE,
)
NEITHER = re.compile(r"\b(neither|none|no trait|nor|tie|equal(?:ly)?)\b", re.IGNORECASE)

INVALID_REASONS = ("empty", "no_answer_tag", "both", "neither", "other_word", "refusal")


@dataclass(frozen=True)
class Verdict:
    choice: str  # one of the options, or "invalid"
    reason: str = ""  # for invalid: one of INVALID_REASONS

    @property
    def valid(self) -> bool:
        return self.choice != "invalid"


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9\- ]+", " ", text.lower()).strip()


def parse_choice(raw: str, options: tuple[str, ...]) -> Verdict:
    """Map a judge's text to one of `options` (case-insensitive whole words)."""
    if not raw or not raw.strip():
        return Verdict("invalid", "empty")
    tags = ANSWER_TAG.findall(raw)
    if not tags:
        return Verdict("invalid", "refusal" if REFUSAL.search(raw) else "no_answer_tag")
    answer = _words(tags[-1])
    named = [o for o in options if re.search(rf"\b{re.escape(o.lower())}\b", answer)]
    if len(named) == 1:
        return Verdict(named[0])
    if len(named) > 1:
        return Verdict("invalid", "both")
    if not answer or NEITHER.search(answer):
        return Verdict("invalid", "neither")
    if REFUSAL.search(tags[-1]):
        return Verdict("invalid", "refusal")
    return Verdict("invalid", "other_word")
