"""Is a difference larger than the noise? Means with t-intervals, Welch's t-test, paired tests over folds.

Accuracy differs from seed to seed (initialization, data order, dropout), so one run of each of two configs
says little. These helpers turn a few repeated measurements into a mean, a 95 % interval and a p-value,
with SciPy doing the statistics. Pure functions of numbers: no file is read here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

ALPHA = 0.05  # a difference is called significant when p < ALPHA


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean, sample standard deviation and the Student-t confidence interval of the mean.

    Example:
        >>> stats = mean_interval([0.97, 0.98, 0.99])
        >>> round(stats["mean"], 3), round(stats["std"], 3), [round(v, 3) for v in stats["ci95"]]
        (0.98, 0.01, [0.955, 1.005])
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "half_width": math.nan, "ci95": [math.nan, math.nan]}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "half_width": half, "ci95": [mean - half, mean + half]}


def welch_test(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> dict[str, Any]:
    """Welch's t-test of mean(b) - mean(a) (no equal-variance assumption) with its 95 % interval."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two measurements in each group")
    result = _without_precision_warning(stats.ttest_ind, b, a, equal_var=False)
    # The interval uses the same Welch-Satterthwaite degrees of freedom as the test.
    var_a, var_b = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(var_a + var_b)
    df = (var_a + var_b) ** 2 / (var_a ** 2 / (len(a) - 1) + var_b ** 2 / (len(b) - 1)) if se > 0 else math.nan
    difference = float(b.mean() - a.mean())
    half = float(stats.t.ppf(0.975, df) * se) if se > 0 else 0.0
    p_value = float(result.pvalue)
    return {
        "difference": difference,
        "ci95": [difference - half, difference + half],
        "t": float(result.statistic),
        "df": float(df),
        "p_value": p_value,
        "alpha": alpha,
        "significant": bool(p_value < alpha),  # NaN (both groups constant) compares False
    }


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired t-test of b - a, for two configs measured on the same folds; p is NaN with fewer than 2 pairs."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    difference = float((b - a).mean()) if len(a) else math.nan
    if len(a) < 2 or np.allclose(a, b):
        return {"difference": difference, "t": math.nan, "p_value": math.nan}
    result = _without_precision_warning(stats.ttest_rel, b, a)
    return {"difference": difference, "t": float(result.statistic), "p_value": float(result.pvalue)}


def _without_precision_warning(test, *args, **kwargs):
    """Run a SciPy t-test without its RuntimeWarning about precision loss.

    SciPy gives it when the spread is (nearly) zero: identical groups (p = 1) or a constant paired difference
    (p ~ 0). The answer stands.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return test(*args, **kwargs)
