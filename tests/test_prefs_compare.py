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
    assert result["spearman"] > 0.85 and lo <= result["spearman"] <= hi
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
