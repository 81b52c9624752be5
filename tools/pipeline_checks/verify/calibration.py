"""Before a flood: can this machine offer it, and can the server answer it? If not, refuse in one line.

A flood that is not offered as planned proves nothing about the throttle (throttling.judge_flood
then fails it as "not judged"). On a busy 2-core machine the load generator and a local server
share the CPU, and the default flood for `make local` (2,000 req/s against 1,000 req/s, burst
2,000) may be more than they can do together. So the verifier first sends a sample of the flood
itself, at the flood's rate, as long as the flood up to SAMPLE_MAX_SECONDS (a stall of the
shared CPU weighs on a short sample as it weighs on the flood), and measures two things:

- the offered rate: requests that actually left, per second (the generator's side);
- the answered rate: answers per second from the first answer to the last (the server's side;
  a steady latency cancels out, a growing backlog does not).

The lower of the two is what this machine can do against this server. If it is under the
flood check's own bar (90% of the flood's rate, throttling.MIN_OFFERED_RATIO), or more than 1%
of the sample got no answer, the verifier refuses before sending anything else and
prints one line: the rate it measured, the largest limit it can prove here, and the command
that proves that limit. The sample is bodies the validator refuses (like the flood), so it
writes nothing; a wait for the bucket to refill follows it.

Why the largest provable limit is capacity x PROVABLE_RATIO: the default flood offers twice the
limit, and the flood check wants at least 90% of it offered with the server keeping pace; a
limit of 0.4 x capacity puts the flood at 80% of capacity, leaving a margin for the machine's
load to vary. A lower offered rate can still prove a limit, with a longer flood: offering L
req/s above a limit R with burst B, the burst is spent after B / (L - R) s and only then do 429s
come, so `--load-rate L --load-seconds T` needs T well above B / (L - R) (the verifier refuses
options where the burst absorbs the whole flood). docs/verification.md has the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tools.pipeline_checks.verify import loadgen
from tools.pipeline_checks.verify.throttling import MAX_LOST_RATIO, MIN_OFFERED_RATIO

SAMPLE_MAX_SECONDS = 2.0
MIN_CAPACITY_RATIO = MIN_OFFERED_RATIO  # a sample under the flood check's own bar would fail it
PROVABLE_RATIO = 0.4  # the largest limit provable with the default flood (2 x limit), per req/s of capacity
REFUSED_EXIT = 3


@dataclass(frozen=True)
class Capacity:
    """What one sample of the flood measured."""

    planned_rate: float
    offered_rate: float
    answered_rate: float
    lost: int
    count: int

    @classmethod
    def measure(cls, result: loadgen.LoadResult) -> Capacity:
        answers = [s.answered for s in result.sent if s.has_answer and s.answered is not None]
        window = max(answers) - min(answers) if len(answers) > 1 else 0.0
        return cls(
            planned_rate=result.plan.rate,
            offered_rate=result.offered_rate,
            answered_rate=(len(answers) - 1) / window if window > 0 else 0.0,
            lost=result.not_sent + result.no_answer,
            count=result.plan.count,
        )

    @property
    def rate(self) -> float:
        """Requests per second this machine offered and the server answered: the lower of the two."""
        return min(self.offered_rate, self.answered_rate)

    @property
    def enough(self) -> bool:
        return (
            self.rate >= MIN_CAPACITY_RATIO * self.planned_rate and self.lost <= MAX_LOST_RATIO * self.count
        )

    def provable_limit(self) -> float:
        """The largest stage rate this machine can prove with the default flood (2 x the rate)."""
        return round_down(self.rate * PROVABLE_RATIO)

    def summary(self) -> dict[str, Any]:
        return {
            "planned_rate": self.planned_rate,
            "offered_rate": round(self.offered_rate, 1),
            "answered_rate": round(self.answered_rate, 1),
            "lost": self.lost,
            "requests": self.count,
            "enough": self.enough,
        }


def round_down(value: float) -> float:
    """Down to two significant figures (1234 -> 1200, 87.6 -> 87): a limit to type, never above the value."""
    if value < 1:
        return 0.0
    scale = 10 ** max(0, math.floor(math.log10(value)) - 1)
    return float(math.floor(value / scale) * scale)


def refusal(capacity: Capacity, limit_rate: float, endpoint: str, local: bool) -> str:
    """The one line printed instead of a flood this machine cannot offer: what it can prove, and how."""
    provable = capacity.provable_limit()
    needed = MIN_CAPACITY_RATIO * capacity.planned_rate
    measured = (
        f"this machine offered {capacity.offered_rate:.0f} req/s and the server answered "
        f"{capacity.answered_rate:.0f} req/s ({capacity.lost} lost), under the {needed:.0f} req/s a flood "
        f"at {capacity.planned_rate:g} req/s needs"
    )
    if provable < 1:
        how = "it cannot prove any limit here"
    elif local:
        how = (
            f"it can prove a limit up to {provable:g} req/s: stop `make local`, start "
            f"`make local THROTTLE_RATE={provable:g} THROTTLE_BURST={provable:g}`, then run `make verify`"
        )
    else:
        how = (
            f"it can prove a limit up to {provable:g} req/s; run the verifier where `make bench` shows "
            f"an offered rate of at least {capacity.planned_rate:g} req/s"
        )
    return f"verify: refused: cannot prove the {limit_rate:g} req/s limit of {endpoint}: {measured}; {how}"
