"""Sample efficiency and speed of the rating methods on simulated tournaments.

    .venv/bin/python perf/ratings.py [--seeds 10]

Ground truth: 144 traits with Bradley-Terry strengths drawn from N(1000, 100^2) on the Elo scale
(a spread like the reference's). For each matchup count, the Spearman correlation between the
recovered and the true ranking, averaged over seeds; then the time to fit 50k matchups with 200
bootstrap resamples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bench import ratings

COUNTS = (1_000, 2_000, 5_000, 10_000, 25_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--orders", type=int, default=20, help="orders for elo_averaged (default 20)")
    args = parser.parse_args()
    fits = {
        "elo": ratings.elo,
        "elo_averaged": lambda m: ratings.elo_averaged(m, orders=args.orders),
        "bradley_terry": ratings.bradley_terry,
    }
    results = {name: [] for name in fits}
    for n in COUNTS:
        for name, fit in fits.items():
            rhos = []
            for seed in range(args.seeds):
                rng = np.random.default_rng(1000 + seed)
                true = pd.Series(1000 + 100 * rng.standard_normal(144), index=[f"t{i:03d}" for i in range(144)])
                fitted = fit(ratings.simulate_matches(true, n, seed=seed))
                rhos.append(spearmanr(fitted["rating"], true.reindex(fitted.index)).statistic)
            results[name].append((np.mean(rhos), np.std(rhos, ddof=1) / np.sqrt(len(rhos))))
    print(f"Spearman(recovered, true) over 144 traits, mean +- SE over {args.seeds} seeds")
    print("| matchups | " + " | ".join(fits) + " |")
    print("|---|" + "---|" * len(fits))
    for i, n in enumerate(COUNTS):
        print(f"| {n:,} | " + " | ".join(f"{results[k][i][0]:.3f} +- {results[k][i][1]:.3f}" for k in fits) + " |")
    rng = np.random.default_rng(7)
    true = pd.Series(1000 + 100 * rng.standard_normal(144), index=[f"t{i:03d}" for i in range(144)])
    big = ratings.simulate_matches(true, 50_000, seed=7)
    for name, fit in (("bradley_terry", ratings.bradley_terry), ("elo", ratings.elo)):
        start = time.perf_counter()
        ratings.bootstrap(big, fit, n=200, seed=0)
        print(f"{name}: fit + 200 bootstrap resamples on 50,000 matchups: {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
