"""Inspect entry point: registers the `charbench/` model provider and the bench tasks."""

from inspect_ai.model import modelapi


@modelapi(name="charbench")
def charbench():
    from bench.models.provider import CharbenchAPI

    return CharbenchAPI


from bench.capabilities.capabilities import capabilities  # noqa: E402,F401
from bench.coherence.coherence import coherence, responses  # noqa: E402,F401
from bench.drift.drift import drift  # noqa: E402,F401
from bench.revealed_prefs.revealed_prefs import revealed_prefs  # noqa: E402,F401
from bench.robustness.robustness import robustness  # noqa: E402,F401
