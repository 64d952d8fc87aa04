"""`charbench prefs compare LOG_A LOG_B`."""

from __future__ import annotations

import argparse

from charbench.errors import CharbenchError
from charbench.options import deprecated


def _compare(args: argparse.Namespace) -> None:
    from bench.revealed_prefs.compare import compare_logs

    print(
        compare_logs(
            args.log_a,
            args.log_b,
            png=args.png,
            n=args.bootstrap,
            seed=args.seed,
            force=args.force_compare,
            persona=args.persona,
            retest=args.retest,
        )
    )


def _power(args: argparse.Namespace) -> None:
    from bench.ratings import expected_reliability, matchups_for_shift

    if not 0 <= args.share < 1:
        raise CharbenchError(f"--share {args.share:g}: use a share in [0, 1) (the rest stays uniform for the ranking)")

    effect, source = args.design_effect, "given"
    if args.from_logs:
        from bench.revealed_prefs.compare import matches_from_log
        from bench.revealed_prefs.validity import design_effect

        a, b = (matches_from_log(path)[0] for path in args.from_logs)
        effect, source = design_effect(a, b), f"measured on {args.from_logs[0]} vs {args.from_logs[1]}"
    plain = matchups_for_shift(args.shift, args.traits, power=args.power, design_effect=effect)
    corrected = matchups_for_shift(args.shift, args.traits, power=args.power, tests=args.traits, design_effect=effect)
    print(
        f"design effect {effect:.2f} ({source}): the variance of a trait shift on this design (prompts reused, "
        "the two logs paired) over that of independent matchups in independent logs"
        + ("; 1 assumes independent matchups: measure yours with --from-logs BASE METHOD" if not args.from_logs else "")
    )
    print(
        f"To detect a {args.shift:g}-Elo shift in one trait between two logs ({args.traits} traits, two-sided "
        f"alpha 0.05, power {args.power:g}): {plain} matchups per log; {corrected} with multiplicity control "
        f"(Bonferroni over {args.traits} traits, the worst case of any false-discovery control)."
    )
    for n in sorted({args.matchups, plain, corrected}):
        print(
            f"  at {n} matchups: expected reliability {expected_reliability(n, args.traits, args.true_spread):.2f} "
            f"for a true spread of {args.true_spread:g} Elo"
        )
    for line in _target_lines(args, effect):
        print(line)


def _target_lines(args: argparse.Namespace, effect: float) -> list[str]:
    """For each persona asked about (--persona, or every persona of --experiment): matchups for the mean
    shift of its target traits, uniform vs the planned design (the experiment's, or --share over
    --design-targets)."""
    from bench.ratings import matchups_for_target_shift

    personas, share, union, traits = list(args.persona or []), args.share, args.design_targets, args.traits
    vocabulary: list[str] | None = None  # an experiment's trait list: targets outside it are not rated
    planned: list[str] | None = None  # the experiment's design targets
    if args.experiment:
        from bench.revealed_prefs.dataset import load_traits
        from experiments.runner import design_targets
        from experiments.spec import load_spec

        spec = load_spec(args.experiment)
        prefs = spec.evals.revealed_prefs
        personas = personas or list(spec.personas)
        if prefs is not None:
            vocabulary = load_traits(prefs.traits)
            traits = len(vocabulary)
            if prefs.design is not None:
                planned = design_targets(spec)
                share, union = prefs.design.share, len(planned)
    if not personas:
        return []
    from personas import load_persona

    lines = [
        f"Target-trait shift (the mean of a persona's target traits, {traits} traits, power {args.power:g}, "
        f"design effect {effect:.2f}):"
    ]
    for name in personas:
        rated = [x for x in load_persona(name).target_traits if vocabulary is None or x in vocabulary]
        if not rated:
            lines.append(f"  {name}: none of its target traits is in the trait list")
            continue
        k = len(rated)
        uniform = matchups_for_target_shift(args.shift, traits, k, power=args.power, design_effect=effect)
        line = f"  {name} ({k} targets): {uniform} matchups per log on a uniform design"
        if share:
            inside = k if planned is None else sum(x in planned for x in rated)
            needed = matchups_for_target_shift(
                args.shift, traits, k, power=args.power, design_effect=effect, share=share,
                design_targets=union or k, in_design=inside,
            )  # fmt: skip
            line += f"; {needed} on the planned design ({share:g} of matchups on {union or k} target traits"
            line += ")" if inside == k else f", {inside} of this persona's)"
        lines.append(line)
    if share and effect != 1.0:
        lines.append(
            "  (a design effect measured on uniform logs may understate a planned design's: its target matchups "
            "share prompts more; measure it with --from-logs on two logs of the planned design)"
        )
    return lines


def register(sub: argparse._SubParsersAction) -> None:
    prefs = sub.add_parser("prefs", help="revealed-preference tools: compare two tournament logs")
    psub = prefs.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = psub.add_parser(
        "compare",
        help="Spearman of rankings, spread change, target-trait shift, top gains/losses, with intervals, + PNG",
    )
    p.add_argument("log_a", help="reference log (e.g. the base model)")
    p.add_argument("log_b", help="compared log (e.g. the trained model)")
    p.add_argument("--png", default="prefs-compare.png", help="figure path (default prefs-compare.png)")
    p.add_argument(
        "--bootstrap", type=int, default=200, help="bootstrap draws, prompts resampled (default: %(default)s)"
    )
    p.add_argument(
        "--retest",
        metavar="LOG",
        help="a second run of log A on the same design with independent replies: the test-retest ceiling",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument(
        "--persona",
        help="persona whose target traits to check (default: log B's persona, from its metadata or model name)",
    )
    p.add_argument(
        "--force-compare", action="store_true", help="compare logs whose judge/condition/traits/prompts differ"
    )
    deprecated(p, "--force", "--force-compare", "force_compare", flag=True)
    p.set_defaults(func=_compare)
    p = psub.add_parser("power", help="matchups needed to detect a given Elo shift per trait (80%% power)")
    p.add_argument("--shift", type=float, default=100, help="Elo shift to detect (default 100)")
    p.add_argument("--traits", type=int, default=144, help="traits in the tournament")
    p.add_argument("--power", type=float, default=0.8, help="power to detect the shift")
    p.add_argument("--matchups", type=int, default=2000, help="also report reliability at this n (default 2000)")
    p.add_argument("--true-spread", type=float, default=100, help="assumed true rating spread for reliability")
    p.add_argument(
        "--design-effect",
        type=float,
        default=1.0,
        help="variance of a shift on your design over independent matchups (default: %(default)s)",
    )
    p.add_argument(
        "--from-logs",
        nargs=2,
        metavar=("BASE", "METHOD"),
        help="measure the design effect on two tournament logs of one design (prompt-clustered, paired)",
    )
    p.add_argument(
        "--persona",
        action="append",
        metavar="NAME",
        help="also: matchups for the mean shift of this persona's target traits (repeatable)",
    )
    p.add_argument(
        "--share",
        type=float,
        default=0.0,
        help="a planned design's share of matchups on target traits (default: %(default)s, uniform)",
    )
    p.add_argument(
        "--design-targets",
        type=int,
        metavar="N",
        help="target traits the planned design spreads its share over (default: the persona's own)",
    )
    p.add_argument(
        "--experiment",
        metavar="SPEC",
        help="take the personas, trait list and planned design from an experiment spec",
    )
    p.set_defaults(func=_power)
