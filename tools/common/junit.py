"""JUnit XML, the one writer: what a CodeBuild report group (or any CI) reads to list each check.

A case passes (its message, if any, as system-out), or fails, is skipped, or is an error: then an
element of that name carries the message (cut to what a report group's list shows) and the text.
The security review and the post-deploy verifier both write through here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # builds XML, parses none
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["pass", "failure", "skipped", "error"]
MESSAGE_LIMIT = 1000  # characters of a message attribute; the element's text has it all


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    outcome: Outcome
    message: str = ""
    text: str | None = None  # the failure/skipped/error element's text
    seconds: float | None = None
    failure_type: str | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    cases: Sequence[Case]
    seconds: float | None = None
    timestamp: str | None = None
    properties: Mapping[str, object] | None = None  # written (even empty) when given


def render(suites: Sequence[Suite], name: str | None = None) -> bytes:
    root = ET.Element("testsuites")
    if name is not None:
        root.set("name", name)
    for suite in suites:
        _suite(root, suite)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _suite(parent: ET.Element, suite: Suite) -> None:
    element = ET.SubElement(parent, "testsuite", name=suite.name, tests=str(len(suite.cases)))
    for outcome, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attribute, str(sum(1 for case in suite.cases if case.outcome == outcome)))
    if suite.seconds is not None:
        element.set("time", f"{suite.seconds:.3f}")
    if suite.timestamp is not None:
        element.set("timestamp", suite.timestamp)
    if suite.properties is not None:
        properties = ET.SubElement(element, "properties")
        for key, value in suite.properties.items():
            ET.SubElement(properties, "property", name=key, value=str(value))
    for case in suite.cases:
        _case(element, case)


def _case(parent: ET.Element, case: Case) -> None:
    element = ET.SubElement(parent, "testcase", classname=case.classname, name=case.name)
    if case.seconds is not None:
        element.set("time", f"{case.seconds:.3f}")
    if case.outcome == "pass":
        if case.message:
            ET.SubElement(element, "system-out").text = case.message
        return
    verdict = ET.SubElement(element, case.outcome, message=case.message[:MESSAGE_LIMIT])
    if case.failure_type is not None:
        verdict.set("type", case.failure_type)
    if case.text is not None:
        verdict.text = case.text
