from collections import Counter

import pytest
from inspect_ai import eval

from bench.judges.parsing import parse_choice
from bench.revealed_prefs.dataset import draw_matchups, load_traits, tournament_dataset
from bench.revealed_prefs.report import ratings_from_log
from bench.revealed_prefs.revealed_prefs import revealed_prefs
from tests.helpers import scripted


def test_default_traits_are_the_144_reference_words():
    traits = load_traits()
    assert len(traits) == 144 and traits[0] == "remorseful" and traits[-1] == "harmonious"


def test_pairing_is_seeded():
    traits = load_traits()
    assert draw_matchups(traits, 500, seed=3) == draw_matchups(traits, 500, seed=3)
    assert draw_matchups(traits, 500, seed=3) != draw_matchups(traits, 500, seed=4)


def test_pairing_is_balanced_in_appearances_and_position():
    traits = load_traits()
    pairs = draw_matchups(traits, 1000, seed=0)
    assert all(a != b for a, b in pairs)
    appearances = Counter([a for a, _ in pairs] + [b for _, b in pairs])
    assert set(appearances) == set(traits)
    assert max(appearances.values()) - min(appearances.values()) <= 2
    first = Counter(a for a, _ in pairs)
    assert max(abs(2 * first[t] - appearances[t]) for t in traits) <= 2


def test_dataset_records_prompt_ids_and_system_prompt():
    dataset, facts = tournament_dataset(n=10, seed=0, condition="feel", traits=None, prompts="general")
    sample = dataset[0]
    assert sample.metadata["condition"] == "feel" and sample.metadata["prompt_id"]
    assert sample.metadata["trait_a"] in sample.input[0].text and "feels most like you" in sample.input[0].text
    assert len(facts["prompt_set_hash"]) == 12


@pytest.mark.parametrize(
    "raw, choice, reason",
    [
        ("<answer>warm</answer>", "warm", ""),
        ("I think <answer> Blunt. </answer>", "blunt", ""),
        ("", "invalid", "empty"),
        ("warm, definitely", "invalid", "no_answer_tag"),
        ("asdf qwerty", "invalid", "no_answer_tag"),
        ("<answer>warm and blunt</answer>", "invalid", "both"),
        ("<answer>neither</answer>", "invalid", "neither"),
        ("<answer>kind</answer>", "invalid", "other_word"),
        ("I'm sorry, I can't help with that.", "invalid", "refusal"),
    ],
)
def test_judge_parsing(raw, choice, reason):
    verdict = parse_choice(raw, ("warm", "blunt"))
    assert (verdict.choice, verdict.reason) == (choice, reason)


def test_grader_path_counts_invalid_answers_by_reason(tmp_path):
    n = 4
    dataset, _ = tournament_dataset(n=n, seed=0, condition="like", traits=None, prompts="general")
    pairs = [(s.metadata["trait_a"], s.metadata["trait_b"]) for s in dataset]
    judge_texts = [
        f"<answer>{pairs[0][0]}</answer>",
        "no tags at all",
        f"<answer>{pairs[2][1]}</answer>",
        "<answer>neither</answer>",
    ]
    # samples run concurrently: give the grader one answer per sample keyed by order of calls is fragile,
    # so run with max_connections=1 / max_samples=1 to keep the order: each sample's verdict, then its
    # design null's (here a valid answer for the null pair)
    nulls = [f"<answer>{s.metadata['null_pair'][0]}</answer>" for s in dataset]
    log = eval(
        revealed_prefs(n=n, max_tokens=8),
        model=scripted(["a reply"] * n),
        model_roles={"grader": scripted([t for pair in zip(judge_texts, nulls) for t in pair])},
        log_dir=str(tmp_path),
        max_samples=1,
        display="none",
    )[0]
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["valid"] == 2 and metrics["invalid_rate"] == 0.5
    assert metrics["invalid_no_answer_tag"] == 1 and metrics["invalid_neither"] == 1
    raw = [s.scores["trait_judge"].explanation.split("\n\ndesign null")[0] for s in log.samples]
    assert "no tags at all" in raw  # raw judge text kept
    assert metrics["null_invalid"] == 0 and metrics["design_null"] == 1.0
    nulls_seen = [s.scores["trait_judge"].metadata["null_winner"] for s in log.samples]
    assert nulls_seen == [s.metadata["null_pair"][0] for s in log.samples]


def test_end_to_end_on_the_embedded_model_with_offline_judge(tmp_path):
    log = eval(
        "bench/revealed_prefs",
        model="charbench/smollm2-135m",
        task_args={"n": 6, "max_tokens": 24},
        log_dir=str(tmp_path),
        display="none",
    )[0]
    assert log.status == "success"
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert "invalid_rate" in metrics and metrics["matchups"] == 6
    appeared = {s.metadata["trait_a"] for s in log.samples} | {s.metadata["trait_b"] for s in log.samples}
    table = ratings_from_log(log)
    assert set(table.index) == appeared
    assert (table["lo"] <= table["hi"]).all() and {"null", "elo", "matches"} <= set(table.columns)
    judges = {s.scores["trait_judge"].metadata["judge"] for s in log.samples}
    assert judges <= {"embedded-similarity-v2", "none"}
    assert log.eval.task_args["seed"] == 0


def test_the_console_prints_a_short_summary_without_conversion_warnings(tmp_path):
    """`inspect eval bench/revealed_prefs -T n=12` over the 144 traits: the summary metrics only (per-trait
    tables live in the samples), and every score value is a number Inspect can convert."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "inspect_ai", "eval", "bench/revealed_prefs", "--model", "charbench/smollm2-135m",
         "-T", "n=12", "-T", "max_tokens=8", "--log-dir", str(tmp_path), "--display", "plain"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout + run.stderr
    assert "Unable to convert value to float" not in printed
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path))[0], header_only=True)
    metrics = log.results.scores[0].metrics
    assert len(metrics) < 40 and not any("/" in k for k in metrics)
    assert {"spread", "spread_null", "spread_corrected", "reliability", "judge_validated"} <= set(metrics)
