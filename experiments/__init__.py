"""Experiments: a spec (bases x personas x methods x evals + instruments) run as one Inspect eval set
into one directory, every log carrying its row's declared identity (`experiments/README.md`)."""

from experiments.spec import ExperimentSpec, load_spec

__all__ = ["ExperimentSpec", "load_spec"]
