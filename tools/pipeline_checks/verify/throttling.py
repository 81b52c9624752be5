"""The throttling checks: a paced control below the limit, then an open-loop flood above it.

Every request carries LOAD_BODY, which the method's model refuses: a request that passes
the throttle is answered 400 by API Gateway's validator, so the function never runs and
nothing is written, and "accepted" is simply "answered, and not 429".

API Gateway's stage throttle is a token bucket: `burst` tokens to start with, refilled at
`rate` per second. A flood offered above the rate for T seconds is therefore accepted
about burst + rate * T times. The checks compare the rate measured after the burst,
(accepted - burst) / T, with the configured rate. AWS calls its limits best-effort
targets, so the comparison has a tolerance; see docs/verification.md ("Tolerances") for
why ±25%.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.pipeline_checks.verify import loadgen
from tools.pipeline_checks.verify.model import CheckResult, Status
from tools.pipeline_checks.verify.probes import GATEWAY_VALIDATOR_BODY, LOAD_BODY, is_gateway_validator_answer
from tools.pipeline_checks.verify.target import Limits, SetupError

CONTROL_CHECK = "throttling/below-limit-no-429"
OFFERED_CHECK = "throttling/flood-offered"
THROTTLED_CHECK = "throttling/flood-gets-429"
RATE_CHECK = "throttling/flood-accepted-rate"
ONLY_400_CHECK = "throttling/non-429-are-gateway-400"
FLOOD_CHECKS = (OFFERED_CHECK, THROTTLED_CHECK, RATE_CHECK)

GATEWAY_400, OTHER_400, THROTTLED = "400", "400-not-validator", "429"
_VALIDATOR_BYTES = json.dumps(GATEWAY_VALIDATOR_BODY, separators=(",", ":")).encode()  # the fast path

DEFAULT_TOLERANCE = 0.25
MIN_OFFERED_RATIO = 0.9  # the generator must offer at least 90% of the planned rate...
MAX_LOST_RATIO = 0.01  # ...lose at most 1% (not sent, or no answer)...
PACE_MARGIN_S, PACE_MARGIN_RATIO = 1.0, 0.1  # ...and the last answer may trail the last send by this much
MAX_REFILL_WAIT_S = 10.0


def classify(status: int, body: bytes) -> str:
    """The outcome of one load request: 429, the validator's 400, another 400, or another status."""
    if status == 429:
        return THROTTLED
    if status == 400:
        if body.strip() == _VALIDATOR_BYTES:
            return GATEWAY_400
        try:
            return GATEWAY_400 if is_gateway_validator_answer(json.loads(body)) else OTHER_400
        except ValueError:
            return OTHER_400
    return f"status:{status}"


PER_SECOND_LABELS: Mapping[str, Callable[[str], bool]] = {
    "429": lambda outcome: outcome == THROTTLED,
    "400": lambda outcome: outcome == GATEWAY_400,
    "other": lambda outcome: True,
}


@dataclass(frozen=True)
class ThrottleOptions:
    control_rate: float
    control_seconds: float
    load_rate: float
    load_seconds: float
    max_in_flight: int = 1000
    request_timeout: float = 10.0
    tolerance: float = DEFAULT_TOLERANCE

    @classmethod
    def derive(
        cls,
        limits: Limits,
        *,
        control_rate: float | None = None,
        control_seconds: float | None = None,
        load_rate: float | None = None,
        load_seconds: float | None = None,
        **options: Any,
    ) -> ThrottleOptions:
        """Defaults from the limits: control at half the rate for 1 s, flood at twice it for 2 * burst / rate.

        The control sends rate/2 <= burst/2 requests at half the rate: the bucket never
        empties, so even a gateway that enforced only the burst must pass them all. The flood
        offers 2 * rate: the burst drains in burst / rate seconds and then half the load is
        throttled; lasting 2 * burst / rate (at least 2 s), it accepts burst + 2 * burst, so
        rate * T (what the rate check measures) is twice the burst instead of drowning in it.
        """
        selected = cls(
            control_rate=control_rate if control_rate is not None else limits.rate / 2,
            control_seconds=control_seconds if control_seconds is not None else 1.0,
            load_rate=load_rate if load_rate is not None else limits.rate * 2,
            load_seconds=(
                load_seconds
                if load_seconds is not None
                else min(30.0, max(2.0, 2 * limits.burst / limits.rate))
            ),
            **options,
        )
        selected.validate(limits)
        return selected

    def validate(self, limits: Limits) -> None:
        if not 0 < self.control_rate < limits.rate:
            raise SetupError(
                f"--control-rate {self.control_rate:g} must be above 0 and below the limit "
                f"{limits.rate:g} req/s"
            )
        if self.load_rate <= limits.rate:
            raise SetupError(f"--load-rate {self.load_rate:g} must be above the limit {limits.rate:g} req/s")
        if self.expected_throttled(limits) < 1:
            raise SetupError(
                f"a flood of {self.load_rate:g} req/s for {self.load_seconds:g} s is all absorbed by the "
                f"burst ({limits.burst}) and the rate ({limits.rate:g}/s): "
                "raise --load-rate or --load-seconds"
            )
        if not 0 < self.tolerance < 1:
            raise SetupError("--tolerance must be between 0 and 1")
        loadgen.LoadPlan.for_duration(self.load_rate, self.load_seconds)  # within the generator's bounds
        loadgen.LoadPlan.for_duration(self.control_rate, self.control_seconds)

    def expected_throttled(self, limits: Limits) -> float:
        count = round(self.load_rate * self.load_seconds)
        return count - (limits.burst + limits.rate * (count - 1) / self.load_rate)

    def plan(self, rate: float, seconds: float) -> loadgen.LoadPlan:
        return loadgen.LoadPlan.for_duration(
            rate,
            seconds,
            max_in_flight=self.max_in_flight,
            request_timeout=self.request_timeout,
            # Enough open connections for ~50 ms of answers: the start does not wait for handshakes.
            warm_connections=max(1, min(200, math.ceil(rate * 0.05))),
        )


def refill_wait(limits: Limits) -> float:
    """Seconds for an emptied bucket to fill again: each phase starts with the whole burst."""
    return min(MAX_REFILL_WAIT_S, limits.burst / limits.rate) + 0.1


def run_load(plan: loadgen.LoadPlan, endpoint: str, headers: loadgen.HeadersFactory) -> loadgen.LoadResult:
    request = loadgen.Request("POST", endpoint, LOAD_BODY, headers)
    # The warm connections are TCP and TLS only, no request: the flood's first request is the first
    # the stage counts against its token bucket.
    return loadgen.run(plan, request, classify)


# -- Verdicts -------------------------------------------------------------------------------------


def _accepted(result: loadgen.LoadResult) -> int:
    return sum(1 for sample in result.sent if sample.has_answer and sample.outcome != THROTTLED)


def _evidence(result: loadgen.LoadResult) -> dict[str, Any]:
    return {**result.summary(), "per_second": result.per_second(PER_SECOND_LABELS)}


def judge_control(result: loadgen.LoadResult, limits: Limits) -> CheckResult:
    """Below the limit nothing is throttled, and every request is answered."""
    throttled = result.counts[THROTTLED]
    lost = result.not_sent + result.no_answer
    where = f"{len(result.sent)} requests at {result.offered_rate:.1f} req/s (limit {limits.rate:g})"
    problems = []
    if throttled:
        problems.append(f"{throttled} of {where} got 429 below the limit")
    if lost:
        problems.append(f"{lost} of {result.plan.count} requests got no answer or could not be sent")
    summary = "; ".join(problems) if problems else f"no 429 in {where}"
    return CheckResult.judge(CONTROL_CHECK, not problems, summary, **_evidence(result))


def judge_flood(result: loadgen.LoadResult, limits: Limits, options: ThrottleOptions) -> list[CheckResult]:
    """The flood's three checks. If it was not offered as planned, the other two cannot pass either."""
    offered = _judge_offered(result)
    judged = [_judge_throttled(result, limits), _judge_rate(result, limits, options)]
    if offered.failed:
        # Only the counts: a verdict on the throttle ("not throttled", "OUTSIDE") from a flood that
        # did not happen would contradict "not judged" on the same line.
        counts = (
            f"{result.counts[THROTTLED]} of {len(result.sent)} sent got 429, "
            f"{_accepted(result)} were accepted"
        )
        why = f"not judged: the flood was not offered as planned ({OFFERED_CHECK}); counted: {counts}"
        judged = [CheckResult(check.name, Status.FAILED, why, check.details) for check in judged]
    return [offered, *judged]


def _judge_offered(result: loadgen.LoadResult) -> CheckResult:
    """The flood happened as planned: otherwise the other verdicts say nothing about the gateway."""
    plan = result.plan
    lost = result.not_sent + result.no_answer
    trail = result.answer_window - result.send_span
    pace_limit = max(PACE_MARGIN_S, PACE_MARGIN_RATIO * result.send_span)
    problems = []
    if result.offered_rate < MIN_OFFERED_RATIO * plan.rate:
        problems.append(
            f"the generator offered {result.offered_rate:.0f} req/s, under {MIN_OFFERED_RATIO:.0%} of the "
            f"planned {plan.rate:g}"
        )
    if lost > MAX_LOST_RATIO * plan.count:
        problems.append(
            f"{lost} of {plan.count} requests lost ({result.not_sent} not sent: {plan.max_in_flight} were "
            f"awaiting answers, the server answered slower than the load came; {result.no_answer} no answer)"
        )
    if trail > pace_limit:
        problems.append(
            f"the last answer came {trail:.2f} s after the last send (at most {pace_limit:.2f} s): the "
            "server could not keep up, so its throttle saw a slower load than was offered "
            "(against `make local`, use a lower THROTTLE_RATE/THROTTLE_BURST)"
        )
    summary = (
        "; ".join(problems)
        if problems
        else f"offered {result.offered_rate:.0f} req/s for {result.send_span:.2f} s "
        f"({len(result.sent)} requests), schedule slip p99 {result.lag_ms(0.99):.1f} ms"
    )
    return CheckResult.judge(OFFERED_CHECK, not problems, summary, **_evidence(result))


def _judge_throttled(result: loadgen.LoadResult, limits: Limits) -> CheckResult:
    throttled = result.counts[THROTTLED]
    expected = len(result.sent) - (limits.burst + limits.rate * result.send_span)
    summary = (
        f"{throttled} of {len(result.sent)} requests got 429 (about {max(0.0, expected):.0f} expected)"
        if throttled
        else f"no 429 in {len(result.sent)} requests offered at {result.offered_rate:.0f} req/s for "
        f"{result.send_span:.2f} s, above the {limits.rate:g} req/s limit (about {max(0.0, expected):.0f} "
        "should have been throttled): the stage is not throttled as configured"
    )
    return CheckResult.judge(
        THROTTLED_CHECK, throttled > 0, summary, throttled=throttled, expected=round(expected)
    )


def _judge_rate(result: loadgen.LoadResult, limits: Limits, options: ThrottleOptions) -> CheckResult:
    accepted = _accepted(result)
    span = result.send_span
    if span <= 0:
        return CheckResult.judge(RATE_CHECK, False, "the flood sent fewer than two requests")
    measured = (accepted - limits.burst) / span
    low, high = (1 - options.tolerance) * limits.rate, (1 + options.tolerance) * limits.rate
    ok = low <= measured <= high
    expected = limits.burst + limits.rate * span
    summary = (
        f"accepted {accepted} = burst {limits.burst} + {measured:.1f} req/s x {span:.2f} s; "
        f"{'within' if ok else 'OUTSIDE'} {limits.rate:g} ±{options.tolerance:.0%} ({low:.0f}..{high:.0f}) "
        f"[expected {expected:.0f}]"
    )
    return CheckResult.judge(
        RATE_CHECK,
        ok,
        summary,
        accepted=accepted,
        expected_accepted=round(expected, 1),
        measured_rate=round(measured, 2),
        # The gateway decided each request between its send and its answer; over the answer window:
        measured_rate_over_answer_window=(
            round((accepted - limits.burst) / result.answer_window, 2) if result.answer_window > 0 else None
        ),
        bounds=[round(low, 2), round(high, 2)],
        tolerance=options.tolerance,
    )


def judge_only_gateway_400(phases: Mapping[str, loadgen.LoadResult]) -> CheckResult:
    """Every answer that was not a 429 is API Gateway's validator 400: the load never ran the function."""
    outcomes: dict[str, int] = {}
    passed = 0
    for result in phases.values():
        for sample in result.sent:
            if sample.has_answer and sample.outcome != THROTTLED:
                passed += 1
                outcomes[sample.outcome] = outcomes.get(sample.outcome, 0) + 1
    wrong = {outcome: count for outcome, count in outcomes.items() if outcome != GATEWAY_400}
    where = " + ".join(phases)
    if not passed:
        return CheckResult.judge(
            ONLY_400_CHECK, False, f"no answer other than 429 in the {where}: nothing to show"
        )
    summary = (
        f"all {passed} non-429 answers ({where}) were API Gateway's validator 400"
        if not wrong
        else f"{sum(wrong.values())} of {passed} non-429 answers ({where}) were not the validator's 400: "
        + ", ".join(f"{outcome} x{count}" for outcome, count in sorted(wrong.items()))
        + " (the load reached something other than the gateway's request validator)"
    )
    return CheckResult.judge(ONLY_400_CHECK, not wrong, summary, non_429_outcomes=outcomes)


def skipped_flood(why: str) -> list[CheckResult]:
    return [CheckResult.skipped(name, why) for name in FLOOD_CHECKS]
