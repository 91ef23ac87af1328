"""The statistics of the comparison, with numpy only: exact quantiles and three noise-aware tests.

- `mann_whitney_u`: two-sided Mann-Whitney U, normal approximation with tie and continuity
  correction (for latency p50 and scores). It asks whether one sample tends to be larger than the
  other, needs no distribution assumption, and is robust to the long right tail of latencies.
- `tail_test`: a quantile test, Fisher exact on the calls above the pooled p95 (latency p95,
  where a rank test is blind to a tail that grows while the middle stays put).
- `fisher_exact`: two-sided Fisher exact test on a 2x2 table (pass rate, and the tail test).

scipy would give the same numbers; these are twenty lines each, so the harness does not pull in a
40 MB dependency for them (tests check them against hand-computed values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "fisher_exact",
    "fisher_floor",
    "group_quantiles",
    "mann_whitney_u",
    "mann_whitney_u_floor",
    "quantile",
    "tail_test",
    "tail_test_floor",
]

FloatArray = npt.NDArray[np.float64]


def quantile(samples: Sequence[float] | FloatArray, q: float) -> float | None:
    """The exact `q` quantile (0-1) with linear interpolation between order statistics (numpy's
    default, the same as pandas and Excel's PERCENTILE.INC); None for no samples."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return None
    return float(np.quantile(values, q))


def group_quantiles(
    values: FloatArray, offsets: npt.NDArray[np.int64], counts: npt.NDArray[np.int64], q: float
) -> FloatArray:
    """The exact `q` quantile of many groups at once (as `quantile`; NaN for an empty group).

    Group i's samples are `values[offsets[i]:offsets[i] + counts[i]]`, sorted within the group.
    """
    result = np.full(counts.size, np.nan)
    has = counts > 0
    if not has.any() or values.size == 0:
        return result
    position = q * (counts[has] - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, counts[has] - 1)
    fraction = position - low
    start = offsets[has]
    lower, upper = values[start + low], values[start + high]
    result[has] = lower + fraction * (upper - lower)
    return result


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney_u(
    baseline: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray
) -> float:
    """The two-sided p-value of a Mann-Whitney U test of `current` against `baseline`.

    Normal approximation of U with the tie correction of the variance and a continuity correction
    of 0.5 (what scipy's `mannwhitneyu(method="asymptotic")` computes). 1.0 when either sample is
    empty or every value is tied (nothing can be told apart).
    """
    x = np.asarray(current, dtype=np.float64)
    y = np.asarray(baseline, dtype=np.float64)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return 1.0
    both = np.sort(np.concatenate([x, y]))
    # Average rank of each value of x: the ranks its ties span are left+1 .. right.
    left = np.searchsorted(both, x, side="left")
    right = np.searchsorted(both, x, side="right")
    u1 = float((left + right + 1).sum()) / 2.0 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    tie_term = 0.0
    if bool((both[1:] == both[:-1]).any()):  # latencies rarely tie; counting ties costs more
        _, counts = np.unique(both, return_counts=True)
        tie_term = float((counts.astype(np.float64) ** 3 - counts).sum())
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return min(1.0, 2.0 * _normal_sf(max(z, 0.0)))


def mann_whitney_u_floor(n1: int, n2: int) -> float:
    """The smallest p-value `mann_whitney_u` can give for samples of these sizes (complete
    separation, no ties): a test that cannot go below alpha is not worth running."""
    if n1 == 0 or n2 == 0:
        return 1.0
    variance = n1 * n2 * (n1 + n2 + 1) / 12.0
    z = (n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return min(1.0, 2.0 * _normal_sf(z))


def tail_test_floor(n1: int, n2: int, q: float) -> float:
    """The smallest p-value `tail_test` can give for samples of these sizes (without ties): every
    value above the pooled quantile on one side."""
    if n1 == 0 or n2 == 0:
        return 1.0
    above = n1 + n2 - 1 - math.floor(q * (n1 + n2 - 1))
    one = fisher_exact(min(above, n1), n1, above - min(above, n1), n2)
    other = fisher_exact(above - min(above, n2), n1, min(above, n2), n2)
    return min(one, other)


def fisher_floor(n1: int, n2: int) -> float:
    """The smallest p-value `fisher_exact` can give for these run counts: every run passing on
    one side and failing on the other."""
    return min(fisher_exact(n1, n1, 0, n2), fisher_exact(0, n1, n2, n2))


def tail_test(
    baseline: Sequence[float] | FloatArray, current: Sequence[float] | FloatArray, q: float
) -> float:
    """The two-sided p-value of a quantile test: does `current` put more (or fewer) values above
    the pooled `q` quantile than `baseline` does? Fisher's exact test on those counts.

    Distribution-free and exact, so it holds its level at any sample size (where a bootstrap of
    an extreme quantile from a few dozen values does not): small samples simply cannot reach
    significance, which is the honest answer for a p95 of few calls.
    """
    x = np.asarray(current, dtype=np.float64)
    y = np.asarray(baseline, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        return 1.0
    cut = float(np.quantile(np.concatenate([x, y]), q))
    return fisher_exact(int((x > cut).sum()), x.size, int((y > cut).sum()), y.size)


def fisher_exact(passed_a: int, runs_a: int, passed_b: int, runs_b: int) -> float:
    """The two-sided p-value of Fisher's exact test on a 2x2 table (passed/failed by side).

    Sums the hypergeometric probabilities of every table with the same margins that is no more
    likely than the observed one (the usual two-sided definition; a small relative tolerance
    keeps tables of equal probability together despite rounding).
    """
    total_passed = passed_a + passed_b
    n = runs_a + runs_b
    if n == 0 or runs_a == 0 or runs_b == 0:
        return 1.0
    denominator = math.comb(n, total_passed)

    def probability(k: int) -> float:
        return math.comb(runs_a, k) * math.comb(runs_b, total_passed - k) / denominator

    observed = probability(passed_a)
    low, high = max(0, total_passed - runs_b), min(runs_a, total_passed)
    p = sum(
        chance
        for chance in (probability(k) for k in range(low, high + 1))
        if chance <= observed * (1 + 1e-7)
    )
    return min(1.0, p)
