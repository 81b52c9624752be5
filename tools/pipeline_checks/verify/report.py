"""What a run leaves behind: a short table on stdout, a JUnit XML report, a JSON report.

The JUnit file has one testcase per check, so a CodeBuild report group (or any CI) lists
each check with its failure message. The JSON file has the same checks with all their
evidence: for the throttling checks, the counts per second (sent, 429, 400, other).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.common import junit
from tools.pipeline_checks.verify.model import CheckResult, Status

_LABEL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.SKIPPED: "SKIP"}


@dataclass(frozen=True)
class Run:
    """One verifier run: where it pointed, what it expected, and what every check said."""

    mode: str
    context: dict[str, Any]
    checks: Sequence[CheckResult]
    started_at: str
    seconds: float

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not any(check.failed for check in self.checks)

    @property
    def tally(self) -> Counter[Status]:
        return Counter(check.status for check in self.checks)


def table(run: Run) -> str:
    width = max(len(check.name) for check in run.checks) if run.checks else 10
    lines = [f"{'RESULT':<6}  {'CHECK':<{width}}  DETAIL"]
    lines += [f"{_LABEL[c.status]:<6}  {c.name:<{width}}  {c.summary}" for c in run.checks]
    tally = run.tally
    failed = [check.name for check in run.checks if check.failed]
    lines.append(
        f"{'VERIFIED' if run.passed else 'NOT VERIFIED'}: {tally[Status.PASSED]} passed, "
        f"{tally[Status.FAILED]} failed, {tally[Status.SKIPPED]} skipped in {run.seconds:.1f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)


def junit_xml(run: Run) -> bytes:
    cases = [_junit_case(run.mode, check) for check in run.checks]
    suite = junit.Suite(
        f"upload-api-verify-{run.mode}",
        cases,
        seconds=run.seconds,
        timestamp=run.started_at,
        properties=_flat(run.context),
    )
    return junit.render([suite])


def _junit_case(mode: str, check: CheckResult) -> junit.Case:
    classname, seconds = f"verify.{mode}", check.seconds
    if check.status is Status.FAILED:
        evidence = json.dumps(_brief(check.details), indent=2, default=str)
        return junit.Case(
            classname, check.name, "failure", check.summary, evidence, seconds, "VerificationFailed"
        )
    outcome: junit.Outcome = "skipped" if check.status is Status.SKIPPED else "pass"
    return junit.Case(classname, check.name, outcome, check.summary, seconds=seconds)


def json_report(run: Run) -> dict[str, Any]:
    return {
        "mode": run.mode,
        "verified": run.passed,
        "started_at": run.started_at,
        "seconds": round(run.seconds, 3),
        **run.context,
        "summary": {status.value: run.tally[status] for status in Status},
        "checks": [
            {
                "name": check.name,
                "status": check.status.value,
                "summary": check.summary,
                "seconds": round(check.seconds, 3),
                "details": _finite(check.details),
            }
            for check in run.checks
        ],
    }


def write(run: Run, junit_path: Path, json_path: Path) -> None:
    _atomic_write(junit_path, junit_xml(run))
    _atomic_write(json_path, (json.dumps(json_report(run), indent=2, default=str) + "\n").encode())


def _atomic_write(path: Path, data: bytes) -> None:
    """A report group or a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _brief(details: dict[str, Any]) -> dict[str, Any]:
    """The failure text in JUnit: the evidence without the long per-second table (that is in the JSON)."""
    return {key: value for key, value in _finite(details).items() if key != "per_second"}


def _finite(value: Any) -> Any:
    """JSON has no NaN: an empty percentile becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _flat(context: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
