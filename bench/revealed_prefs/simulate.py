"""A tournament simulated with the realism that breaks the coin-flip null: a judge whose verdicts follow
the trait words and the prompt, on the real design (`dataset.design`: the same pairs, prompt reuse,
judge orders and null re-pairing as the task). For tests and `perf/` only: no number it makes is
reported as measured on a model.

The judge reads trait t into a reply to prompt p with score `affinity[t] + prompt_affinity[t, p]`
(logits), plus `expression` for the trait the reply was written in; trait a wins with the logistic
of the score difference. A model that follows the offered traits picks a with the Bradley-Terry
probability of its `preference` (Elo); `preference=None` is a model that ignores the offered traits
(one reply per prompt, whatever the traits): only the judge's affinities decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.ratings import ELO_SCALE
from bench.revealed_prefs.dataset import design


@dataclass(frozen=True)
class World:
    """What is fixed across runs: the traits, the prompts and the judge's affinities."""

    traits: list[str]
    prompts: list[str]
    affinity: np.ndarray  # per trait (logits)
    prompt_affinity: np.ndarray  # trait x prompt (logits)

    @classmethod
    def make(
        cls, traits: int = 20, prompts: int = 60, affinity: float = 2.0, prompt_affinity: float = 1.0, seed: int = 0
    ) -> World:
        rng = np.random.default_rng(seed)
        return cls(
            [f"t{i:03d}" for i in range(traits)],
            [f"p{j:03d}" for j in range(prompts)],
            rng.normal(0, affinity, traits),
            rng.normal(0, prompt_affinity, (traits, prompts)),
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(
    world: World,
    n: int,
    preference: pd.Series | None = None,
    expression: float = 2.0,
    design_seed: int = 0,
    run_seed: int = 0,
    targets: list[str] | None = None,
    share: float = 0.0,
) -> pd.DataFrame:
    """One tournament log's verdicts: `trait_a`, `trait_b`, `winner`, `prompt`, `null_a`, `null_b`,
    `null_winner`. Logs with one `design_seed` (and `targets`, `share`: a planned design) share the
    design; `run_seed` draws the model's choices and the judge's noise."""
    rows = design(world.traits, world.prompts, n, design_seed, targets=targets, share=share)
    t_index = {t: i for i, t in enumerate(world.traits)}
    p_index = {p: j for j, p in enumerate(world.prompts)}
    a = np.array([t_index[r["trait_a"]] for r in rows])
    b = np.array([t_index[r["trait_b"]] for r in rows])
    p = np.array([p_index[r["prompt"]] for r in rows])
    null_a = np.array([t_index[r["null_pair"][0]] if "null_pair" in r else -1 for r in rows])
    null_b = np.array([t_index[r["null_pair"][1]] if "null_pair" in r else -1 for r in rows])
    rng = np.random.default_rng(run_seed)
    score = world.affinity[:, None] + world.prompt_affinity  # trait x prompt
    if preference is None:
        chosen = np.full(n, -1)
    else:
        theta = preference.reindex(world.traits).fillna(0.0).to_numpy() / ELO_SCALE
        chosen = np.where(rng.random(n) < _sigmoid(theta[a] - theta[b]), a, b)

    def verdict(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        diff = score[x, p] - score[y, p] + expression * ((chosen == x).astype(float) - (chosen == y))
        return np.where(rng.random(n) < _sigmoid(diff), x, y)

    traits = np.array(world.traits)
    null_winner = verdict(null_a, null_b)
    has_null = null_a >= 0
    return pd.DataFrame(
        {
            "trait_a": traits[a],
            "trait_b": traits[b],
            "winner": traits[verdict(a, b)],
            "prompt": np.array(world.prompts)[p],
            "null_a": np.where(has_null, traits[null_a], None),
            "null_b": np.where(has_null, traits[null_b], None),
            "null_winner": np.where(has_null, traits[null_winner], None),
        }
    )
