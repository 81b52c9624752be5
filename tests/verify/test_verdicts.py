"""The throttling verdicts on made-up load results: where each one turns from pass to fail."""

from __future__ import annotations

import pytest

from tools.pipeline_checks.verify import loadgen
from tools.pipeline_checks.verify.model import Status
from tools.pipeline_checks.verify.target import Limits, SetupError
from tools.pipeline_checks.verify.throttling import (
    GATEWAY_400,
    OFFERED_CHECK,
    OTHER_400,
    RATE_CHECK,
    THROTTLED,
    THROTTLED_CHECK,
    ThrottleOptions,
    classify,
    judge_control,
    judge_flood,
    judge_only_gateway_400,
)

LIMITS = Limits(rate=1000, burst=2000, source="test")
OPTIONS = ThrottleOptions.derive(LIMITS)


def load_result(
    outcomes: list[str], rate: float, latency: float = 0.02, trail: float = 0.0
) -> loadgen.LoadResult:
    """Requests sent on time at `rate`, each answered `latency` later (the last `trail` later still)."""
    samples = []
    for index, outcome in enumerate(outcomes):
        sent = index / rate
        answered = sent + latency + (trail if index == len(outcomes) - 1 else 0.0)
        samples.append(loadgen.Sample(scheduled=sent, sent=sent, answered=answered, outcome=outcome))
    return loadgen.LoadResult(loadgen.LoadPlan(rate=rate, count=len(outcomes)), samples, len(outcomes) / rate)


def token_bucket_flood(accepted_rate: float, burst: int, offered: float, seconds: float) -> list[str]:
    """What an exact token bucket answers to an even flood: burst, then accepted_rate per second."""
    tokens, outcomes = float(burst), []
    for _ in range(round(offered * seconds)):
        if tokens >= 1:
            tokens -= 1
            outcomes.append(GATEWAY_400)
        else:
            outcomes.append(THROTTLED)
        tokens = min(burst, tokens + accepted_rate / offered)
    return outcomes


def verdicts(outcomes: list[str], **kwargs: float) -> dict[str, Status]:
    return {
        check.name: check.status
        for check in judge_flood(load_result(outcomes, 2000, **kwargs), LIMITS, OPTIONS)
    }


def test_defaults_derive_from_the_limits():
    # GIVEN the stack's limits, 1000 req/s and burst 2000
    # WHEN the options are derived
    # THEN control at half the rate for 1 s; flood at twice the rate for 2 x burst / rate = 4 s
    assert (OPTIONS.control_rate, OPTIONS.control_seconds) == (500, 1.0)
    assert (OPTIONS.load_rate, OPTIONS.load_seconds) == (2000, 4.0)
    # AND rate x T (4000) is twice the burst: the rate, not the burst, dominates what is accepted
    assert LIMITS.rate * OPTIONS.load_seconds == 2 * LIMITS.burst


def test_a_gateway_at_the_configured_limits_passes_the_flood():
    # GIVEN an exact token bucket at 1000 req/s, burst 2000, under 2000 req/s for 4 s
    outcomes = token_bucket_flood(1000, 2000, 2000, 4)
    # WHEN the flood is judged
    # THEN every flood check passes
    assert set(verdicts(outcomes).values()) == {Status.PASSED}


@pytest.mark.parametrize(
    ("real_rate", "real_burst", "verdict"),
    [
        (1200, 2000, Status.PASSED),  # +20%: within the 25% best-effort tolerance
        (800, 2000, Status.PASSED),  # -20%
        (1300, 2000, Status.FAILED),  # +30%
        (700, 2000, Status.FAILED),  # -30%
        (500, 1000, Status.FAILED),  # half the configured limits
        (1000, 3500, Status.FAILED),  # the right rate, but a burst far above the configured one
    ],
)
def test_the_accepted_rate_must_be_within_25_percent(real_rate, real_burst, verdict):
    # GIVEN a gateway that really enforces real_rate / real_burst while 1000 / 2000 are configured
    outcomes = token_bucket_flood(real_rate, real_burst, 2000, 4)
    # WHEN the flood is judged against the configured limits
    # THEN the rate check passes only within ±25% of 1000 req/s after the configured burst
    assert verdicts(outcomes)[RATE_CHECK] is verdict


def test_no_429_fails_the_flood():
    # GIVEN a gateway without throttling: every request of the flood reaches the validator
    outcomes = [GATEWAY_400] * 8000
    # WHEN the flood is judged
    result = verdicts(outcomes)
    # THEN it fails for the missing 429s and for the accepted rate
    assert result[THROTTLED_CHECK] is Status.FAILED
    assert result[RATE_CHECK] is Status.FAILED


def test_a_server_that_falls_behind_makes_the_flood_inconclusive():
    # GIVEN a flood whose last answer came 2 s after its last send (a saturated server)
    outcomes = token_bucket_flood(1000, 2000, 2000, 4)
    # WHEN the flood is judged
    checks = {
        check.name: check for check in judge_flood(load_result(outcomes, 2000, trail=2.0), LIMITS, OPTIONS)
    }
    # THEN the offered-load check fails and says why
    assert checks[OFFERED_CHECK].status is Status.FAILED
    assert "could not keep up" in checks[OFFERED_CHECK].summary
    # AND the rate check, whose numbers alone would pass, is not judged: an untested limit is no pass
    assert checks[RATE_CHECK].status is Status.FAILED
    assert checks[RATE_CHECK].summary.startswith("not judged")


def test_lost_requests_make_the_flood_inconclusive():
    # GIVEN a flood where 2% of the requests got no answer
    outcomes = token_bucket_flood(1000, 2000, 2000, 4)
    outcomes[::50] = ["error:ServerDisconnectedError"] * len(outcomes[::50])
    # WHEN the flood is judged
    # THEN the offered-load check fails (at most 1% may be lost)
    assert verdicts(outcomes)[OFFERED_CHECK] is Status.FAILED


def test_a_429_below_the_limit_fails_the_control():
    # GIVEN a paced control at half the rate in which one request got 429
    outcomes = [GATEWAY_400] * 499 + [THROTTLED]
    # WHEN the control is judged
    check = judge_control(load_result(outcomes, 500), LIMITS)
    # THEN it fails, counting the 429
    assert check.status is Status.FAILED
    assert check.summary.startswith("1 of 500 requests")


def test_a_clean_control_passes():
    # GIVEN a paced control answered 400 by the validator throughout
    # WHEN it is judged
    check = judge_control(load_result([GATEWAY_400] * 500, 500), LIMITS)
    # THEN it passes and carries its per-second counts
    assert check.status is Status.PASSED
    assert check.details["per_second"][0] == {
        "second": 0,
        "sent": 500,
        "429": 0,
        "400": 500,
        "other": 0,
        "no_answer": 0,
        "not_sent": 0,
    }


@pytest.mark.parametrize("intruder", [OTHER_400, "status:500", "status:201", "status:403"])
def test_any_non_429_answer_other_than_the_validators_400_fails(intruder):
    # GIVEN a control and a flood in which one answer was not 429 nor the validator's 400
    control = load_result([GATEWAY_400] * 10, 500)
    flood = load_result([THROTTLED, GATEWAY_400, intruder], 2000)
    # WHEN they are judged together
    check = judge_only_gateway_400({"control": control, "flood": flood})
    # THEN the check fails and names the intruder
    assert check.status is Status.FAILED
    assert intruder in check.summary


def test_only_validator_400s_and_429s_pass():
    # GIVEN answers that are all 429 or the validator's 400
    flood = load_result([THROTTLED, GATEWAY_400] * 5, 2000)
    # WHEN judged
    # THEN the check passes
    assert judge_only_gateway_400({"flood": flood}).status is Status.PASSED


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (429, b'{"message":"Too Many Requests"}', THROTTLED),
        (
            400,
            b'{"message":"Invalid request body","errors":["fileName: is required",'
            b'"price: is required","productName: is required"]}',
            GATEWAY_400,
        ),
        (
            400,
            b'\n{"message": "Invalid request body", "errors": ["price: is required", "fileName: is required",'
            b'"productName: is required"]}\n',
            GATEWAY_400,
        ),
        # API Gateway's uncustomized answer: this API's gateway response adds the fields
        (400, b'{"message":"Invalid request body"}', OTHER_400),
        (400, b'{"message":"Invalid request body","errors":["price: must be a number"]}', OTHER_400),
        (
            400,
            b'{"message":"Invalid request body","errors":["body must contain '
            b"['productName', 'price', 'fileName', 'fileContent'] properties\"]}",
            OTHER_400,
        ),
        (400, b"not json", OTHER_400),
        (500, b'{"message":"Internal server error"}', "status:500"),
    ],
)
def test_classify_tells_the_validators_400_from_the_handlers(status, body, outcome):
    # GIVEN an answer WHEN it is classified THEN only API Gateway's exact validator body counts as its 400
    assert classify(status, body) == outcome


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"load_rate": 900}, "above the limit"),
        ({"control_rate": 1000}, "below the limit"),
        ({"load_rate": 1010, "load_seconds": 2}, "absorbed by the"),
        ({"load_rate": 100_000, "load_seconds": 60}, "bounded"),
    ],
)
def test_options_that_cannot_show_throttling_are_refused(changes, message):
    # GIVEN options whose flood is not above the limit, or whose control is not below it, or too big
    # WHEN they are derived
    # THEN the verifier refuses to start, saying why
    with pytest.raises((SetupError, ValueError), match=message):
        ThrottleOptions.derive(LIMITS, **changes)


@pytest.mark.parametrize(
    "outcomes",
    [
        [GATEWAY_400] * 8000,  # no throttle at all
        [GATEWAY_400] * 2000 + [THROTTLED] * 6000,  # a throttle far below the limit
        token_bucket_flood(1000, 2000, 2000, 4),  # a correct one
    ],
    ids=["no-429", "too-strict", "correct"],
)
def test_a_flood_not_offered_never_also_gives_a_verdict_on_the_throttle(outcomes):
    # GIVEN a flood the server could not keep up with (its last answer 2 s after the last send)
    # WHEN it is judged
    checks = judge_flood(load_result(outcomes, 2000, trail=2.0), LIMITS, OPTIONS)
    # THEN the throttle checks say "not judged" with the counts only, never a verdict on the throttle
    for check in checks[1:]:
        assert check.status is Status.FAILED
        assert check.summary.startswith("not judged"), check.summary
        for verdict in ("not throttled", "OUTSIDE", "within", "should have been throttled"):
            assert verdict not in check.summary, check.summary
