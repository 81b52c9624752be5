"""`make bench`'s ratios: measured A B A B ..., reported as the median of the pair ratios."""

from __future__ import annotations

import pytest

from tools.dev.bench.pairs import PairedRatio, interleaved


def test_interleaved_alternates_numerator_and_denominator():
    # GIVEN two measurements that log when they run
    order: list[str] = []

    def a() -> float:
        order.append("A")
        return 2.0

    def b() -> float:
        order.append("B")
        return 1.0

    # WHEN three pairs are measured
    pairs = interleaved(a, b, 3)

    # THEN each pair is adjacent: A B A B A B
    assert order == ["A", "B", "A", "B", "A", "B"]
    assert pairs == [(2.0, 1.0)] * 3


def test_the_ratio_is_the_median_of_the_pair_ratios_not_a_ratio_of_medians():
    # GIVEN pairs where the machine slowed down mid-run (both sides of a pair alike)
    ratio = PairedRatio("r", "a", "b", [(1.0, 1.0), (3.0, 2.0), (10.0, 2.0)], target=1.3)

    # THEN the value is median(1.0, 1.5, 5.0) = 1.5, with the spread shown
    assert ratio.value == 1.5
    assert ratio.verdict == "MISS"
    assert "min 1.00, max 5.00" in ratio.lines()[0]
    assert "3 interleaved pairs" in ratio.lines()[0]


def test_no_pairs_is_an_error_not_a_ratio():
    with pytest.raises(ValueError, match="at least one pair"):
        interleaved(lambda: 1.0, lambda: 1.0, 0)
