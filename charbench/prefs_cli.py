"""`charbench prefs compare LOG_A LOG_B`."""

from __future__ import annotations

import argparse


def _compare(args: argparse.Namespace) -> None:
    from bench.revealed_prefs.compare import compare_logs

    print(compare_logs(args.log_a, args.log_b, png=args.png, n=args.bootstrap, seed=args.seed))


def register(sub: argparse._SubParsersAction) -> None:
    prefs = sub.add_parser("prefs", help="revealed-preference tools: compare two tournament logs")
    psub = prefs.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = psub.add_parser("compare", help="Spearman of rankings, spread change, top gains/losses, with intervals, + PNG")
    p.add_argument("log_a", help="reference log (e.g. the base model)")
    p.add_argument("log_b", help="compared log (e.g. the trained model)")
    p.add_argument("--png", default="prefs-compare.png", help="figure path (default prefs-compare.png)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_compare)
