"""The review as JUnit XML, for the pipeline's SecurityFindingsReports CodeBuild report group.

One test case per finding, so the pipeline run lists each: an unacknowledged finding (or a
failed check) is a failure, an acknowledged one (or a skipped check) is skipped with its reason
as the message, a gate that could not check is an error. Warnings (and information) pass, with
their text. The delivery path's flags are their own suite, as is a delivery path that was not read.
"""

from __future__ import annotations

from typing import Any

from tools.common import junit
from tools.common.junit import Outcome
from tools.pipeline_checks.review.delivery import PACK as DELIVERY_PACK
from tools.pipeline_checks.review.scanners import RAN


def render(report: dict[str, Any]) -> bytes:
    suites = [
        junit.Suite("cdk-nag", _nag_cases(report)),
        junit.Suite("delivery-path", _delivery_cases(report)),
        junit.Suite("checkov", _checkov_cases(report)),
        junit.Suite("cfn-lint", _cfn_lint_cases(report)),
        junit.Suite("gates", _gate_cases(report)),
    ]
    return junit.render(suites, name="security review")


def _case(classname: str, name: str, outcome: Outcome, message: str) -> junit.Case:
    """A finding's case: the whole message is also the failure's (or skip's) text."""
    return junit.Case(classname, name, outcome, message, text=None if outcome == "pass" else message)


def _where(item: dict[str, Any]) -> str:
    return f"{item['stage']}.{item['stack']}"


def _nag_cases(report: dict[str, Any]) -> list[junit.Case]:
    cases: list[junit.Case] = []
    if not report["validationReport"].startswith("read"):
        cases.append(_case("app", "cdk-nag validation report", "error", report["validationReport"]))
    for f in report["findings"]:
        if f["pack"] == DELIVERY_PACK:
            continue
        outcome: Outcome = "failure" if f["severity"] == "error" else "pass"
        message = f"{f['severity']}: {f['pack']} {f['rule']} at {f['constructPath']}: {f['description']}"
        cases.append(_case(_where(f), f"{f['rule']} @ {f['construct']}", outcome, message))
    for a in report["acknowledgements"]:
        covers = ", ".join(f"{c['path']} ({c['type']})" for c in a["covers"]) or "no resource"
        message = f"acknowledged on {a['construct']} (covers {covers}): {a['reason']}"
        cases.append(_case(_where(a), f"{a['findingId']} @ {a['construct']}", "skipped", message))
    return cases


def _delivery_cases(report: dict[str, Any]) -> list[junit.Case]:
    delivery = report.get("delivery", {})
    cases: list[junit.Case] = []
    if delivery.get("status") != "read":
        cases.append(_case("app", "delivery path read", "error", str(delivery.get("status"))))
    for f in report["findings"]:
        if f["pack"] == DELIVERY_PACK:
            outcome: Outcome = "failure" if f["severity"] == "error" else "pass"
            message = f"{f['severity']}: {f['rule']} at {f['constructPath']}: {f['description']}"
            cases.append(_case(_where(f), f"{f['rule']} @ {f['construct']}", outcome, message))
    return cases


def _checkov_cases(report: dict[str, Any]) -> list[junit.Case]:
    checkov = report["checkov"]
    cases: list[junit.Case] = []
    if checkov["status"] != RAN:
        cases.append(_case("app", "checkov ran", "error", checkov["status"]))
    for c in checkov["failed"]:
        cases.append(_case(_where(c), f"{c['checkId']} @ {c['resource']}", "failure", c["checkName"]))
    for c in checkov["skipped"]:
        message = f"skipped: {c['checkName']}: {c['reason'] or 'NO REASON GIVEN'}"
        cases.append(_case(_where(c), f"{c['checkId']} @ {c['resource']}", "skipped", message))
    return cases


def _cfn_lint_cases(report: dict[str, Any]) -> list[junit.Case]:
    cfn_lint = report["cfnLint"]
    cases: list[junit.Case] = []
    if cfn_lint["status"] != RAN:
        cases.append(_case("app", "cfn-lint ran", "error", cfn_lint["status"]))
    for m in cfn_lint["findings"]:
        message = f"{m['level']} {m['rule']} at {m['location']} (line {m['line']}): {m['message']}"
        cases.append(_case(_where(m), f"{m['rule']} @ {m['resource'] or m['location']}", "failure", message))
    for i in cfn_lint["ignores"]:
        message = f"ignored: {i['reason'] or 'NO REASON GIVEN'}"
        cases.append(_case(_where(i), f"{i['rule']} @ {i['resource']}", "skipped", message))
    return cases


def _gate_cases(report: dict[str, Any]) -> list[junit.Case]:
    gates = report["gates"]
    if gates["status"] != "ran":
        return [_case("build", "security gates ran", "error", gates["status"])]
    outcome: dict[str, Outcome] = {"passed": "pass", "failed": "failure", "not checked": "error"}
    return [
        _case(
            "build",
            f"{g['gate']}: {g['title']}",
            outcome.get(g["status"], "error"),
            f"{g['status']}: {g['summary']}",
        )
        for g in gates["results"]
    ]
