"""`charbench drift report`: drift curves per method, printed and (with --png) plotted."""

from __future__ import annotations

import argparse


def _report(args: argparse.Namespace) -> None:
    from bench.drift.report import drift_summaries, drift_table, format_report, plot_curves

    table = drift_table(args.logs)
    print(format_report(table, drift_summaries(args.logs)))
    if args.png:
        print(f"wrote {plot_curves(table, args.png)}")


def register(sub: argparse._SubParsersAction) -> None:
    drift = sub.add_parser("drift", help="persona drift over a conversation (bench/drift)")
    dsub = drift.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = dsub.add_parser("report", help="per-turn curves with intervals, slope, AUC, threshold turn per method")
    p.add_argument("logs", nargs="+", help="bench/drift .eval logs or directories of them")
    p.add_argument("--png", help="write a figure of the curves per method to this file")
    p.set_defaults(func=_report)
