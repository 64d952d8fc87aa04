"""The `charbench` command: one entry point, each subcommand a thin layer over a library function.

User mistakes (`CharbenchError`) print one line and exit with code 2; completed work is never lost
because every long step writes its results as it goes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from charbench.errors import CharbenchError
from charbench.options import deprecated, log_dir_default, show_defaults

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _personas_list(args: argparse.Namespace) -> None:
    from personas import list_personas

    personas = sorted(list_personas().items())
    width = max(len(name) for name, _ in personas)
    for name, persona in personas:
        print(f"{name:<{width}} {len(persona.traits):>2} traits  {persona.description}")


def _personas_show(args: argparse.Namespace) -> None:
    from personas import load_persona
    from personas.prompting import constitution_system_prompt

    persona = load_persona(args.name)
    if args.system_prompt:
        print(constitution_system_prompt(persona))
        return
    print(f"{persona.name}: {persona.description}\n")
    for i, trait in enumerate(persona.traits, 1):
        print(f"{i:>2}. {trait.statement}")
        for q in trait.questions:
            print(f"      - {q}")


def _personas_validate(args: argparse.Namespace) -> None:
    from personas import list_personas, load_persona_file

    if args.paths:
        for path in args.paths:
            persona = load_persona_file(path)
            print(f"ok  {path}  ({persona.name}, {len(persona.traits)} traits)")
    else:
        found = list_personas()
        print(f"ok  {len(found)} personas valid: {', '.join(sorted(found))}")


def _personas_import(args: argparse.Namespace) -> None:
    import yaml

    from personas import load_persona_file

    persona = load_persona_file(args.file, name=args.name, description=args.description)
    out = Path(args.out or f"{persona.name}.yaml")
    if out.exists() and not args.overwrite:
        raise CharbenchError(f"{out} exists: pass --out PATH or --overwrite to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(persona.model_dump(), sort_keys=False, allow_unicode=True, width=100))
    questions = sum(len(t.questions) for t in persona.traits)
    print(f"wrote {out}  ({persona.name}, {len(persona.traits)} traits, {questions} questions)")


def _demo(args: argparse.Namespace) -> None:
    from charbench.demo import run_demo

    run_demo(limit=args.matchups, model=args.model, max_tokens=args.max_tokens, log_dir=args.log_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="charbench",
        description="Evaluation-first benchmark harness for character training. "
        "Models are Inspect models: charbench/smollm2-135m (embedded), charbench/prompt/<persona>/<base>, "
        "charbench/steer/<coef>/<vector>, charbench/ft/<dir>.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    personas = sub.add_parser("personas", help="list, show or validate persona constitutions")
    psub = personas.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = psub.add_parser("list", help="list every persona found (shipped + $CHARBENCH_PERSONAS)")
    p.set_defaults(func=_personas_list)
    p = psub.add_parser("show", help="print one persona's traits and questions")
    p.add_argument("name", help="persona name (loving, oct.loving) or path to a persona file (ours or the reference's)")
    p.add_argument("--system-prompt", action="store_true", help="print the system prompt built from it instead")
    p.set_defaults(func=_personas_show)
    p = psub.add_parser("validate", help="validate persona files (default: all found personas)")
    p.add_argument("paths", nargs="*", help="YAML/JSON files, or the reference's .txt (JSON list) / .jsonl files")
    p.set_defaults(func=_personas_validate)
    p = psub.add_parser(
        "import",
        help="convert an Open Character Training constitution (.txt JSON list or .jsonl) to charbench YAML",
    )
    p.add_argument("file", help="the reference's constitution file")
    p.add_argument("--name", help="persona name (default: oct.<file stem>)")
    p.add_argument("--description", help="one-line description (default: the first trait)")
    p.add_argument("--out", help="YAML file to write (default: <name>.yaml here)")
    p.add_argument("--overwrite", action="store_true", help="overwrite --out if it exists")
    deprecated(p, "--force", "--overwrite", "overwrite", flag=True)
    p.set_defaults(func=_personas_import)

    demo = sub.add_parser("demo", help="the main job on the embedded model (what `make demo` runs)")
    demo.add_argument("--matchups", type=int, default=36, help="revealed-preference matchups")
    deprecated(demo, "--limit", "--matchups", "matchups", type=int)
    demo.add_argument("--max-tokens", type=int, default=64, help="new tokens per reply")
    demo.add_argument("--model", default="charbench/smollm2-135m", help="model to score")
    demo.add_argument(
        "--log-dir", default=log_dir_default(), help="where the log goes ($INSPECT_LOG_DIR, else results/demo)"
    )
    demo.set_defaults(func=_demo)

    for register in _extra_commands():
        register(sub)
    show_defaults(parser)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    from charbench import (  # noqa: I001
        capabilities_cli,
        classifier_cli,
        drift_cli,
        judge_cli,
        prefs_cli,
        run_cli,
        score_cli,
        steer_cli,
        train_cli,
    )

    return [
        judge_cli.register,
        steer_cli.register,
        prefs_cli.register,
        classifier_cli.register,
        capabilities_cli.register,
        drift_cli.register,
        run_cli.register,
        score_cli.register,
        train_cli.register,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except CharbenchError as err:
        print(f"charbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("charbench: interrupted (results written so far are kept)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
