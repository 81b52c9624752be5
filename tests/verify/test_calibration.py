"""Calibration before a flood: a machine that cannot offer it refuses in one line, saying what it can prove.

The flood's verdicts mean something only if the flood happened; a busy 2-core machine running the
generator and `make local` together may not manage 2,000 req/s. Refusing up front, with the limit
this machine can prove and the command that proves it, is the honest answer.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.local_server import OUTPUTS_ENV, LocalServer
from tests.verify.support import SERVERS, Verifier
from tools.pipeline_checks.verify import loadgen
from tools.pipeline_checks.verify.calibration import REFUSED_EXIT, Capacity, refusal, round_down

ENDPOINT = "http://127.0.0.1:3000/dev/upload"


def sample(
    rate: float, count: int, server_rate: float | None = None, spread: float = 1.0
) -> loadgen.LoadResult:
    """`count` requests sent evenly over `spread` seconds to a server answering at most `server_rate`/s."""
    samples, last_answer = [], 0.0
    for index in range(count):
        sent = index * spread / count
        last_answer = max(sent + 0.01, last_answer + (1 / server_rate if server_rate else 0.0))
        samples.append(loadgen.Sample(scheduled=index / rate, sent=sent, answered=last_answer, outcome="429"))
    return loadgen.LoadResult(loadgen.LoadPlan(rate=rate, count=count), samples, last_answer)


def test_a_machine_that_keeps_pace_is_not_refused():
    # GIVEN 2,000 requests offered and answered within a second, as planned
    capacity = Capacity.measure(sample(2000, 2000))
    # THEN calibration lets the flood go ahead
    assert capacity.enough, capacity.summary()


def test_a_steady_latency_is_not_mistaken_for_a_slow_server():
    # GIVEN every answer 10 ms after its request: the server keeps pace
    capacity = Capacity.measure(sample(100, 100))
    # THEN the answered rate is the offered rate, and the flood may go ahead
    assert capacity.answered_rate == pytest.approx(100, rel=0.02)
    assert capacity.enough


def test_a_slow_server_is_measured_by_its_answers():
    # GIVEN requests offered on time to a server that answers at most 800 a second (a backlog grows)
    capacity = Capacity.measure(sample(2000, 2000, server_rate=800))
    # THEN what counts is the answered rate, about 800 req/s, and it is not enough
    assert capacity.offered_rate == pytest.approx(2000, rel=0.01)
    assert capacity.rate == pytest.approx(800, rel=0.02)
    assert not capacity.enough


def test_the_refusal_is_one_line_naming_the_limit_it_can_prove_and_the_command():
    # GIVEN a machine that offered 2,000 requests over 3.3 s (600 req/s) for a 2,000 req/s flood
    capacity = Capacity.measure(sample(2000, 2000, spread=3.3))
    # WHEN the refusal is written for a local server
    line = refusal(capacity, 1000, ENDPOINT, local=True)
    # THEN it is one line: the measured rates, the largest provable limit (0.4 x 600 = 240) and the command
    assert "\n" not in line
    assert line.startswith("verify: refused: cannot prove the 1000 req/s limit")
    assert "offered 606 req/s" in line
    assert "make local THROTTLE_RATE=240 THROTTLE_BURST=240" in line
    assert "make verify" in line
    # AND never the words of a verdict on the throttle
    assert "not judged" not in line
    assert "not throttled" not in line


def test_a_deployment_is_not_told_to_start_make_local():
    capacity = Capacity.measure(sample(2000, 2000, spread=3.3))
    line = refusal(capacity, 1000, "https://abc.execute-api.eu-west-1.amazonaws.com/dev/upload", local=False)
    assert "make local" not in line
    assert "make bench" in line


@pytest.mark.parametrize(("value", "rounded"), [(1234.0, 1200.0), (87.6, 87.0), (240.0, 240.0), (9.9, 9.0)])
def test_provable_limits_are_rounded_down(value, rounded):
    assert round_down(value) == rounded


@pytest.mark.e2e
def test_a_flood_this_machine_cannot_offer_is_refused_up_front(tmp_path_factory, tmp_path):
    # GIVEN the correct local server, and a verifier told to expect a limit no 2-core machine can flood
    # (50,000 req/s, so a 100,000 req/s flood; the generator spends about 80 us of CPU a request)
    if os.environ.get(OUTPUTS_ENV):
        pytest.skip("needs a local server of its own; UPLOAD_API_OUTPUTS points the suite at an existing API")
    server = LocalServer(tmp_path_factory.mktemp("calibration-correct"), SERVERS["correct"])
    # WHEN it runs in dev mode
    try:
        run = Verifier(tmp_path, server.outputs_path, "dev", "--rate", "50000", "--burst", "50000").result()
    finally:
        server.stop()
    # THEN it exits 3 with ONE line on stderr saying what it can prove here, and how
    assert run.returncode == REFUSED_EXIT, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("verify: refused: cannot prove the 50000 req/s limit"), line
    assert "make local THROTTLE_RATE=" in line, line
    assert "make verify" in line, line
    # AND nothing was judged or flooded: the report holds the refusal alone
    assert "flood:" not in run.stdout
    assert "not judged" not in run.stdout + run.stderr
    report = json.loads(run.json_path.read_text(encoding="utf-8"))
    checks = [(check["name"], check["status"]) for check in report["checks"]]
    assert checks == [("throttling/flood-calibration", "failed")]
