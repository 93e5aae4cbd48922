"""Small statistics the report needs, in plain Python (no SciPy).

* :func:`quantile`: linear interpolation between order statistics;
* :func:`wilcoxon`: the two-sided Wilcoxon signed-rank test for paired samples, exact
  for up to 25 non-zero differences without ties, else the normal approximation with
  the tie correction (zero differences dropped, as Wilcoxon proposed);
* :func:`holm`: Holm's step-down adjustment of a family of p-values;
* :func:`performance_profile`: Dolan and Moré's performance profiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EXACT_LIMIT = 25


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN when there are no values."""
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class SignedRank:
    """A Wilcoxon signed-rank result: ``n`` non-zero pairs, ``w_plus`` the rank sum of
    positive differences, ``p`` two-sided, and how many pairs went each way."""

    n: int
    w_plus: float
    p: float
    positive: int
    negative: int


def _ranks(magnitudes: Sequence[float]) -> list[float]:
    order = sorted(range(len(magnitudes)), key=lambda i: magnitudes[i])
    ranks = [0.0] * len(magnitudes)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and magnitudes[order[j + 1]] == magnitudes[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _exact_p(n: int, w_plus: float) -> float:
    """Two-sided exact p-value: under H0 each rank 1..n is positive with probability 1/2."""
    total = n * (n + 1) // 2
    counts = [0] * (total + 1)
    counts[0] = 1
    for rank in range(1, n + 1):
        for s in range(total, rank - 1, -1):
            counts[s] += counts[s - rank]
    w = min(w_plus, total - w_plus)
    tail: float = sum(counts[: math.floor(w) + 1]) / 2**n
    return min(1.0, 2 * tail)


def wilcoxon(first: Sequence[float], second: Sequence[float]) -> SignedRank:
    """Wilcoxon signed-rank test of ``first - second`` (paired)."""
    if len(first) != len(second):
        raise ValueError("paired samples must have the same length")
    diffs = [a - b for a, b in zip(first, second, strict=True) if a != b]
    n = len(diffs)
    positive = sum(1 for d in diffs if d > 0)
    if n == 0:
        return SignedRank(0, 0.0, 1.0, 0, 0)
    ranks = _ranks([abs(d) for d in diffs])
    w_plus = sum(r for r, d in zip(ranks, diffs, strict=True) if d > 0)
    tied = len(set(ranks)) < n
    if n <= EXACT_LIMIT and not tied:
        return SignedRank(n, w_plus, _exact_p(n, w_plus), positive, n - positive)
    expected = n * (n + 1) / 4
    tie_groups: dict[float, int] = {}
    for r in ranks:
        tie_groups[r] = tie_groups.get(r, 0) + 1
    variance = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in tie_groups.values()) / 48
    if variance <= 0:
        return SignedRank(n, w_plus, 1.0, positive, n - positive)
    z = (abs(w_plus - expected) - 0.5) / math.sqrt(variance)  # continuity correction
    p = math.erfc(max(z, 0.0) / math.sqrt(2))
    return SignedRank(n, w_plus, min(1.0, p), positive, n - positive)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def performance_profile(
    costs: Mapping[str, Mapping[object, float]], taus: Sequence[float]
) -> dict[str, list[float]]:
    """Dolan-Moré profiles: for each solver, the fraction of problems on which its cost
    is within a factor tau of the best solver's, for each tau.

    ``costs[solver][problem]`` must be positive (lower is better); a problem missing
    for a solver counts as a failure (never within any factor). Problems that no solver
    has are ignored."""
    problems = sorted({p for per in costs.values() for p in per}, key=repr)
    best = {p: min(per[p] for per in costs.values() if p in per) for p in problems}
    profile: dict[str, list[float]] = {}
    for solver, per in costs.items():
        ratios = [per[p] / best[p] if p in per and best[p] > 0 else math.inf for p in problems]
        profile[solver] = [
            sum(1 for r in ratios if r <= tau) / len(problems) if problems else 0.0 for tau in taus
        ]
    return profile
