"""The bootstrap refits behind every tournament report: one batched solve vs choix fit by fit.

A comparison refits both logs' Bradley-Terry ratings on every one of its 200 prompt-clustered draws
(`bench/revealed_prefs/validity.py paired`). This runs the same refits on simulated logs with either
fit, so two processes can be timed side by side:

    .venv/bin/python perf/bt_refits.py --fit batched --traits 20
    .venv/bin/python perf/bt_refits.py --fit choix --traits 20

`--check` fits the first log both ways and prints the largest difference in Elo (not for timing).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench import ratings
from bench.revealed_prefs import validity


def choix_fits(enc: validity.Encoded, weights: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The fit before `ratings.ilsr`: choix's `ilsr_pairwise_dense`, one matrix per call."""
    import choix

    k, out = len(enc.traits), []
    valid = enc.winner >= 0
    for w in weights:
        counts = np.bincount(enc.winner[valid] * k + enc.loser[valid], weights=w[valid], minlength=k * k).reshape(k, k)
        present = (counts.sum(axis=0) + counts.sum(axis=1)) > 0
        initial = np.nan_to_num((start - 1000.0) / ratings.ELO_SCALE)
        params = ratings.ELO_SCALE * choix.ilsr_pairwise_dense(counts, alpha=ratings.BT_PRIOR, initial_params=initial)
        row = np.full(k, np.nan)
        row[present] = params[present] - params[present].mean() + 1000.0
        out.append(row)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", choices=["batched", "choix"], default="batched")
    parser.add_argument("--traits", type=int, default=20)
    parser.add_argument("--matchups", type=int, default=600)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--logs", type=int, default=20, help="simulated logs, each refitted on every draw")
    parser.add_argument("--check", action="store_true", help="also fit the first log the other way; compare")
    args = parser.parse_args()
    truth = pd.Series(
        np.random.default_rng(0).normal(1000, 100, args.traits), index=[f"t{i}" for i in range(args.traits)]
    )
    started, worst = time.perf_counter(), 0.0
    for log in range(args.logs):
        (enc,) = validity.encode([ratings.simulate_matches(truth, args.matchups, seed=log)])
        weights = np.array([rows for (rows,) in validity.resample([enc], args.draws, seed=log)])
        point = validity.fit(enc)
        fits = (validity.fit_many if args.fit == "batched" else choix_fits)(enc, weights, start=point)
        if log == 0 and args.check:
            other = (
                choix_fits(enc, weights, point)
                if args.fit == "batched"
                else validity.fit_many(enc, weights, start=point)
            )
            worst = float(np.nanmax(np.abs(fits - other)))
    print(
        f"{args.fit}: {args.logs} logs x {args.draws} draws, {args.traits} traits, {args.matchups} matchups: "
        f"{time.perf_counter() - started:.2f} s"
        + (f"; largest difference from the other fit {worst:.1e} Elo" if args.check else "")
    )


if __name__ == "__main__":
    main()
