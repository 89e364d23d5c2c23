"""The run is the unit: the statistics module's tests keep their stated error rates in simulation, detect a planted
difference, and the pooled-prompts test they replace is seen to fail (tests/test_stats.py)."""

import random

import pytest

from spin_train.evaluation import stats

SIMS = 400


def rejection_rate(test, effect: float, runs: int = 3, run_sd: float = 0.03, prompts: int = 200, seed: int = 0):
    rng = random.Random(seed)
    rejected = 0
    for _ in range(SIMS):
        a, b = stats.simulated_runs(prompts, runs, 0.3, effect, run_sd, rng)
        rejected += test(a, b) < 0.05
    return rejected / SIMS


def run_level(a, b):
    return stats.across_runs(stats.run_differences(a, b))["p"]


def pooled_prompts(a, b):  # the old report's way: every run's prompts end to end, as if independent
    return stats.paired_change([h for r in a for h in r], [h for r in b for h in r])["p"]


def test_mcnemar_exact_values():
    six_one_way = stats.paired_change([0] * 6 + [1] * 4, [1] * 6 + [1] * 4)
    assert (six_one_way["gained"], six_one_way["lost"]) == (6, 0)
    assert six_one_way["p"] == pytest.approx(2 / 64)
    assert stats.paired_change([1, 0], [1, 0])["p"] == 1.0
    assert stats.paired_change([1], [1, 0]) is None
    assert stats.min_discordant(0.05) == 6  # 5 one way: p = 2/32 = 0.0625, not below 5 %


def test_holm_adjusts_step_down():
    adjusted = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert stats.holm({"only": 0.02}) == {"only": 0.02}


def test_run_level_test_holds_its_rate_under_the_null():
    rate = rejection_rate(run_level, effect=0.0)
    assert 0.02 <= rate <= 0.09  # 5 % nominal; 400 simulations: the binomial 99 % band is about 2.5-8 %


def test_pooling_prompts_across_runs_rejects_a_true_null_far_too_often():
    """The planted counterexample: with seeds that differ (run_sd 0.05), McNemar on prompts laid end to end
    calls a difference that is not there (5 times the nominal rate), which is why the across-seed test takes the
    run as the unit; the run-level test stays at its rate on the same data."""
    assert rejection_rate(pooled_prompts, effect=0.0, run_sd=0.05) > 0.18
    assert rejection_rate(run_level, effect=0.0, run_sd=0.05) < 0.09


def test_a_planted_difference_is_detected_at_the_power_the_mde_promises():
    runs, run_sd, prompts = 4, 0.03, 200
    # the spread of a difference of two runs: each run's shift N(0, run_sd), and each share's binomial noise
    # (p about 0.3 on 200 prompts)
    sd = (2 * run_sd ** 2 + 2 * 0.3 * 0.7 / prompts) ** 0.5
    mde = stats.mde_runs(runs, sd)
    assert 0.05 < mde < 0.2
    power = rejection_rate(run_level, effect=mde, runs=runs, run_sd=run_sd, seed=1)
    assert 0.7 <= power <= 0.9  # 80 % nominal
    assert rejection_rate(run_level, effect=2 * mde, runs=runs, run_sd=run_sd, seed=2) > 0.95


def test_mde_paired_matches_mcnemar_in_simulation():
    rng, n, d = random.Random(3), 600, 0.1
    delta = stats.mde_paired(n, d)
    assert delta == pytest.approx(2.80 * (d / n) ** 0.5, rel=0.01)
    detected = 0
    for _ in range(SIMS):  # each prompt changes with probability d, a change gains with probability (1 + delta/d)/2
        before, after = [], []
        for _ in range(n):
            if rng.random() < d:
                gain = rng.random() < (1 + delta / d) / 2
                before.append(int(not gain))
                after.append(int(gain))
            else:
                before.append(0)
                after.append(0)
        detected += stats.paired_change(before, after)["p"] < 0.05
    assert 0.7 <= detected / SIMS <= 0.9


def test_across_runs_interval_and_degenerate_cases():
    out = stats.across_runs([0.01, 0.03, 0.02])
    assert out["mean"] == pytest.approx(0.02) and out["sd"] == pytest.approx(0.01)
    assert out["interval"] == pytest.approx((0.02 - 0.0248, 0.02 + 0.0248), abs=1e-4)  # t(2, 97.5 %) = 4.303
    assert stats.across_runs([0.02])["p"] is None
    assert stats.across_runs([0.02, 0.02])["p"] is None  # no spread: nothing to test against
    with pytest.raises(ValueError, match="pair by seed"):
        stats.run_differences([[1]], [[1], [0]])


def test_bootstrap_covers_runs_and_prompts():
    rng = random.Random(4)
    a, b = stats.simulated_runs(200, 3, 0.3, 0.0, 0.03, rng)
    null = stats.bootstrap_difference(a, b, resamples=500)
    low, high = null["interval"]
    assert low <= null["mean"] <= high and high - low > 0.02  # run spread (0.03 per run) widens it
    a, b = stats.simulated_runs(200, 5, 0.3, 0.3, 0.01, rng)
    planted = stats.bootstrap_difference(a, b, resamples=500)
    assert planted["interval"][0] > 0.15 and planted["p"] <= 0.01
