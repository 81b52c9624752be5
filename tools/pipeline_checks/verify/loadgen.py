"""An open-loop HTTP load generator: request i leaves at start + i/rate, whatever the answers do.

A closed loop (N workers, each waiting for its answer) offers at most N / latency: a
slow or throttling server slows the load it is measured with, and a rate limit looks
met when it was never tested. Here a scheduler starts each request on its own timetable;
what it could not start on time is counted, never hidden:

- lag (schedule slip): when a request actually left minus when it was due;
- not sent: due while `max_in_flight` requests were still waiting (the generous cap that
  bounds memory and sockets); such a request is dropped, not delayed, so it cannot shift
  the timetable of the ones after it;
- the offered rate is what actually left, (sent - 1) / (last send - first send).

The HTTP is `http1.py`: keep-alive connections, the request as bytes, answers parsed by
httptools. aiohttp's client spent about 340 us of CPU per request on the 2-core machine this
project is measured on, which capped the offered rate near 2,600 req/s; `http1.py` spends about
40 us (uvloop) to 70 us (asyncio's loop). The scheduler wakes at most once per `tick` and starts
everything due by then: one wake-up per request costs more than the request itself at a few
thousand per second, and a 1 ms tick keeps each request within about a millisecond of its time.
Everything is bounded: the count (at most MAX_REQUESTS), each request's time
(`request_timeout`), and the drain after the last send.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.pipeline_checks.verify.http1 import BadAnswer, ConnectionPool

MAX_REQUESTS = 200_000
MAX_DURATION_S = 120.0
NOT_SENT = "not-sent"
NO_ANSWER_PREFIX = "error:"

Classifier = Callable[[int, bytes], str]  # (status, body) -> outcome label
HeadersFactory = Callable[[], Mapping[str, str]]  # called as each request leaves (signing)


@dataclass(frozen=True)
class LoadPlan:
    rate: float  # requests per second to offer
    count: int  # requests to schedule
    max_in_flight: int = 1000
    request_timeout: float = 10.0
    tick: float = 0.001
    warm_connections: int = 0  # connections opened before the clock starts (no request sent)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.count < 1 or self.max_in_flight < 1:
            raise ValueError("rate, count and max_in_flight must be positive")
        if self.count > MAX_REQUESTS or self.count / self.rate > MAX_DURATION_S:
            raise ValueError(f"a load is bounded: at most {MAX_REQUESTS} requests and {MAX_DURATION_S:g} s")

    @classmethod
    def for_duration(cls, rate: float, seconds: float, **options: Any) -> LoadPlan:
        return cls(rate=rate, count=max(1, round(rate * seconds)), **options)

    @property
    def duration(self) -> float:
        return self.count / self.rate


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    headers: HeadersFactory


@dataclass
class Sample:
    scheduled: float  # seconds after the start
    sent: float | None = None  # None: not sent (in-flight cap)
    answered: float | None = None
    outcome: str = NOT_SENT

    @property
    def has_answer(self) -> bool:
        return self.sent is not None and not self.outcome.startswith(NO_ANSWER_PREFIX)


@dataclass
class LoadResult:
    plan: LoadPlan
    samples: list[Sample]
    wall_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[str]:
        return Counter(sample.outcome for sample in self.samples)

    @property
    def sent(self) -> list[Sample]:
        return [sample for sample in self.samples if sample.sent is not None]

    @property
    def not_sent(self) -> int:
        return self.plan.count - len(self.sent)

    @property
    def no_answer(self) -> int:
        return sum(1 for sample in self.sent if not sample.has_answer)

    @property
    def send_span(self) -> float:
        """First send to last send: the time over which the load was offered."""
        times = [sample.sent for sample in self.sent if sample.sent is not None]
        return max(times) - min(times) if len(times) > 1 else 0.0

    @property
    def answer_window(self) -> float:
        """First send to last answer: every answer was decided inside it."""
        sent = [sample.sent for sample in self.sent if sample.sent is not None]
        answered = [
            sample.answered for sample in self.sent if sample.has_answer and sample.answered is not None
        ]
        return max(answered) - min(sent) if sent and answered else 0.0

    @property
    def offered_rate(self) -> float:
        """Requests per second that actually left."""
        span = self.send_span
        return (len(self.sent) - 1) / span if span > 0 else 0.0

    def lag_ms(self, quantile: float) -> float:
        """Schedule slip at `quantile` (1.0: the worst), in milliseconds."""
        return percentile(
            [(sample.sent - sample.scheduled) * 1000 for sample in self.sent if sample.sent is not None],
            quantile,
        )

    def latency_ms(self, quantile: float) -> float:
        return percentile(
            [
                (sample.answered - sample.sent) * 1000
                for sample in self.sent
                if sample.has_answer and sample.answered is not None and sample.sent is not None
            ],
            quantile,
        )

    def per_second(self, labels: Mapping[str, Callable[[str], bool]]) -> list[dict[str, Any]]:
        """Counts per second of the timetable: sent, each labelled outcome, no answer, not sent."""
        seconds = max(1, math.ceil(self.plan.duration))
        rows: list[dict[str, Any]] = [
            {"second": s, "sent": 0, **dict.fromkeys(labels, 0), "no_answer": 0, "not_sent": 0}
            for s in range(seconds)
        ]
        for sample in self.samples:
            row = rows[min(seconds - 1, int(sample.scheduled))]
            if sample.sent is None:
                row["not_sent"] += 1
                continue
            row["sent"] += 1
            if not sample.has_answer:
                row["no_answer"] += 1
                continue
            for label, matches in labels.items():
                if matches(sample.outcome):
                    row[label] += 1
                    break
        return rows

    def summary(self) -> dict[str, Any]:
        return {
            "planned": {"rate": self.plan.rate, "requests": self.plan.count, "seconds": self.plan.duration},
            "sent": len(self.sent),
            "not_sent_in_flight_cap": self.not_sent,
            "no_answer": self.no_answer,
            "offered_rate": round(self.offered_rate, 1),
            "send_span_s": round(self.send_span, 4),
            "answer_window_s": round(self.answer_window, 4),
            "schedule_slip_ms": {
                "p50": round(self.lag_ms(0.5), 2),
                "p99": round(self.lag_ms(0.99), 2),
                "max": round(self.lag_ms(1.0), 2),
            },
            "latency_ms": {"p50": round(self.latency_ms(0.5), 2), "p99": round(self.latency_ms(0.99), 2)},
            "outcomes": dict(sorted(self.counts.items())),
            **self.extra,
        }


def percentile(values: list[float], quantile: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))]


def run(plan: LoadPlan, request: Request, classify: Classifier) -> LoadResult:
    """Run one load to completion in a fresh event loop (blocking); uvloop's where it is installed."""
    try:
        import uvloop
    except ImportError:  # the verify group runs on asyncio's own loop: about 70 us per request
        return asyncio.run(run_async(plan, request, classify))
    return uvloop.run(run_async(plan, request, classify))


async def run_async(plan: LoadPlan, request: Request, classify: Classifier) -> LoadResult:
    pool = ConnectionPool(request.url)
    try:
        if plan.warm_connections:
            # TCP and TLS set up before the clock starts, without a request: nothing reaches the stage.
            await pool.warm(plan.warm_connections, plan.request_timeout)
        return await _open_loop(pool, plan, request, classify)
    finally:
        pool.close()


async def _open_loop(
    pool: ConnectionPool, plan: LoadPlan, request: Request, classify: Classifier
) -> LoadResult:
    samples = [Sample(index / plan.rate) for index in range(plan.count)]
    tasks: set[asyncio.Task[None]] = set()
    in_flight = 0
    clock = time.perf_counter
    start = clock()

    async def send(sample: Sample) -> None:
        nonlocal in_flight
        sample.sent = clock() - start
        sample.outcome = f"{NO_ANSWER_PREFIX}cancelled"  # until an answer or an error says otherwise
        try:
            status, body = await pool.request(
                request.method, request.headers(), request.body, plan.request_timeout
            )
            sample.outcome = classify(status, body)
        except TimeoutError:
            sample.outcome = f"{NO_ANSWER_PREFIX}timeout"
        except (OSError, BadAnswer) as error:
            sample.outcome = f"{NO_ANSWER_PREFIX}{type(error).__name__}"
        finally:
            in_flight -= 1
        sample.answered = clock() - start

    index = 0
    while index < plan.count:
        due = min(plan.count, math.floor((clock() - start) * plan.rate) + 1)
        while index < due:
            if in_flight >= plan.max_in_flight:
                samples[index].outcome = NOT_SENT  # could not leave on time: dropped and counted
            else:
                in_flight += 1
                task = asyncio.create_task(send(samples[index]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            index += 1
        if index < plan.count:
            await asyncio.sleep(max(plan.tick, index / plan.rate - (clock() - start)))
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=plan.request_timeout + 1.0)
        for task in pending:  # a bounded drain: whatever is still out stays "no answer"
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return LoadResult(plan, samples, clock() - start)
