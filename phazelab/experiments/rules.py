"""Decision rules for the forum study, stated before the numbers: censored time-to-gate, paired
bootstrap confidence intervals, and the verdict a CI earns against a fixed margin.

- Time to gate is a time-to-event: a run that never reaches the gate within its budget is *censored*
  at its last evaluation, not dropped (dropping it flatters the arm that fails most). Arms are
  summarised by the Kaplan–Meier median (scipy.stats.ecdf on scipy.stats.CensoredData).
- Differences between arms are *paired* (same replicate, same initial weights of unloaded blocks, same
  data order): the CI is a bootstrap over replicates of the paired differences (scipy.stats.bootstrap,
  percentile method, 95 %).
- A verdict is one of four, by where the CI lies against the margin ±m (equivalence-testing logic,
  e.g. Lakens 2017, "Equivalence tests"): wholly above +m → "greater"; wholly below −m → "less";
  wholly inside (−m, +m) → "no measurable difference (equivalent within margin)"; anything else →
  "inconclusive (CI spans the margin)". Before any of these: a model that failed its quality gate
  gets "not trained enough".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["NOT_TRAINED", "VERDICTS", "km_median", "paired_ci", "time_to_gate", "verdict"]

NOT_TRAINED = "not trained enough"
VERDICTS = ("greater", "less", "no measurable difference (equivalent within margin)",
            "inconclusive (CI spans the margin)", NOT_TRAINED)


def time_to_gate(steps: Sequence[float], values: Sequence[float], gate: float, *, higher_is_better: bool = True
                 ) -> tuple[float, bool]:
    """(time, reached) for one run's evaluation curve: the first step whose value reaches `gate`
    (reached=True), else the last step evaluated (reached=False: censored there).

    Raises ValueError for an empty curve or steps and values of different lengths."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.ndim != 1 or len(steps) == 0 or steps.shape != values.shape:
        raise ValueError(f"time_to_gate: need equal-length non-empty 1-D steps and values, got "
                         f"{list(steps.shape)} and {list(values.shape)}")
    hit = values >= gate if higher_is_better else values <= gate
    hit &= np.isfinite(values)
    if hit.any():
        return float(steps[np.argmax(hit)]), True
    return float(steps[-1]), False


def km_median(times: Sequence[float], reached: Sequence[bool]) -> dict[str, Any]:
    """Kaplan–Meier median time to gate of runs with right-censoring.

    Returns {"median": float or None (None: the survival curve never falls to 0.5 — more than half the
    runs are still short of the gate at the last time seen), "median_at_least": the largest time seen
    when the median is None, "n", "reached", "censored", "survival": [(time, S(t)), ...]}.

    Raises ValueError for empty input or lengths that differ."""
    from scipy.stats import CensoredData, ecdf

    t, e = np.asarray(times, dtype=float), np.asarray(reached, dtype=bool)
    if t.ndim != 1 or len(t) == 0 or t.shape != e.shape:
        raise ValueError(f"km_median: need equal-length non-empty times and reached flags, got "
                         f"{list(t.shape)} and {list(e.shape)}")
    out: dict[str, Any] = {"n": int(len(t)), "reached": int(e.sum()), "censored": int((~e).sum())}
    if not e.any():
        return {**out, "median": None, "median_at_least": float(t.max()), "survival": [(float(t.max()), 1.0)]}
    sf = ecdf(CensoredData(uncensored=t[e], right=t[~e])).sf
    q, p = sf.quantiles, sf.probabilities
    below = np.nonzero(p <= 0.5)[0]
    median = float(q[below[0]]) if len(below) else None
    return {**out, "median": median, "median_at_least": None if median is not None else float(t.max()),
            "survival": [(float(a), float(b)) for a, b in zip(q, p, strict=True)]}


def paired_ci(differences: Sequence[float], *, level: float = 0.95, n_resamples: int = 9999, seed: int = 0
              ) -> dict[str, Any]:
    """Mean of paired differences (one per replicate) and its bootstrap CI (percentile).

    With one replicate the CI is (−inf, inf): one pair cannot bound anything. Non-finite differences
    are refused (ValueError); so is an empty input."""
    from scipy.stats import bootstrap

    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("paired_ci: need a non-empty 1-D list of paired differences")
    if not np.isfinite(d).all():
        raise ValueError(f"paired_ci: differences must be finite, got {d.tolist()}")
    if len(d) < 2:
        return {"estimate": float(d.mean()), "ci": [-math.inf, math.inf], "n": 1, "level": level}
    if np.ptp(d) == 0:
        return {"estimate": float(d[0]), "ci": [float(d[0]), float(d[0])], "n": int(len(d)), "level": level}
    res = bootstrap((d,), np.mean, confidence_level=level, n_resamples=n_resamples, method="percentile",
                    rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return {"estimate": float(d.mean()), "ci": [float(ci.low), float(ci.high)], "n": int(len(d)), "level": level}


def verdict(ci: Sequence[float], margin: float, *, gates_passed: bool = True) -> str:
    """One of VERDICTS for a CI (low, high) of a difference against the margin ±`margin` (module doc).

    Raises ValueError for a negative margin or low > high."""
    low, high = float(ci[0]), float(ci[1])
    if margin < 0 or low > high:
        raise ValueError(f"verdict: need margin ≥ 0 and low ≤ high, got margin {margin}, CI ({low}, {high})")
    if not gates_passed:
        return NOT_TRAINED
    if low > margin:
        return VERDICTS[0]
    if high < -margin:
        return VERDICTS[1]
    if -margin < low and high < margin:
        return VERDICTS[2]
    return VERDICTS[3]
