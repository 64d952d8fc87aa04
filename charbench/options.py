"""One name per concept across every `charbench` subcommand, and the old spellings for one release.

The model a command runs, trains or generates with is `--model` everywhere (`score` takes it as its
positional argument, as `inspect eval` takes `--model`); a count of prompts is `--n-prompts` (a
prompt *set* is an eval's `-T prompts=NAME`); new tokens per reply `--max-tokens`; overwriting an
output `--overwrite`; comparing logs whose facts differ `--force-compare`. `tests/test_cli_names.py`
walks every subcommand and holds the parser to this table and to a help text on every flag.
"""

from __future__ import annotations

import argparse
import os
import sys

CONCEPTS = {  # argparse dest -> the one option string every subcommand uses for it
    "model": "--model",
    "max_tokens": "--max-tokens",
    "n_prompts": "--n-prompts",
    "seed": "--seed",
    "log_dir": "--log-dir",
    "bootstrap": "--bootstrap",
    "overwrite": "--overwrite",
    "force_compare": "--force-compare",
    "persona": "--persona",
    "out": "--out",
}
OLD_SPELLINGS = ("--base", "--student", "--generator", "--max-new-tokens", "--prompts", "--force")


def deprecated(parser: argparse.ArgumentParser, old: str, new: str, dest: str, flag: bool = False, **kwargs) -> None:
    """Accept `old` for one more release, into `new`'s destination, with a one-line note; hidden in --help."""
    base = argparse._StoreTrueAction if flag else argparse._StoreAction

    class OldSpelling(base):  # type: ignore[misc, valid-type]
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"charbench: note: {old} is now {new}; the old spelling goes in the next release", file=sys.stderr)
            super().__call__(parser, namespace, values, option_string)

    parser.add_argument(old, dest=dest, action=OldSpelling, help=argparse.SUPPRESS, **kwargs)


def log_dir_default() -> str | None:
    """Inspect's own habit: `INSPECT_LOG_DIR` when set, else the command's default."""
    return os.environ.get("INSPECT_LOG_DIR") or None


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every flag's help ends with its default where it has one and does not say it already."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                show_defaults(sub)
            continue
        if not action.option_strings or action.help in (None, argparse.SUPPRESS):
            continue
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in action.help:
            continue
        action.help += " (default: %(default)s)"
