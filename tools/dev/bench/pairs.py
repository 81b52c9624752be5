"""A ratio measured as interleaved pairs: A B A B ..., one ratio per pair, their median reported.

Measuring all of A and then all of B lets drift (another process on a shared core, a frequency
step, a warming cache) land on one side only; a pair's two runs are adjacent, so drift hits both
alike, and the spread of the pair ratios (min, max) shows how much the machine moved.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairedRatio:
    name: str
    numerator_label: str
    denominator_label: str
    pairs: Sequence[tuple[float, float]]  # (numerator, denominator) seconds, measured back to back
    target: float
    unit: str = "ms"

    @property
    def ratios(self) -> list[float]:
        return [numerator / denominator for numerator, denominator in self.pairs]

    @property
    def value(self) -> float:
        return statistics.median(self.ratios)

    @property
    def verdict(self) -> str:
        return "PASS" if self.value <= self.target else "MISS"

    def lines(self) -> list[str]:
        numerators = statistics.median(n for n, _ in self.pairs)
        denominators = statistics.median(d for _, d in self.pairs)
        return [
            f"{self.name}: {self.value:.2f} (target <= {self.target}) {self.verdict}; median of "
            f"{len(self.pairs)} interleaved pairs, min {min(self.ratios):.2f}, max {max(self.ratios):.2f}",
            f"    {self.numerator_label}: median {numerators * 1000:.1f} {self.unit}",
            f"    {self.denominator_label}: median {denominators * 1000:.1f} {self.unit}",
        ]


def interleaved(
    numerator: Callable[[], float], denominator: Callable[[], float], pairs: int
) -> list[tuple[float, float]]:
    """`pairs` times: measure the numerator, then the denominator (A B A B ...)."""
    if pairs < 1:
        raise ValueError("a ratio needs at least one pair")
    return [(numerator(), denominator()) for _ in range(pairs)]
