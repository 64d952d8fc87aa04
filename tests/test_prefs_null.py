"""The tournament's own null, unit and ceiling (../shared/VALIDITY.md 1-2), in a simulation with a judge
whose verdicts follow the trait words and the prompt (bench/revealed_prefs/simulate.py).

Before the design null, a model that ignores the offered traits read here as a strong, reliable
preference (corrected spread far above the coin-flip floor, reliability interval above 0)."""

import numpy as np
import pandas as pd
import pytest

from bench.revealed_prefs import validity
from bench.revealed_prefs.dataset import design, null_partners
from bench.revealed_prefs.simulate import World, simulate

WORLD = World.make(traits=144, prompts=153, seed=0)  # the real tournament's sizes


def test_a_model_that_ignores_the_offered_traits_reads_as_no_preference():
    """At the issue's size (600 matchups over 144 traits and 153 prompts), on four runs."""
    corrected_reaches_zero = 0
    for run in range(1, 5):
        figures = validity.log_figures(simulate(WORLD, 600, preference=None, run_seed=run), n=100)
        # the judge alone makes a spread far above the coin-flip floor: the naive reading is "a preference"
        assert figures["spread"] > 1.3 * figures["coinflip"][0]
        rel, lo, hi = figures["reliability"]
        assert lo <= 0 <= hi  # net of the design null, nothing left that agrees with itself
        assert figures["corrected"] < 0.5 * figures["null_spread"]
        corrected_reaches_zero += figures["corrected_ci"][0] == 0.0
    assert corrected_reaches_zero >= 3  # a 95% interval may miss 0 once in four
    assert figures["reliability_basis"] == "net of the design null"
    assert figures["unit"] == "prompt (153 prompts)"


def test_a_model_with_a_real_preference_reads_as_one():
    preference = pd.Series(np.random.default_rng(5).normal(0, 400, 144), index=WORLD.traits)
    figures = validity.log_figures(simulate(WORLD, 2000, preference=preference, run_seed=2), n=100)
    rel, lo, _ = figures["reliability"]
    assert lo > 0.2
    assert figures["corrected_ci"][0] > 0


def test_a_constant_reply_under_a_deterministic_judge_has_no_net_ranking():
    """A deterministic judge gives the null exactly the observed verdicts: nothing net of it."""
    frame = simulate(WORLD, 600, preference=None, run_seed=1)
    same = frame.copy()
    same["null_winner"] = frame["winner"]
    same["null_a"], same["null_b"] = frame["trait_a"], frame["trait_b"]
    figures = validity.log_figures(same, n=40)
    assert figures["corrected"] == 0.0 and figures["reliability"][0] == 0.0


def test_paired_prompt_clustered_intervals_cover_at_the_nominal_rate():
    """Two runs of one model on one design (the true shift of every trait is 0): over 100 simulated
    designs, the 95% intervals of the trait shifts hold 0 in 93-97% of cases (per trait, pooled), and
    so do those of the mean shift of three target traits. Today's matchup bootstrap resampled the two
    logs independently."""
    world = World.make(traits=20, prompts=150, seed=0)
    preference = pd.Series(np.random.default_rng(5).normal(0, 100, 20), index=world.traits)
    per_trait, total, target = 0, 0, 0
    sims = 100  # 100 designs x 200 draws: measured 0.947 per trait, 0.95 for the targets
    for s in range(sims):
        a = simulate(world, 600, preference=preference, design_seed=s, run_seed=10_000 + s)
        b = simulate(world, 600, preference=preference, design_seed=s, run_seed=20_000 + s)
        result = validity.paired(a, b, n=200, seed=s)
        change = result["change"]
        per_trait += int(((change["lo"] <= 0) & (change["hi"] >= 0)).sum())
        total += len(change)
        _, lo, hi = validity.target_interval(change, result["delta_draws"], world.traits[:3])
        target += lo <= 0 <= hi
    assert 0.93 <= per_trait / total <= 0.97
    assert 0.90 <= target / sims <= 0.99  # 100 intervals: +-0.044 is two standard errors
    assert result["unit"] == "prompt (150 prompts), paired"


def test_the_test_retest_ceiling_comes_from_a_second_run_on_the_same_design():
    world = World.make(traits=40, prompts=100, seed=1)
    preference = pd.Series(np.random.default_rng(2).normal(0, 150, 40), index=world.traits)
    a = simulate(world, 1500, preference=preference, run_seed=1)
    b = simulate(world, 1500, preference=preference, run_seed=2)
    rerun = simulate(world, 1500, preference=preference, run_seed=3)
    without = validity.paired(a, b, n=50)
    with_retest = validity.paired(a, b, retest=rerun, n=50)
    assert without["retest"] is None
    lo, hi = with_retest["retest"]["ci"]
    # B is the same model: its Spearman with A is inside the ceiling's interval, and so is a fourth run's
    assert lo - 0.05 <= with_retest["spearman"] <= hi + 0.05
    fourth = simulate(world, 1500, preference=preference, run_seed=4)
    assert lo - 0.05 <= validity.paired(rerun, fourth, n=5)["spearman"] <= hi + 0.05


def test_halves_split_prompts_and_balance_both_traits():
    frame = simulate(WORLD, 2000, preference=None, run_seed=4)
    (enc,) = validity.encode([frame])
    counts = np.bincount(enc.codes, minlength=enc.codes.max() + 1)
    first, second = validity._halves(enc, counts, np.random.default_rng(0))
    assert not set(enc.codes[first > 0]) & set(enc.codes[second > 0])  # no prompt in both halves
    k = len(enc.traits)
    in_first = np.bincount(enc.pair_a[first > 0], minlength=k) + np.bincount(enc.pair_b[first > 0], minlength=k)
    in_second = np.bincount(enc.pair_a[second > 0], minlength=k) + np.bincount(enc.pair_b[second > 0], minlength=k)
    assert (in_first > 0).all() and (in_second > 0).all()
    assert np.abs(in_first - in_second).max() <= 0.35 * (in_first + in_second).max()


def test_null_partners_are_a_permutation_within_each_prompt_without_shared_traits():
    rows = design(WORLD.traits, WORLD.prompts, 600, seed=3)
    pairs = [(r["trait_a"], r["trait_b"]) for r in rows]
    partners = null_partners(pairs, [r["prompt"] for r in rows], seed=7)
    assert sorted(partners) == list(range(600)) and all(j != i for i, j in enumerate(partners))
    assert all(rows[i]["prompt"] == rows[j]["prompt"] for i, j in enumerate(partners))
    assert not any(set(pairs[i]) & set(pairs[j]) for i, j in enumerate(partners))
    assert all(r["null_pair"] == [rows[j]["trait_a"], rows[j]["trait_b"]] for r, j in zip(rows, partners))


def test_benjamini_yekutieli_is_benjamini_hochberg_times_the_harmonic_sum():
    p = pd.Series([0.001, 0.008, 0.039, 0.041, 0.5], index=list("abcde"))
    m = len(p)
    bh = (p.sort_values() * m / np.arange(1, m + 1))[::-1].cummin()[::-1].clip(upper=1)
    expected = (bh * sum(1 / i for i in range(1, m + 1))).clip(upper=1)
    assert validity.benjamini_yekutieli(p).to_numpy() == pytest.approx(expected.reindex(p.index).to_numpy())


def test_the_design_effect_of_a_paired_design_is_measured_not_assumed():
    world = World.make(traits=20, prompts=40, seed=2)
    a = simulate(world, 800, preference=None, run_seed=1)
    b = simulate(world, 800, preference=None, run_seed=2)
    effect = validity.design_effect(a, b, n=60)
    assert 0.2 < effect < 5 and effect != 1.0


def test_bias_corrected_interval_follows_the_bootstrap_not_the_point():
    """Not re-centred: draws that all sit above the point give an interval above it, not around it."""
    draws = np.random.default_rng(0).normal(10, 1, 1000)
    lo, hi = validity.bc_interval(0.0, draws[None, :])
    assert lo[0] > 5
    lo, hi = validity.bc_interval(float(np.median(draws)), draws[None, :])  # no bias: the percentile interval
    assert (lo[0], hi[0]) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])))


def test_a_reliability_without_an_interval_says_why_instead_of_printing_nan():
    from bench.revealed_prefs.report import prefs_figures

    m = {"spread": 117, "spread_null": 117, "spread_corrected": 0, "spread_corrected_lo": 0, "spread_corrected_hi": 44}
    line = prefs_figures(m | {"reliability": 0.37, "reliability_lo": float("nan"), "reliability_hi": float("nan")})
    assert "nan" not in line and "reliability 0.37 (interval n/a: too few matchups per trait" in line
    line = prefs_figures(m | {"reliability": 0.37, "reliability_lo": 0.1, "reliability_hi": 0.6})
    assert "reliability 0.37 [0.10, 0.60]" in line
