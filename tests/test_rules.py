"""The forum study's decision rules on constructed numbers: censored time-to-gate, Kaplan–Meier median,
paired bootstrap CIs and the four verdicts."""

import math

import numpy as np
import pytest

from phazelab.experiments.rules import NOT_TRAINED, VERDICTS, km_median, paired_ci, time_to_gate, verdict


def test_time_to_gate_first_hit_or_censored_at_the_last_evaluation():
    assert time_to_gate([0, 100, 200, 300], [0.1, 0.5, 0.85, 0.7], 0.8) == (200.0, True)
    assert time_to_gate([0, 100, 200], [0.1, 0.5, 0.6], 0.8) == (200.0, False)  # censored, not dropped
    assert time_to_gate([0, 100], [1.0, 0.2], 0.3, higher_is_better=False) == (100.0, True)
    assert time_to_gate([0, 100], [float("nan"), 0.9], 0.8) == (100.0, True)
    with pytest.raises(ValueError, match="equal-length"):
        time_to_gate([0, 1], [0.5], 0.8)
    with pytest.raises(ValueError, match="increasing"):
        time_to_gate([1000, 500, 0], [0.9, 0.9, 0.9], 0.8)


def test_km_median_counts_censored_runs_instead_of_dropping_them():
    # five runs reach at 100..500; dropping the censored ones would say 300
    times, reached = [100, 200, 300, 400, 500, 600, 600], [True] * 5 + [False] * 2
    r = km_median(times, reached)
    assert r["median"] == 400.0 and r["censored"] == 2 and r["n"] == 7
    # without censoring the KM median is the plain median
    assert km_median([100, 200, 300], [True] * 3)["median"] == 200.0
    # most runs never reach the gate: no median, only a lower bound
    r = km_median([100, 600, 600, 600], [True, False, False, False])
    assert r["median"] is None and r["median_at_least"] == 600.0
    assert km_median([600, 600], [False, False])["median"] is None
    # S(t) = 0.5 exactly (the review's case: scipy returns 0.5000000000000001 there)
    r = km_median([500, 1000, 1000, 1500, 1500] + [6000] * 5, [True] * 5 + [False] * 5)
    assert r["median"] == 1500.0


def test_paired_ci_brackets_a_clear_effect_and_a_null():
    rng = np.random.default_rng(0)
    effect = paired_ci(0.3 + 0.05 * rng.standard_normal(12))
    assert effect["ci"][0] > 0.2 and effect["ci"][0] <= effect["estimate"] <= effect["ci"][1]
    null = paired_ci(0.05 * rng.standard_normal(12))
    assert null["ci"][0] < 0 < null["ci"][1]
    one = paired_ci([0.4])
    assert one["ci"] == [-math.inf, math.inf] and one["n"] == 1  # one pair bounds nothing
    with pytest.raises(ValueError, match="finite"):
        paired_ci([0.1, float("nan")])
    with pytest.raises(ValueError, match="level"):
        paired_ci([0.1, 0.2], level=95)


def test_paired_ci_covers_at_the_studys_small_sizes():
    rng = np.random.default_rng(1)
    for n in (3, 5):
        hits = sum(lo <= 0.0 <= hi for lo, hi in (paired_ci(rng.standard_normal(n))["ci"] for _ in range(2000)))
        assert 0.93 <= hits / 2000 <= 0.97, (n, hits)  # the percentile bootstrap gave 0.75 at n = 3


def test_verdicts_by_where_the_ci_lies_against_the_margin():
    assert verdict((0.2, 0.4), 0.1) == VERDICTS[0] == "greater"
    assert verdict((-0.4, -0.2), 0.1) == "less"
    assert verdict((-0.05, 0.04), 0.1).startswith("no measurable difference")
    assert verdict((0.02, 0.3), 0.1).startswith("inconclusive")  # a difference of unknown size
    assert verdict((-math.inf, math.inf), 0.1).startswith("inconclusive")
    assert verdict((0.2, 0.4), 0.1, gates_passed=False) == NOT_TRAINED
    with pytest.raises(ValueError, match="margin"):
        verdict((0.3, 0.1), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        verdict((float("nan"), float("nan")), 0.1)
    with pytest.raises(ValueError, match="low, high"):
        verdict((0.1,), 0.1)
