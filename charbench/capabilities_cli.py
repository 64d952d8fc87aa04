"""`charbench capabilities list|fetch|delta`: what the capability check runs, getting its datasets,
and the paired change of one model against its base."""

from __future__ import annotations

import argparse
import sys


def _list(args: argparse.Namespace) -> None:
    from bench.capabilities.smoke import SMOKE_FILE, load_smoke
    from bench.capabilities.standard import STANDARD, missing

    print(f"{'task':<14} {'shots':>5} {'reference':>9}  cached  notes")
    for name, b in STANDARD.items():
        gaps = missing(b)
        cached = "yes" if not gaps else "no"
        print(f"{name:<14} {b.shots:>5} {b.reference_shots:>9}  {cached:<6}  {b.note}")
    n = len(load_smoke())
    print(
        f"{'smoke':<14} {0:>5} {'-':>9}  {'yes':<6}  "
        f"{n} bundled questions ({SMOKE_FILE.name}): a smoke check, not a benchmark"
    )


def _fetch(args: argparse.Namespace) -> None:
    import os

    from bench.capabilities.capabilities import SMOKE, parse_tasks
    from bench.capabilities.standard import fetch
    from charbench.errors import CharbenchError

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        raise CharbenchError("capabilities fetch needs the Hub: run it with HF_HUB_OFFLINE=0 on a connected machine")
    names = [n for n in parse_tasks(args.tasks) if n != SMOKE]
    fetch(names)
    print(f"fetched {', '.join(names)} into the Hugging Face cache; copy ~/.cache/huggingface to offline machines")


def _delta(args: argparse.Namespace) -> None:
    from inspect_ai.log import read_eval_log

    from bench.capabilities.report import paired_deltas
    from charbench.errors import CharbenchError

    logs = []
    for path in (args.base_log, args.model_log):
        try:
            logs.append(read_eval_log(path))
        except FileNotFoundError:
            raise CharbenchError(f"log {path} does not exist") from None
    base, model = logs
    if _is_base(model) and not _is_base(base):  # the order before `prefs compare`'s (BASE first)
        print("charbench: note: the base log goes first (BASE MODEL, as in prefs compare); swapped", file=sys.stderr)
        base, model = model, base
    deltas = paired_deltas(model, base, n=args.bootstrap, seed=args.seed)
    if not deltas:
        raise CharbenchError("the two logs share no bench/capabilities questions: use the same tasks, limit and seed")
    print(f"{'task':<14} {'delta':>7}  95% CI (paired bootstrap, {args.bootstrap}, seed {args.seed})   n")
    for task, d in deltas.items():
        print(f"{task:<14} {d['delta']:>+7.3f}  [{d['lo']:+.3f}, {d['hi']:+.3f}]{'':>26}{int(d['n'])}")


def _is_base(log) -> bool:
    """Whether a log is a base model's: its declared row, else its model name."""
    from bench.models.specs import describe_model

    row = (log.eval.metadata or {}).get("row") or {}
    return (row.get("kind") or describe_model(log.eval.model)["method"]) == "base"


def register(sub: argparse._SubParsersAction) -> None:
    cap = sub.add_parser("capabilities", help="general-capability check: list, fetch datasets, delta vs base")
    csub = cap.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = csub.add_parser("list", help="the benchmarks, their shot counts (ours and the reference's), cache state")
    p.set_defaults(func=_list)
    p = csub.add_parser("fetch", help="download the benchmarks' HF datasets (on a connected machine)")
    p.add_argument("tasks", nargs="?", default="standard", help="comma list or 'standard' (default)")
    p.set_defaults(func=_fetch)
    p = csub.add_parser(
        "delta", help="paired accuracy change of a method's capabilities log against its base's: BASE MODEL"
    )
    p.add_argument("base_log", help="the base model's bench/capabilities log")
    p.add_argument("model_log", help="the method's log, on the same questions (tasks, limit, seed)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=_delta)
