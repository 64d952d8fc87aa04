"""`charbench run SPEC`: an experiment spec, run (or planned) into its own directory."""

from __future__ import annotations

import argparse
import time


def _run(args: argparse.Namespace) -> None:
    from experiments.runner import run_experiment
    from experiments.summary import print_summary

    start = time.perf_counter()
    result = run_experiment(
        args.spec,
        log_dir=args.log_dir,
        dry_run=args.dry_run,
        shard=args.shard,
        only=args.only,
        max_tasks=args.max_tasks,
    )
    if args.dry_run or args.only:
        return
    print_summary(result["logs"])
    print(
        f"\n{len(result['logs'])} logs in {result['dir']}/logs   wall time: {time.perf_counter() - start:.0f}s\n"
        f"table: charbench leaderboard {result['dir']}"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run an experiment spec (bases x personas x methods x evals) into one directory",
        description="Run every (base, persona, method) x eval of a spec as one resumable Inspect eval set. "
        "Re-running generates nothing that is done; rows added to the spec run alone. "
        "Spec format: experiments/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("spec", help="the spec file, e.g. experiments/smoke.yaml")
    p.add_argument(
        "--log-dir",
        default=None,
        help="the experiment's directory (default: $INSPECT_LOG_DIR/<experiment> if set, else results/<experiment>)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (rows, tasks, samples, generated tokens) and check the instruments' sizes; run nothing",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="run every N-th row starting at the K-th (1-based), into the same directory; "
        "make the instruments first with --only instruments",
    )
    p.add_argument(
        "--only",
        choices=["instruments"],
        default=None,
        help="make the shared instruments (classifier, vectors) and stop",
    )
    p.add_argument(
        "--max-tasks",
        type=int,
        default=2,
        help="tasks run at once (each task's model stays loaded while it runs)",
    )
    p.set_defaults(func=_run)
