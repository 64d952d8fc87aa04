"""Inspect entry point: registers the `charbench/` model provider and the bench tasks."""

import bench.models  # noqa: F401  (registers the charbench/ provider)
from bench.capabilities.capabilities import capabilities  # noqa: F401
from bench.coherence.coherence import coherence, responses  # noqa: F401
from bench.drift.drift import drift  # noqa: F401
from bench.revealed_prefs.revealed_prefs import revealed_prefs  # noqa: F401
from bench.robustness.robustness import robustness  # noqa: F401
