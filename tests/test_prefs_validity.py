"""Revealed preferences you can trust: floors, reliability, ceilings, multiplicity, like-with-like."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from bench import ratings
from bench.revealed_prefs import validity
from bench.revealed_prefs.compare import comparable, compare_frames
from charbench.errors import CharbenchError
from tests.helpers import charbench

TRAITS = [f"t{i:03d}" for i in range(60)]


def coin_flip(n: int, seed: int) -> pd.DataFrame:
    return ratings.simulate_matches(pd.Series(1000.0, index=TRAITS), n, seed=seed)


def true_ratings(spread: float, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(1000, spread, len(TRAITS)), index=TRAITS)


def test_a_coin_flip_judge_has_a_raw_spread_at_the_coin_flip_floor():
    matches = coin_flip(1500, seed=1)
    spread = float(ratings.bradley_terry(matches)["rating"].std(ddof=0))
    floor, _ = validity.coinflip_spread(matches, sims=10, seed=0)
    assert spread > 20  # the noise floor a naive reader would take for a preference
    assert abs(spread - floor) < 0.35 * floor


def reliability(frame, n, seed=0):
    (enc,) = validity.encode([frame])
    return validity.reliability(enc, n=n, seed=seed)


def test_reliability_is_about_zero_for_a_coin_flip_judge():
    """Over several coin-flip logs: centred on 0, and the interval holds 0 in most of them."""
    results = [reliability(coin_flip(1500, seed=s), n=30, seed=0) for s in range(8)]
    assert abs(np.mean([rel for rel, _, _ in results])) < 0.15
    assert sum(lo < 0 < hi for _, lo, hi in results) >= 6


def test_reliability_tracks_the_agreement_of_two_runs_of_one_model():
    """Two independent logs of the same true ratings correlate about as the split-half reliability says."""
    truth = true_ratings(80, seed=4)
    run_a = ratings.simulate_matches(truth, 2000, seed=5)
    run_b = ratings.simulate_matches(truth, 2000, seed=6)
    rel, lo, hi = reliability(run_a, n=40, seed=0)
    fit_a, fit_b = ratings.bradley_terry(run_a)["rating"], ratings.bradley_terry(run_b)["rating"]
    observed = spearmanr(fit_a, fit_b[fit_a.index]).statistic
    assert 0.3 < rel < 0.95
    assert lo - 0.05 <= observed <= hi + 0.05


def test_no_trait_shift_survives_when_nothing_changed():
    """Plain 95% intervals exclude 0 for some traits by chance; BY at q < 0.05 keeps (almost) none."""
    a, b = coin_flip(1500, seed=7), coin_flip(1500, seed=8)
    result = compare_frames(a, b, n=60, seed=0, top=5)
    assert ((result["change"]["lo"] > 0) | (result["change"]["hi"] < 0)).sum() >= 1
    assert result["survivors"] <= 1


def test_a_real_shift_survives_multiplicity_control():
    truth = true_ratings(60, seed=9)
    shifted = truth.copy()
    shifted["t000"] += 500
    a = ratings.simulate_matches(truth, 3000, seed=10)
    b = ratings.simulate_matches(shifted, 3000, seed=11)
    result = compare_frames(a, b, n=80, seed=0, top=5)
    assert result["gains"].index[0] == "t000" and result["gains"]["q"].iloc[0] < 0.05


def test_logs_with_different_judges_are_refused_unless_forced():
    a = {"judge": "embedded-similarity", "condition": "like", "traits_hash": "x", "prompt_set_hash": "p"}
    b = {**a, "judge": "openai/gpt-4o"}
    with pytest.raises(CharbenchError, match="judge"):
        comparable(a, b)
    assert comparable(a, b, force=True) == ["judge"]
    assert comparable(a, dict(a)) == []


def test_power_follows_the_rating_standard_error():
    """The analytic sample size detects the shift about 80% of the time in simulation."""
    shift, traits = 300, 20
    n = ratings.matchups_for_shift(shift, traits)
    names = [f"t{i}" for i in range(traits)]
    hits = 0
    for sim in range(25):
        base = pd.Series(1000.0, index=names)
        moved = base.copy()
        moved["t0"] += shift
        fa = ratings.bradley_terry(ratings.simulate_matches(base, n, seed=2 * sim))
        fb = ratings.bradley_terry(ratings.simulate_matches(moved, n, seed=2 * sim + 1))
        se = np.hypot(ratings.rating_se(2 * n / traits), ratings.rating_se(2 * n / traits))
        hits += (fb["rating"]["t0"] - fa["rating"]["t0"]) / se > 1.96
    assert 12 <= hits <= 25  # 80% power: about 20 of 25
    assert ratings.matchups_for_shift(shift, traits, tests=traits) > n
    assert ratings.matchups_for_shift(shift, traits, design_effect=2.0) == pytest.approx(2 * n, abs=2)


def _assigned_log(tmp_path, judge_texts, n=8):
    from inspect_ai import eval

    from bench.revealed_prefs.revealed_prefs import revealed_prefs
    from tests.helpers import scripted

    return eval(
        revealed_prefs(n=n, max_tokens=8, condition="assigned"),
        model=scripted(["a reply"] * n),
        model_roles={"grader": scripted(judge_texts)},
        log_dir=str(tmp_path),
        max_samples=1,
        display="none",
    )[0]


def test_the_assigned_condition_measures_the_judge_per_trait(tmp_path):
    from bench.revealed_prefs.dataset import tournament_dataset

    dataset, _ = tournament_dataset(n=8, seed=0, condition="assigned", traits=None, prompts="general")
    samples = list(dataset)
    assigned = [s.metadata["assigned"] for s in samples]
    assert all(s.metadata["assigned"] in s.input[0].text for s in samples)
    assert sum(s.metadata["assigned"] == s.metadata["trait_a"] for s in samples) == 4  # balanced by position
    # one sample at a time: its verdict, then its design null's (answered here with a word of neither pair)
    log = _assigned_log(
        tmp_path, [text for t in assigned for text in (f"<answer>{t}</answer>", "<answer>none</answer>")]
    )
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["assigned_accuracy"] == 1.0 and metrics["assigned_n"] == 8
    assert metrics["assigned_accuracy_lo"] < 1.0  # a Wilson interval, not a point
    from bench.revealed_prefs.compare import matches_from_log
    from bench.revealed_prefs.scorers import assigned_by_trait

    frame, _ = matches_from_log(log)
    frame["assigned"] = [s.scores["trait_judge"].metadata["assigned"] for s in log.samples]
    per_trait = assigned_by_trait(frame)
    assert set(per_trait.index) == set(assigned) and (per_trait["accuracy"] == 1.0).all()
    assert not any("/" in k for k in metrics)  # per-trait figures live in the samples, not on the console
    for key in ("spread_corrected", "spread_null", "spread_coinflip", "reliability", "design_null", "prompts"):
        assert key in metrics
    assert metrics["null_invalid"] == 8  # every null verdict unparsable, counted, not dropped silently


def test_prefs_compare_refuses_logs_of_different_judges_and_reports_reliability(tmp_path):

    from inspect_ai import eval

    from bench.revealed_prefs.compare import compare_logs
    from bench.revealed_prefs.revealed_prefs import revealed_prefs
    from tests.helpers import scripted

    def run(directory, judge_model, judge="auto"):
        return eval(
            revealed_prefs(n=60, max_tokens=8, judge=judge, traits=str(_demo_traits())),
            model=scripted([f"reply {i}" for i in range(60)]),
            model_roles={"grader": judge_model} if judge_model else None,
            log_dir=str(tmp_path / directory),
            display="none",
        )[0]

    first = run("a", None, judge="embedded")
    second = run("b", None, judge="embedded")
    graded = run("c", scripted(["<answer>warm</answer>"] * 120), judge="grader")
    text = compare_logs(first.location, second.location, png=None, n=20)
    assert "reliability" in text and "Benjamini-Yekutieli" in text and "design null" in text
    assert "test-retest ceiling: none" in text
    retested = compare_logs(first.location, second.location, png=None, n=20, retest=second.location)
    assert "test-retest ceiling (A vs a second run of A on its design): Spearman" in retested
    result = charbench("prefs", "compare", first.location, graded.location, "--png", "")
    assert result.returncode == 2 and "judge" in result.stderr and "Traceback" not in result.stderr
    forced = compare_logs(first.location, graded.location, png=None, n=20, force=True)
    assert forced.startswith("FORCED COMPARISON")


def _demo_traits():
    from bench.revealed_prefs.dataset import DATA_DIR

    return DATA_DIR / "traits-demo-12.txt"


def test_the_assigned_condition_counts_an_invalid_verdict_as_wrong(tmp_path):
    from bench.revealed_prefs.dataset import tournament_dataset

    dataset, _ = tournament_dataset(n=8, seed=0, condition="assigned", traits=None, prompts="general")
    answers = [f"<answer>{s.metadata['assigned']}</answer>" for s in list(dataset)[:4]] + ["no tags"] * 4
    log = _assigned_log(tmp_path, [text for a in answers for text in (a, "<answer>none</answer>")])
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    assert metrics["assigned_n"] == 8 and metrics["assigned_accuracy"] == 0.5


def test_a_trait_seen_in_few_prompts_gets_no_interval_and_never_survives():
    """24 matchups over 144 traits: most traits play once, so every bootstrap draw either lacks them or
    repeats the same verdict, and a percentile interval of those draws is near zero width (a coin-flip
    trait read '+211 [+206, +212]*'). Such a trait keeps its point shift, gets no interval, and is left
    out of the multiplicity count; so is a target trait, which is listed as too sparse instead."""
    traits = pd.Series(1000.0, index=[f"w{i:03d}" for i in range(144)])
    a = ratings.simulate_matches(traits, 24, seed=1)
    b = ratings.simulate_matches(traits, 24, seed=2)
    targets = list(a["trait_a"][:3])
    result = compare_frames(a, b, n=60, seed=0, targets=targets, reliability=False)
    change = result["change"]
    sparse = change["prompts"] < validity.MIN_PROMPTS
    assert sparse.all() and len(change) >= 3
    assert change.loc[sparse, ["lo", "hi", "q"]].isna().all().all()
    assert result["survivors"] == 0 and result["traits"] == 0 and result["too_few"] == len(change)
    assert result["target"]["delta"] is None
    assert set(result["target"]["sparse"]) == {t for t in targets if t in change.index}


def test_traits_with_enough_prompts_keep_their_intervals_beside_sparse_ones():
    """Only the traits below the minimum lose their interval: a common trait keeps its own."""
    truth = pd.Series(1000.0, index=[f"w{i:03d}" for i in range(30)])
    common = ratings.simulate_matches(truth.iloc[:10], 400, seed=3)
    rare = ratings.simulate_matches(truth.iloc[10:], 20, seed=4)
    a = pd.concat([common, rare], ignore_index=True)
    b = pd.concat([ratings.simulate_matches(truth.iloc[:10], 400, seed=5), rare], ignore_index=True)
    change = compare_frames(a, b, n=60, seed=0, reliability=False)["change"]
    dense = change["prompts"] >= validity.MIN_PROMPTS
    assert set(change.index[dense]) == set(truth.index[:10])
    assert change.loc[dense, ["lo", "hi", "q"]].notna().all().all()
    assert (change.loc[dense, "hi"] - change.loc[dense, "lo"]).min() > 20
    assert change.loc[~dense, ["lo", "hi", "q"]].isna().all().all()
