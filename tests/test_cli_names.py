"""One name per concept across every charbench subcommand; every flag helped; old spellings still work."""

import argparse
import subprocess
import sys

from charbench.cli import build_parser
from charbench.options import CONCEPTS, OLD_SPELLINGS


def flags():
    """(command path, action) for every visible option of every subcommand."""

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])
            elif action.option_strings and action.dest != "help" and action.help != argparse.SUPPRESS:
                yield " ".join(path), action

    return list(walk(build_parser(), []))


def test_every_concept_has_one_name_in_every_subcommand():
    wrong = [
        f"{command}: {'/'.join(a.option_strings)} holds {a.dest}, which is {CONCEPTS[a.dest]} everywhere"
        for command, a in flags()
        if a.dest in CONCEPTS and CONCEPTS[a.dest] not in a.option_strings
    ]
    old = [f"{command}: {s}" for command, a in flags() for s in a.option_strings if s in OLD_SPELLINGS]
    assert not wrong and not old, wrong + old


def test_every_flag_has_help_and_shows_its_default():
    missing = [f"{command}: {a.option_strings[0]}" for command, a in flags() if not a.help]
    assert not missing, missing
    silent = [
        f"{command}: {a.option_strings[0]}"
        for command, a in flags()
        if a.default not in (None, False, [], argparse.SUPPRESS) and "default" not in a.help
    ]
    assert not silent, silent


def test_an_old_spelling_still_works_with_a_note():
    parser = build_parser()
    args = parser.parse_args(
        ["train", "distill", "--persona", "loving", "--teacher", "t", "--student", "s", "--out", "o"]
    )
    assert args.model == "s"
    run = subprocess.run(
        [sys.executable, "-m", "charbench.cli", "steer", "calibrate", "missing.safetensors", "--prompts", "3"],
        capture_output=True,
        text=True,
    )
    assert "--prompts is now --n-prompts" in run.stderr and "Traceback" not in run.stderr


def test_suite_commands_pass_task_args_model_args_and_roles_into_the_spec():
    from experiments.shortcuts import SuiteConfig, evals_section, instruments_section

    config = SuiteConfig.small(
        task_args={"max_tokens": "7", "condition": "feel"},
        roles={"grader": "openai/judge", "user": "openai/user"},
    )
    evals = evals_section(config, classifier=True, coherence_baseline="prompted")
    assert all(section["max_tokens"] == 7 for section in evals.values() if "max_tokens" in section)
    assert evals["revealed_prefs"]["condition"] == "feel" and "condition" not in evals["robustness"]
    assert instruments_section(config) == {"grader": "openai/judge", "roles": {"user": "openai/user"}}


def test_a_task_arg_no_eval_takes_is_one_line_and_exit_2():
    run = subprocess.run(
        [sys.executable, "-m", "charbench.cli", "score", "charbench/smollm2-135m", "--persona", "loving",
         "--small", "-T", "no_such_arg=1", "--capabilities", "none"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2 and "-T no_such_arg: no eval of this suite takes it" in run.stderr
    assert "Traceback" not in run.stderr
