"""How many matchups a planned design needs to answer "did the target traits move?" as precisely as the
uniform design does at 13,644, and what it costs the full ranking.

    .venv/bin/python perf/planned_design.py [--share 0.5] [--reps 4] [--draws 200]

Simulated with the realism of bench/revealed_prefs/simulate.py: the 144 reference traits, 153 prompts
(the `general` evaluation set's size) reused across matchups, a judge whose verdicts follow the trait
words (affinity, sd 2 logits) and the prompt (sd 1 logit), on the real design (`dataset.design`, with
the design null). The base model prefers traits with ratings drawn from N(0, 100^2) Elo; the method
raises one persona's target traits by `--shift` Elo (default 100). Both rows run on one shared design
(uniform, or planned: `--share` of matchups pit the experiment's target traits, the union over its
personas, against the whole vocabulary). The width is that of the 95% bias-corrected interval of the
target-trait shift, resampling prompts in both logs together (`prefs compare`'s statistic), averaged
over `--reps` independent pairs of runs.

For each experiment (one persona; three; the reference's eleven) it prints the uniform design's width
at 13,644 matchups, the planned design's matchup count at which its width is as narrow (a line through
log width against log n, measured at 1,000 to 8,000 matchups, solved for the uniform width; then
measured again at that count) and that count as a fraction of 13,644. Then the full ranking: Spearman
of the Bradley-Terry ratings with known true ratings (N(1000, 100^2), no judge: perf/ratings.py's
setting) at 5,000 matchups, uniform vs planned, and the bound no design can pass (every verdict a coin
toss, the most information a matchup carries). Last, the same kind of bound for the target-trait shift:
with every verdict a coin toss and no prompt clusters, the Bradley-Terry Fisher information says what
fraction of the uniform design's matchups the planned design needs, and the best design an experiment's
rows can share (any mix of target-target, target-other and other-other pairs, each kind spread evenly:
the design serves every persona's targets alike). Rounds chosen from the pooled uncertainty are such a
design too, so they cannot beat it. No number here is measured on a model.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bench import ratings
from bench.revealed_prefs.compare import compare_frames
from bench.revealed_prefs.dataset import draw_planned, load_traits
from bench.revealed_prefs.simulate import World, simulate
from personas.loader import list_personas

UNIFORM_N = 13_644  # `charbench prefs power`: one trait's 100-Elo shift at 80% power, uniform design
EXPERIMENTS = {
    "loving": ["loving"],
    "loving, sarcasm, humor": ["loving", "sarcasm", "humor"],
    "the reference's 11": [
        "goodness", "humor", "impulsiveness", "loving", "mathematical", "misalignment",
        "nonchalance", "poeticism", "remorse", "sarcasm", "sycophancy",
    ],
}  # fmt: skip
GRID = (1000,)  # planned widths measured at 1,000, 2,000, 4,000 and 8,000 matchups
MEASURED = "loving"  # the row whose target-trait shift is measured in every experiment


def world(traits: list[str], seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    prompts = [f"p{j:03d}" for j in range(153)]
    return World(traits, prompts, rng.normal(0, 2.0, len(traits)), rng.normal(0, 1.0, (len(traits), len(prompts))))


def width(w: World, n: int, targets: list[str], union: list[str], share: float, shift: float, reps: int, draws: int):
    widths, deltas = [], []
    for rep in range(reps):
        rng = np.random.default_rng(100 + rep)
        base = pd.Series(rng.normal(0, 100, len(w.traits)), index=w.traits)
        method = base.copy()
        method[targets] += shift
        design = {"targets": union, "share": share, "design_seed": rep}
        a = simulate(w, n, preference=base, run_seed=2 * rep + 1, **design)
        b = simulate(w, n, preference=method, run_seed=2 * rep + 2, **design)
        target = compare_frames(a, b, n=draws, seed=rep, targets=targets, reliability=False)["target"]
        widths.append(target["hi"] - target["lo"])
        deltas.append(target["delta"])
    return float(np.mean(widths)), float(np.mean(deltas))


def spearman_at(n: int, union: list[str], share: float, traits: list[str], seeds: int) -> float:
    rhos = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        true = pd.Series(rng.normal(1000, 100, len(traits)), index=traits)
        pairs = np.array(draw_planned(traits, union, n, share, seed))
        a, b = true[pairs[:, 0]].to_numpy(), true[pairs[:, 1]].to_numpy()
        a_wins = rng.random(n) < 1 / (1 + 10 ** ((b - a) / 400))
        frame = pd.DataFrame({"trait_a": pairs[:, 0], "trait_b": pairs[:, 1]})
        frame["winner"] = np.where(a_wins, frame["trait_a"], frame["trait_b"])
        fitted = ratings.bradley_terry(frame)["rating"]
        rhos.append(spearmanr(fitted, true[fitted.index]).statistic)
    return float(np.mean(rhos))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--share", type=float, default=0.5, help="planned share of matchups (default: %(default)s)")
    parser.add_argument("--shift", type=float, default=100, help="true target shift, Elo (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=4, help="pairs of runs per width (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds for the Spearman (default: %(default)s)")
    args = parser.parse_args()
    traits = load_traits()
    personas = list_personas()
    w = world(traits)
    targets = list(personas[MEASURED].target_traits)
    print(f"target-trait shift of {MEASURED} ({', '.join(targets)}), true +{args.shift:g} Elo; share {args.share:g}")
    print("| experiment | targets | uniform width at 13,644 | planned n as narrow | planned width | n / 13,644 |")
    print("|---|---|---|---|---|---|")
    uniform_width, _ = width(w, UNIFORM_N, targets, [], 0.0, args.shift, args.reps, args.draws)
    for label, names in EXPERIMENTS.items():
        union = list(dict.fromkeys(t for name in names for t in personas[name].target_traits))
        grid = [GRID[0] * 2**k for k in range(4)]
        widths = [width(w, g, targets, union, args.share, args.shift, args.reps, args.draws)[0] for g in grid]
        slope, intercept = np.polyfit(np.log(grid), np.log(widths), 1)  # log width = a + b log n
        n = int(round(np.exp((np.log(uniform_width) - intercept) / slope) / 100) * 100)
        planned_width, _ = width(w, n, targets, union, args.share, args.shift, args.reps, args.draws)
        print(f"| {label} | {len(union)} | {uniform_width:.1f} | {n:,} | {planned_width:.1f} | {n / UNIFORM_N:.2f} |")
    print()
    print(f"full ranking, Spearman with the true ratings at 5,000 matchups (mean over {args.seeds} seeds):")
    print("| design | Spearman |")
    print("|---|---|")
    print(f"| uniform | {spearman_at(5000, [], 0.0, traits, args.seeds):.3f} |")
    for label, names in EXPERIMENTS.items():
        union = list(dict.fromkeys(t for name in names for t in personas[name].target_traits))
        rho = spearman_at(5000, union, args.share, traits, args.seeds)
        print(f"| planned, {args.share:g} on {label}'s {len(union)} targets | {rho:.3f} |")
    print(f"| bound for any design (adaptive rounds included) | {best_case_spearman(5000, traits, args.seeds):.3f} |")
    print()
    print(f"target-trait shift of {MEASURED}, matchups as a fraction of the uniform design's for the same width,")
    print("every verdict a coin toss, no prompt clusters (Fisher information):")
    mix = "its mix: target-target, target-other, other-other"
    print(f"| experiment | targets | planned, {args.share:g} | best shared design | {mix} |")
    print("|---|---|---|---|---|")
    for label, names in EXPERIMENTS.items():
        union = list(dict.fromkeys(t for name in names for t in personas[name].target_traits))
        planned, best, mix = information_ratios(traits, union, targets, args.share)
        print(f"| {label} | {len(union)} | {planned:.2f} | {best:.2f} | {', '.join(f'{f:.2f}' for f in mix)} |")


def target_variance(traits: list[str], union: list[str], measured: list[str], mix) -> float:
    """Variance of the measured persona's mean target rating (centred on all traits) per matchup, when a
    fraction `mix` = (target-target, target-other, other-other) of matchups falls on each kind of pair,
    spread evenly within the kind, and every verdict carries a coin toss's information (1/4 logit^-2)."""
    is_target = np.isin(traits, union)
    kinds = (
        np.outer(is_target, is_target),
        np.outer(is_target, ~is_target) | np.outer(~is_target, is_target),
        np.outer(~is_target, ~is_target),
    )
    weight = np.zeros((len(traits), len(traits)))
    for pairs, share in zip(kinds, mix, strict=True):
        pairs = pairs & ~np.eye(len(traits), dtype=bool)
        if share > 0:
            weight[pairs] += share / pairs.sum() * 0.25 * 2  # each unordered pair appears twice in the matrix
    if mix[1] == 0:  # targets never meet the others: their mean against the rest cannot be estimated
        return np.inf
    information = np.diag(weight.sum(1)) - weight
    contrast = np.isin(traits, measured) / len(measured) - 1 / len(traits)
    return float(contrast @ np.linalg.pinv(information) @ contrast)


def information_ratios(traits: list[str], union: list[str], measured: list[str], share: float, step: float = 0.025):
    """(planned / uniform, best / uniform, best mix): matchups needed relative to the uniform design."""
    k, t = len(traits), len(union)
    pairs = k * (k - 1) / 2
    uniform = (t * (t - 1) / 2 / pairs, t * (k - t) / pairs, (k - t) * (k - t - 1) / 2 / pairs)
    # draw_planned: a planned matchup is a target against any other trait of the vocabulary
    planned = tuple((1 - share) * u + share * p for u, p in zip(uniform, ((t - 1) / (k - 1), (k - t) / (k - 1), 0)))
    grid = np.arange(0, 1 + step / 2, step)
    mixes = [(a, b, max(0.0, 1 - a - b)) for a in grid for b in grid if a + b <= 1 + 1e-9]
    variances = [target_variance(traits, union, measured, mix) for mix in mixes]
    best = int(np.argmin(variances))
    base = target_variance(traits, union, measured, uniform)
    return target_variance(traits, union, measured, planned) / base, variances[best] / base, mixes[best]


def best_case_spearman(n: int, traits: list[str], seeds: int) -> float:
    """No design beats every matchup being a coin toss (p = 0.5, the most a verdict can tell) with every
    trait seen equally often: ratings = truth + noise of sd 2 x 173.7 / sqrt(2n / traits)."""
    se = 2 * ratings.ELO_PER_LOGIT / np.sqrt(2 * n / len(traits))
    rhos = []
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        true = rng.normal(1000, 100, len(traits))
        rhos.append(spearmanr(true + rng.normal(0, se, len(traits)), true).statistic)
    return float(np.mean(rhos))


if __name__ == "__main__":
    main()
