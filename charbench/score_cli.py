"""`charbench score`, `charbench compare` and `charbench leaderboard`."""

from __future__ import annotations

import argparse
import time

from charbench.errors import CharbenchError
from charbench.options import deprecated, log_dir_default


def _config(args: argparse.Namespace):
    from experiments.shortcuts import SuiteConfig

    base = SuiteConfig.small() if args.small else SuiteConfig()
    if getattr(args, "n_prompts", None) is not None:
        base.prompts = args.n_prompts
    for name in (
        "matchups",
        "max_tokens",
        "seed",
        "classifier",
        "grader",
        "traits",
        "capabilities",
        "capability_limit",
        "drift_turns",
        "drift_vector",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(base, name, value)
    base.allow_weak_classifier = bool(args.allow_weak_classifier)
    base.model_args = parse_model_args(args.model_args)
    base.task_args = _pairs(args.task_args, "-T")
    base.roles = _pairs(args.model_roles, "--model-role")
    return base


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CharbenchError(f"{flag} {item}: write NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def parse_model_args(pairs: list[str]) -> dict:
    """`-M key=value` through Inspect's own parser (what `inspect eval -M` uses: YAML values, dashes
    to underscores, comma lists); a pair without `=`, which Inspect would drop silently, is an error."""
    from inspect_ai._util.config import parse_cli_args

    from charbench.errors import CharbenchError

    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not (key and sep):
            raise CharbenchError(f"-M {pair}: write -M key=value, e.g. -M host=127.0.0.1")
    return parse_cli_args(pairs)


def _log_root(args: argparse.Namespace):
    from pathlib import Path

    return Path(args.log_dir) if args.log_dir else None


def _score(args: argparse.Namespace) -> None:
    from experiments.shortcuts import score_model
    from experiments.summary import print_summary

    config = _config(args)
    model_args = parse_model_args(args.model_args)
    logs = score_model(
        args.model, args.persona, config, baseline=args.baseline, model_args=model_args, log_root=_log_root(args)
    )
    print_summary(logs)
    hints = {
        "robustness": "pass --classifier DIR (charbench classifier train)",
        "capabilities": "--capabilities none",
        "drift": "pass --classifier DIR (and --drift-turns above 0)",
    }
    for skipped in dict.fromkeys(config.skipped):
        print(f"  {skipped:<22} skipped: {hints[skipped]}")
    if not args.baseline:
        print(f"  {'bench/coherence':<22} skipped: pass --baseline MODEL to judge coherence against it")


def _compare(args: argparse.Namespace) -> None:
    from experiments.shortcuts import compare_methods
    from experiments.summary import print_summary

    start = time.perf_counter()
    config = _config(args)
    if args.model is None:
        raise CharbenchError("compare: give the base model with --model (e.g. --model smollm2-135m)")
    logs = compare_methods(
        args.persona,
        args.model,
        config,
        adapter=args.adapter,
        vector=args.vector,
        coef=args.coef,
        classifier_prompts=args.classifier_prompts,
        none_class=not args.no_none_class,
        log_root=_log_root(args),
    )
    print_summary(logs)
    print(f"\nwall time: {time.perf_counter() - start:.0f}s")


def _leaderboard(args: argparse.Namespace) -> None:
    from leaderboards.build import build_leaderboard

    paths = build_leaderboard(
        args.log_dir, csv=args.csv, markdown=args.markdown, html_path=args.html, force=args.force_compare
    )
    for path in paths:
        print(f"wrote {path}")


def _suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--persona", required=True, help="persona name or file")
    p.add_argument(
        "-M",
        dest="model_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model arg, as in inspect eval (repeatable); for vllm/ on a CPU: -M host=127.0.0.1 -M enforce_eager=true",
    )
    p.add_argument(
        "-T",
        dest="task_args",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="task arg, as in inspect eval (repeatable): set on every eval of the suite that takes NAME",
    )
    p.add_argument(
        "--model-role",
        dest="model_roles",
        action="append",
        default=[],
        metavar="ROLE=MODEL",
        help="model role, as in inspect eval (repeatable): grader, prefill (robustness), user (drift)",
    )
    p.add_argument(
        "--log-dir",
        default=log_dir_default(),
        help="where the experiment directory and its spec go ($INSPECT_LOG_DIR, else results/); the run writes a spec "
        "(<log-dir>/<experiment>.yaml) that `charbench run` repeats and extends",
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="CPU-sized settings: 48 matchups over 12 traits, 3 prompts, 48-token replies",
    )
    p.add_argument("--traits", help="trait file for revealed_prefs (default: the 144 reference words)")
    p.add_argument("--matchups", type=int, help="revealed_prefs matchups (default 2000)")
    p.add_argument("--n-prompts", type=int, help="robustness/coherence prompts (default 100)")
    deprecated(p, "--prompts", "--n-prompts", "n_prompts", type=int)
    p.add_argument("--max-tokens", type=int, help="new tokens per reply (default 512)")
    p.add_argument("--seed", type=int, help="seed for every random choice (default 0)")
    p.add_argument("--classifier", help="persona classifier dir for bench/robustness")
    p.add_argument(
        "--allow-weak-classifier",
        action="store_true",
        help="score robustness even when the classifier's held-out macro-F1 does not clear chance "
        "(the logs and the leaderboard label it weak)",
    )
    p.add_argument("--grader", help="judge model for revealed_prefs and coherence (default: offline embedded)")
    p.add_argument(
        "--capabilities",
        help="bench/capabilities tasks: standard (the reference's five, needs their HF datasets cached), "
        "smoke (bundled offline check), a comma list (arc_challenge,mmlu,...), or none "
        "(default: standard; with --small: smoke)",
    )
    p.add_argument("--capability-limit", type=int, help="questions per capability benchmark (default all; --small 24)")
    p.add_argument(
        "--drift-turns",
        type=int,
        help="bench/drift conversation turns, run when a classifier is given (default 8; --small 3; 0 skips drift)",
    )
    p.add_argument(
        "--drift-vector",
        help="persona vector for drift's activation score (default: a steered model's own; compare: its vector)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="run the whole suite on one model: writes a spec and runs it (results/score-<model>-<persona>/)"
    )
    p.add_argument("model", help="an Inspect model, e.g. charbench/prompt/loving/smollm2-135m")
    p.add_argument("--baseline", help="model to judge coherence against (default: coherence skipped)")
    _suite_args(p)
    p.set_defaults(func=_score)

    p = sub.add_parser(
        "compare",
        help="base, prompted, steered and fine-tuned versions of one base model: writes a spec and runs it "
        "(results/compare-<base>-<persona>/)",
    )
    p.add_argument("--model", help="the base model: smollm2-135m, a dir or a hub id (required)")
    deprecated(p, "--base", "--model", "model")
    p.add_argument("--adapter", help="LoRA adapter or merged checkpoint dir (the fine-tuned method)")
    p.add_argument("--vector", help="steering vector (default: extract, then calibrate)")
    p.add_argument("--coef", type=float, help="steering coefficient (default: the vector's calibrated one)")
    p.add_argument(
        "--classifier-prompts",
        type=int,
        default=60,
        help="training prompts per persona for the experiment's classifier when --classifier is not given "
        "(default 60: about 13 held out, enough to validate; fewer is refused before any generation)",
    )
    p.add_argument(
        "--no-none-class",
        action="store_true",
        help="train the quick classifier without the `none` class (the base model's replies)",
    )
    _suite_args(p)
    p.set_defaults(func=_compare)

    p = sub.add_parser("leaderboard", help="build CSV, Markdown and a web page from an experiment's logs")
    p.add_argument(
        "log_dir",
        nargs="?",
        default=None,
        help="an experiment directory (results/<experiment>: outputs go beside its logs) or any directory "
        "of Inspect logs (default: results/logs)",
    )
    p.add_argument("--csv", default=None, help="default: <experiment>/leaderboard.csv, else results/leaderboard.csv")
    p.add_argument("--markdown", default=None, help="default: <experiment>/leaderboard.md, else leaderboards/")
    p.add_argument("--html", default=None, help="default: <experiment>/index.html, else leaderboards/index.html")
    p.add_argument(
        "--force-compare",
        action="store_true",
        help="compute Spearman vs base even when judge/condition/traits/prompts differ (labelled FORCED)",
    )
    deprecated(p, "--force", "--force-compare", "force_compare", flag=True)
    p.set_defaults(func=_leaderboard)
