"""The review as JUnit XML, for the pipeline's SecurityFindingsReports CodeBuild report group.

One test case per finding, so the pipeline run lists each: an unacknowledged finding (or a
failed check) is a failure, an acknowledged one (or a skipped check) is skipped with its reason
as the message, a gate that could not check is an error. Warnings pass, with their text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # builds XML, parses none
from typing import Any

from tools.pipeline_checks.review.scanners import RAN


def render(report: dict[str, Any]) -> bytes:
    suites = ET.Element("testsuites", name="security review")
    _suite(suites, "cdk-nag", _nag_cases(report))
    _suite(suites, "checkov", _checkov_cases(report))
    _suite(suites, "cfn-lint", _cfn_lint_cases(report))
    _suite(suites, "gates", _gate_cases(report))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


Case = tuple[str, str, str, str]  # (classname, name, outcome, message); outcome: pass/failure/skipped/error


def _suite(parent: ET.Element, name: str, cases: list[Case]) -> None:
    suite = ET.SubElement(parent, "testsuite", name=name, tests=str(len(cases)))
    for outcome, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attribute, str(sum(1 for case in cases if case[2] == outcome)))
    for classname, case_name, outcome, message in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=case_name)
        if outcome == "pass":
            if message:
                ET.SubElement(case, "system-out").text = message
        else:
            ET.SubElement(case, outcome, message=message[:1000]).text = message


def _where(item: dict[str, Any]) -> str:
    return f"{item['stage']}.{item['stack']}"


def _nag_cases(report: dict[str, Any]) -> list[Case]:
    cases: list[Case] = []
    if not report["validationReport"].startswith("read"):
        cases.append(("app", "cdk-nag validation report", "error", report["validationReport"]))
    for f in report["findings"]:
        outcome = "failure" if f["severity"] == "error" else "pass"
        message = f"{f['severity']}: {f['pack']} {f['rule']} at {f['constructPath']}: {f['description']}"
        cases.append((_where(f), f"{f['rule']} @ {f['construct']}", outcome, message))
    for a in report["acknowledgements"]:
        covers = ", ".join(f"{c['path']} ({c['type']})" for c in a["covers"]) or "no resource"
        message = f"acknowledged on {a['construct']} (covers {covers}): {a['reason']}"
        cases.append((_where(a), f"{a['findingId']} @ {a['construct']}", "skipped", message))
    return cases


def _checkov_cases(report: dict[str, Any]) -> list[Case]:
    checkov = report["checkov"]
    cases: list[Case] = []
    if checkov["status"] != RAN:
        cases.append(("app", "checkov ran", "error", checkov["status"]))
    for c in checkov["failed"]:
        cases.append((_where(c), f"{c['checkId']} @ {c['resource']}", "failure", c["checkName"]))
    for c in checkov["skipped"]:
        message = f"skipped: {c['checkName']}: {c['reason'] or 'NO REASON GIVEN'}"
        cases.append((_where(c), f"{c['checkId']} @ {c['resource']}", "skipped", message))
    return cases


def _cfn_lint_cases(report: dict[str, Any]) -> list[Case]:
    cfn_lint = report["cfnLint"]
    cases: list[Case] = []
    if cfn_lint["status"] != RAN:
        cases.append(("app", "cfn-lint ran", "error", cfn_lint["status"]))
    for m in cfn_lint["findings"]:
        message = f"{m['level']} {m['rule']} at {m['location']} (line {m['line']}): {m['message']}"
        cases.append((_where(m), f"{m['rule']} @ {m['resource'] or m['location']}", "failure", message))
    for i in cfn_lint["ignores"]:
        message = f"ignored: {i['reason'] or 'NO REASON GIVEN'}"
        cases.append((_where(i), f"{i['rule']} @ {i['resource']}", "skipped", message))
    return cases


def _gate_cases(report: dict[str, Any]) -> list[Case]:
    gates = report["gates"]
    if gates["status"] != "ran":
        return [("build", "security gates ran", "error", gates["status"])]
    outcome = {"passed": "pass", "failed": "failure", "not checked": "error"}
    return [
        (
            "build",
            f"{g['gate']}: {g['title']}",
            outcome.get(g["status"], "error"),
            f"{g['status']}: {g['summary']}",
        )
        for g in gates["results"]
    ]
