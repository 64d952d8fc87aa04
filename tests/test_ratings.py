import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from bench import ratings


def truth(n_traits=144, std=100.0, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(1000 + std * rng.standard_normal(n_traits), index=[f"t{i:03d}" for i in range(n_traits)])


def test_elo_matches_a_hand_computed_three_match_example():
    matches = pd.DataFrame(
        {"trait_a": ["warm", "warm", "blunt"], "trait_b": ["blunt", "calm", "calm"], "winner": ["warm", "calm", "calm"]}
    )
    # 1) warm beats blunt at 1000/1000: +16 / -16.
    # 2) calm (1000) beats warm (1016): expected(calm)=1/(1+10^(16/400)) = 0.476988; delta = 32*0.523012 = 16.7364
    # 3) calm (1016.7364) beats blunt (984): expected(calm)=1/(1+10^((984-1016.7364)/400)) = 0.546969;
    #    delta = 32*(1-0.546969) = 14.4970
    result = ratings.elo(matches)["rating"]
    assert result["warm"] == pytest.approx(1016 - 16.7364, abs=1e-3)
    assert result["calm"] == pytest.approx(1000 + 16.7364 + 14.4970, abs=1e-3)
    assert result["blunt"] == pytest.approx(984 - 14.4970, abs=1e-3)


def test_invalid_rows_are_ignored_by_the_fits():
    matches = pd.DataFrame({"trait_a": ["a", "a"], "trait_b": ["b", "b"], "winner": ["a", "invalid"]})
    assert ratings.elo(matches)["matches"].sum() == 2  # one valid match, two participants


def test_bradley_terry_recovers_a_simulated_ranking():
    true = truth()
    fitted = ratings.bradley_terry(ratings.simulate_matches(true, 25_000, seed=1))
    assert spearmanr(fitted["rating"], true.reindex(fitted.index)).statistic >= 0.95
    assert fitted["rating"].mean() == pytest.approx(1000, abs=1e-6)


def test_elo_averaged_does_not_depend_on_row_order():
    matches = ratings.simulate_matches(truth(20), 2_000, seed=2)
    shuffled = matches.sample(frac=1.0, random_state=5)
    a = ratings.elo_averaged(matches, orders=20, seed=0)["rating"]
    b = ratings.elo_averaged(shuffled, orders=20, seed=0)["rating"]
    single_a, single_b = ratings.elo(matches)["rating"], ratings.elo(shuffled)["rating"]
    averaged_gap = (a - b.reindex(a.index)).abs().max()
    single_gap = (single_a - single_b.reindex(single_a.index)).abs().max()
    assert averaged_gap < single_gap / 2


def test_bootstrap_intervals_cover_the_truth_near_the_nominal_rate():
    coverages = []
    for seed in range(4):
        true = truth(40, seed=seed)
        centred = true - true.mean() + 1000
        table = ratings.bootstrap(ratings.simulate_matches(true, 8_000, seed=seed), n=100, seed=seed)
        inside = (table["lo"] <= centred.reindex(table.index)) & (centred.reindex(table.index) <= table["hi"])
        coverages.append(inside.mean())
    assert 0.85 <= np.mean(coverages) <= 1.0


def test_bootstrap_width_matches_the_spread_of_independent_runs():
    """The interval claims how far a rerun could land: its half-width / 1.96 is about the standard deviation
    of the fitted ratings over independent runs of the same truth."""
    true = truth(30)
    fits = pd.concat(
        [ratings.bradley_terry(ratings.simulate_matches(true, 3_000, seed=s))["rating"] for s in range(12)], axis=1
    )
    table = ratings.bootstrap(ratings.simulate_matches(true, 3_000, seed=99), n=100)
    claimed = ((table["hi"] - table["lo"]) / (2 * 1.96)).mean()
    assert 0.7 < claimed / fits.std(axis=1).mean() < 1.4


def test_batched_ilsr_equals_chois_fit_by_fit_absent_traits_and_warm_starts_included():
    """`ratings.ilsr` replaces choix's one-matrix-per-call fit in every report: same optimum, per fit."""
    import choix

    rng = np.random.default_rng(0)
    counts = np.zeros((6, 15, 15))
    for d in range(6):
        a = rng.integers(0, 14, 200)  # trait 14 never plays: the prior alone places it
        b = (a + rng.integers(1, 14, 200)) % 14
        np.add.at(counts[d], (a, b), rng.integers(0, 3, 200))
    ours = ratings.ilsr(counts, alpha=ratings.BT_PRIOR)
    theirs = np.array([choix.ilsr_pairwise_dense(c, alpha=ratings.BT_PRIOR) for c in counts])
    assert np.abs(ours - (theirs - theirs.mean(axis=1, keepdims=True))).max() < 1e-9
    warm = ratings.ilsr(counts, alpha=ratings.BT_PRIOR, initial=ours + rng.normal(0, 0.3, ours.shape))
    assert np.abs(warm - ours).max() < 1e-6


def test_fitting_every_draw_at_once_equals_fitting_each():
    from bench.revealed_prefs import validity

    truth = pd.Series(np.random.default_rng(1).normal(1000, 80, 12), index=[f"t{i}" for i in range(12)])
    (enc,) = validity.encode([ratings.simulate_matches(truth, 20, seed=2)])  # some draws lack a trait
    weights = np.array([rows for (rows,) in validity.resample([enc], 20, seed=3)])
    point = validity.fit(enc)
    together = validity.fit_many(enc, weights, start=point)
    apart = np.array([validity.fit(enc, w) for w in weights])
    assert np.array_equal(np.isnan(together), np.isnan(apart)) and np.isnan(apart).any()  # absent traits stay NaN
    assert np.nanmax(np.abs(together - apart)) < 1e-4
