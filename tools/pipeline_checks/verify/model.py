"""The one result type every check returns, and how it is judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not run in this mode (said why); never counts as a pass of what it checks


@dataclass(frozen=True)
class CheckResult:
    """One named check: its verdict, a one-line reason, and the evidence for the JSON report."""

    name: str
    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def judge(cls, name: str, ok: bool, summary: str, **details: Any) -> CheckResult:
        return cls(name, Status.PASSED if ok else Status.FAILED, summary, details)

    @classmethod
    def skipped(cls, name: str, why: str, **details: Any) -> CheckResult:
        return cls(name, Status.SKIPPED, why, details)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED
