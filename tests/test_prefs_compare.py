import numpy as np
import pandas as pd
import pytest

from bench import ratings
from bench.revealed_prefs.compare import compare_frames, plot


def truth(seed, std=100.0, n=40):
    rng = np.random.default_rng(seed)
    return pd.Series(1000 + std * rng.standard_normal(n), index=[f"t{i:02d}" for i in range(n)])


def test_same_ground_truth_gives_high_spearman_and_no_spread_change():
    true = truth(0)
    a = ratings.simulate_matches(true, 6000, seed=1)
    b = ratings.simulate_matches(true, 6000, seed=2)
    result = compare_frames(a, b, n=50)
    lo, hi = result["spearman_ci"]
    # the interval is about the agreement of two runs: a third pair of runs of the same truth lands in it
    c, d = ratings.simulate_matches(true, 6000, seed=3), ratings.simulate_matches(true, 6000, seed=4)
    assert result["spearman"] > 0.85 and lo - 0.02 <= compare_frames(c, d, n=5)["spearman"] <= hi + 0.02
    slo, shi = result["spread_change_ci"]
    assert slo <= 0 <= shi


def test_a_widened_distribution_shows_a_positive_spread_change_and_the_boosted_trait_on_top():
    base = truth(0)
    trained = base.copy() * 1.0
    trained = 1000 + (trained - 1000) * 2.0
    trained["t05"] += 600
    result = compare_frames(
        ratings.simulate_matches(base, 6000, seed=1), ratings.simulate_matches(trained, 6000, seed=2), n=50
    )
    assert result["spread_change_ci"][0] > 0
    assert result["gains"].index[0] == "t05"
    assert (result["gains"]["lo"] <= result["gains"]["delta"]).all()


def test_plot_writes_a_png(tmp_path):
    true = truth(1)
    result = compare_frames(
        ratings.simulate_matches(true, 2000, seed=1), ratings.simulate_matches(true, 2000, seed=2), n=20
    )
    plot(result, "base", "trained", str(tmp_path / "cmp.png"))
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_shared_traits_is_a_clear_error():
    from charbench.errors import CharbenchError

    a = pd.DataFrame({"trait_a": ["x"], "trait_b": ["y"], "winner": ["x"]})
    b = pd.DataFrame({"trait_a": ["p"], "trait_b": ["q"], "winner": ["q"]})
    with pytest.raises(CharbenchError, match="fewer than 3"):
        compare_frames(a, b, n=5)


def test_target_trait_shift_finds_the_raised_traits_and_ranks_them_on_top():
    base = truth(0)
    trained = base.copy()
    targets = ["t03", "t07", "t11"]
    trained[targets] += 300
    result = compare_frames(
        ratings.simulate_matches(base, 6000, seed=1),
        ratings.simulate_matches(trained, 6000, seed=2),
        n=50,
        targets=targets + ["not-rated"],
    )
    shift = result["target"]
    assert shift["rated"] == targets and shift["missing"] == ["not-rated"]
    # ratings are centred per fit, so a +300 boost of 3 of 40 traits shows as ~300 * 37/40 relative to the rest:
    # the interval holds that true shift and excludes 0
    assert shift["lo"] > 0 and shift["lo"] <= 300 * 37 / 40 <= shift["hi"]
    assert shift["delta"] == pytest.approx(300 * 37 / 40, abs=80)
    assert shift["mean_rank"] <= 4 and shift["rank_p"] < 0.01


def test_no_effect_gives_a_target_interval_around_zero_and_a_middling_rank():
    true = truth(2)
    result = compare_frames(
        ratings.simulate_matches(true, 6000, seed=1),
        ratings.simulate_matches(true, 6000, seed=2),
        n=50,
        targets=["t01", "t02", "t03"],
    )
    shift = result["target"]
    assert shift["lo"] <= 0 <= shift["hi"] and shift["rank_p"] > 0.01


def test_without_rated_targets_there_is_no_target_shift():
    true = truth(3)
    a, b = ratings.simulate_matches(true, 500, seed=1), ratings.simulate_matches(true, 500, seed=2)
    assert compare_frames(a, b, n=5)["target"] is None
    assert compare_frames(a, b, n=5, targets=["absent"])["target"]["delta"] is None
