"""The report's three formats and its JUnit file: consistent counts, self-contained HTML, nothing dropped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import markupsafe
import pytest

from tools.pipeline_checks.review import diff

pytestmark = pytest.mark.synth


def test_the_json_counts_are_the_lengths_of_its_lists(review):
    # GIVEN report.json
    r = review.report
    rows = [row for entity in r["iam"] for row in entity["rows"]]
    boundary = [row for policy in r["boundary"]["policies"] for row in policy["rows"]]
    acks = r["acknowledgements"]
    # WHEN its counts are recomputed from its lists, here
    expected = {
        "findings.failed": len([f for f in r["findings"] if f["severity"] == "error"]),
        "findings.warnings": len([f for f in r["findings"] if f["severity"] == "warning"]),
        "findings.info": len([f for f in r["findings"] if f["severity"] == "info"]),
        "acknowledgements": len(r["acknowledgements"]),
        "checkov.failed": len(r["checkov"]["failed"]),
        "checkov.skipped": len(r["checkov"]["skipped"]),
        "checkov.passed": sum(s["checkovPassed"] for s in r["stacks"]),
        "cfnLint.findings": len(r["cfnLint"]["findings"]),
        "cfnLint.ignores": len(r["cfnLint"]["ignores"]),
        "iam.roles": len([e for e in r["iam"] if e["kind"] == "role"]),
        "iam.resourcePolicies": len([e for e in r["iam"] if e["kind"] != "role"]),
        "iam.rows": len(rows),
        "iam.wildcardRows": len([row for row in rows if row["wildcards"]]),
        "iam.wildcardAllowRows": len([row for row in rows if row["wildcards"] and row["effect"] == "Allow"]),
        "acknowledgements.reasons": len({a["reason"] for a in r["acknowledgements"]}),
        "acknowledgements.ownClaimsFlagged": len([a for a in acks if a["ownClaimWildcards"]]),
        "risks.findings": len(r["risks"]),
        "boundary.policies": len(r["boundary"]["policies"]),
        "boundary.rows": len(boundary),
        "boundary.wildcardAllowRows": len([b for b in boundary if b["wildcards"] and b["effect"] == "Allow"]),
        "stacks": len(r["stacks"]),
        "delivery.flagged": len([f for f in r["delivery"]["flags"] if f["severity"] != "info"]),
        "delivery.bootstrapAssumers": len(r["delivery"]["assumes"]),
        "claims.checked": len([c for c in r["claims"]["claims"] if c["verdict"] == "checked"]),
        "claims.notChecked": len([c for c in r["claims"]["claims"] if c["verdict"] != "checked"]),
        "gates.passed": 2,
        "gates.failed": 1,
        "gates.notChecked": 1,
    }
    # THEN they are the counts the report states (the canned gates: 2 passed, 1 failed, 1 not checked)
    assert r["counts"] == expected
    # AND the per-stack counts add up to the whole
    for key in ("acknowledgements", "acknowledgements.ownClaimsFlagged", "checkov.skipped", "iam.rows"):
        assert sum(s["counts"][key] for s in r["stacks"]) == r["counts"][key]
    assert sum(s["counts"]["iam.roles"] for s in r["stacks"]) == r["counts"]["iam.roles"]


def test_the_html_page_is_self_contained(review):
    # GIVEN report.html
    page = review.text("report.html")
    # WHEN its references to anything outside itself are looked for
    # THEN there are none: no script, no stylesheet or image link, no URL in CSS, only in-page anchors
    assert "<script" not in page.lower()
    assert not re.search(r"<link\b|@import|url\(|\bsrc=", page, re.IGNORECASE)
    assert {href for href in re.findall(r'href="([^"]*)"', page) if not href.startswith("#")} == set()
    assert "<style>" in page
    assert "@media print" in page


def test_every_reason_is_in_the_markdown_and_the_html(review):
    # GIVEN every acknowledgement reason and every skip reason in report.json
    reasons = {a["reason"] for a in review.report["acknowledgements"]}
    reasons |= {s["reason"] for s in review.report["checkov"]["skipped"]}
    reasons |= {i["reason"] for i in review.report["cfnLint"]["ignores"]}
    markdown, page = review.text("report.md"), review.text("report.html")
    # WHEN the rendered reports are searched
    # THEN each reason a reviewer must judge is in both (HTML-escaped in the page, as Jinja2's
    # autoescaping writes it: markupsafe spells quotes &#39; / &#34; where html.escape uses &#x27;)
    assert reasons
    for reason in reasons:
        assert reason.replace("|", "\\|") in markdown, reason
        assert str(markupsafe.escape(reason)) in page, reason


def test_the_junit_file_has_a_case_per_finding_acknowledgement_skip_and_gate(review):
    # GIVEN findings-junit.xml, the file the SecurityFindings report group reads
    root = ET.fromstring((review.out / "findings-junit.xml").read_bytes())
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    r = review.report
    # WHEN its suites are read
    # THEN cdk-nag has a case per finding and per acknowledgement (skipped, with the reason as message)
    nag = suites["cdk-nag"]
    nag_findings = [f for f in r["findings"] if f["pack"] != "DeliveryPath"]
    assert int(nag.get("tests")) == len(nag_findings) + len(r["acknowledgements"])
    assert int(nag.get("skipped")) == len(r["acknowledgements"])
    assert int(nag.get("failures")) == len([f for f in nag_findings if f["severity"] == "error"])
    skipped = [
        case.find("skipped").get("message")
        for case in nag.iter("testcase")
        if case.find("skipped") is not None
    ]
    assert all(
        a["reason"][:200] in message for a, message in zip(r["acknowledgements"], skipped, strict=True)
    )
    # AND checkov and cfn-lint skips are skipped cases; the gates are a pass, a failure and an error
    assert int(suites["checkov"].get("skipped")) == r["counts"]["checkov.skipped"]
    assert int(suites["cfn-lint"].get("skipped")) == r["counts"]["cfnLint.ignores"]
    # AND the delivery path's flags are their own suite: a case each, an error-severity one a failure
    delivery = suites["delivery-path"]
    assert int(delivery.get("tests")) == len(r["delivery"]["flags"]) > 0
    assert int(delivery.get("failures")) == len(
        [f for f in r["delivery"]["flags"] if f["severity"] == "error"]
    )
    gates = suites["gates"]
    assert (gates.get("tests"), gates.get("failures"), gates.get("errors")) == ("4", "1", "1")


def test_a_statement_repeated_on_one_role_is_kept_twice_in_a_diff():
    # GIVEN a report whose role carries the same statement twice, and a baseline with it once
    row = {"key": "Dev/S | Role | Role | Allow | s3:GetObject | * | ", "wildcards": ["resource *"]}
    entity = {"stage": "Dev", "stack": "S", "kind": "role", "principal": "Role"}
    empty = {
        "schema": diff.SCHEMA,
        "findings": [],
        "acknowledgements": [],
        "checkov": {"failed": [], "skipped": []},
        "cfnLint": {"findings": [], "ignores": []},
    }
    current = {**empty, "iam": [{**entity, "rows": [row, row]}]}
    baseline = {**empty, "iam": [{**entity, "rows": [row]}]}
    # WHEN they are compared
    result = diff.compare(baseline, current)
    # THEN the second copy is new, not merged into the first
    assert (len(result["new"]["iamRows"]), result["unchanged"]["iamRows"]) == (1, 1)
