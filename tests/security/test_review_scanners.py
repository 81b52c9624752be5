"""checkov and cfn-lint in the review: results per template, every skip and ignore with its reason."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tools.common import assembly
from tools.pipeline_checks import scan_templates
from tools.pipeline_checks.review import junit, model, scanners

from .conftest import resource, templates

pytestmark = pytest.mark.synth


def _metadata_skips(assembly_dir, tool: str) -> Counter[tuple[str, str, str]]:
    """(logical id, rule, reason) of every skip recorded in the templates' metadata (Dev and Prod repeat)."""
    found: Counter[tuple[str, str, str]] = Counter()
    for template in templates(assembly_dir):
        for logical_id, body in template["Resources"].items():
            metadata = body.get("Metadata", {})
            if tool == "checkov":
                skips = metadata.get("checkov", {}).get("skip", [])
                found.update((logical_id, skip["id"], skip["comment"]) for skip in skips)
            else:
                cfn_lint = metadata.get("cfn-lint", {})
                found.update(
                    (logical_id, rule, cfn_lint["ignore_reasons"][rule])
                    for rule in cfn_lint.get("config", {}).get("ignore_checks", [])
                )
    return found


def test_checkov_ran_on_every_template_and_nothing_failed(review):
    # GIVEN the review of the real app (checkov run as `make checkov` runs it, with JSON output)
    checkov = review.report["checkov"]
    # WHEN its results are read
    # THEN it ran, found nothing, and passed checks on each of the three stacks
    assert checkov["status"] == scanners.RAN
    assert checkov["failed"] == []
    assert all(stack["checkovPassed"] > 0 for stack in review.report["stacks"])
    assert len(review.report["stacks"]) == 3


def test_every_checkov_skip_is_reported_with_the_reason_in_the_template(review):
    # GIVEN every Metadata.checkov.skip in the templates
    expected = _metadata_skips(review.assembly, "checkov")
    # WHEN the report's checkov skips are read
    reported = Counter(
        (s["logicalId"], s["checkId"], s["reason"]) for s in review.report["checkov"]["skipped"]
    )
    # THEN checkov reported each one as skipped, with the recorded reason
    assert reported == expected
    assert expected.total() == review.report["counts"]["checkov.skipped"] > 0


def test_every_cfn_lint_ignore_is_reported_with_its_reason(review):
    # GIVEN every cfn-lint ignore in the templates, with the reason stages/compliance.py records next to it
    expected = _metadata_skips(review.assembly, "cfn-lint")
    # WHEN the report's cfn-lint results are read
    reported = Counter((i["logicalId"], i["rule"], i["reason"]) for i in review.report["cfnLint"]["ignores"])
    # THEN cfn-lint ran clean and each ignore is there with its reason
    assert review.report["cfnLint"]["status"] == scanners.RAN
    assert review.report["cfnLint"]["findings"] == []
    assert reported == expected
    assert expected.total() == review.report["counts"]["cfnLint.ignores"] > 0


@pytest.fixture
def planted(make_assembly):
    """An assembly whose one bucket fails checkov (no encryption, no logging...) and cfn-lint (a bad name)."""
    return make_assembly(
        {
            "Bucket": resource(
                "AWS::S3::Bucket",
                "Bucket/Resource",
                {"BucketName": "Not_A_Valid_Name"},
                checkov={"skip": [{"id": "CKV_AWS_18", "comment": "planted skip with its reason"}]},
            )
        }
    )


def test_a_planted_checkov_failure_and_cfn_lint_finding_fail_the_gate_and_are_reported(
    planted, tmp_path, capsys, monkeypatch
):
    # GIVEN an assembly with a bucket that breaks checkov and cfn-lint rules
    app = assembly.load(planted)
    # WHEN `make scan-templates` runs the real scanners on it
    code = scan_templates.main([str(planted), "--out", str(tmp_path / "scans")])
    # THEN the gate fails, naming each finding with its stack and resource
    out = capsys.readouterr().out
    assert code == 1
    assert "checkov: AppStack: CKV_AWS_21 Bucket: " in out
    assert "cfn-lint: AppStack: E3031 Resources/Bucket/Properties/BucketName: " in out
    # AND the review reads the gate's JSON for this synth (the scanners do not run again)
    monkeypatch.setattr(scanners, "run_checkov", lambda _: pytest.fail("checkov ran twice"))
    monkeypatch.setattr(scanners, "run_cfn_lint", lambda _: pytest.fail("cfn-lint ran twice"))
    checkov, cfn_lint = scanners.saved_or_run(app, tmp_path / "scans")
    report = model.build(app, checkov=checkov, cfn_lint=cfn_lint, gates=None)
    # THEN checkov's failures and cfn-lint's finding are listed on the bucket, and the skip with its reason
    failed = {(c["checkId"], c["resource"]) for c in report["checkov"]["failed"]}
    assert ("CKV_AWS_21", "Bucket") in failed  # versioning
    assert {(s["checkId"], s["reason"]) for s in report["checkov"]["skipped"]} == {
        ("CKV_AWS_18", "planted skip with its reason")
    }
    lint = report["cfnLint"]["findings"]
    assert "E3031" in {m["rule"] for m in lint}  # the bucket name pattern
    assert {(m["logicalId"], m["location"]) for m in lint} == {
        ("Bucket", "Resources/Bucket/Properties/BucketName")
    }
    # AND the counts and the JUnit failures say the same
    assert report["counts"]["checkov.failed"] == len(failed)
    xml = junit.render(report).decode()
    assert xml.count("<failure ") == len(failed) + len(lint)


def test_json_older_than_the_synth_is_not_reused(planted, tmp_path, monkeypatch):
    # GIVEN scanner JSON written before the assembly's manifest (an earlier synth's)
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in (scanners.CHECKOV_JSON, scanners.CFN_LINT_JSON):
        (scans / name).write_text("[]", encoding="utf-8")
        os.utime(scans / name, (1, 1))
    ran = []
    monkeypatch.setattr(scanners, "run_checkov", lambda _: ran.append("checkov") or ("ran", []))
    monkeypatch.setattr(scanners, "run_cfn_lint", lambda _: ran.append("cfn-lint") or ("ran", []))
    # WHEN the review looks for them
    scanners.saved_or_run(assembly.load(planted), scans)
    # THEN both scanners run on this synth instead
    assert sorted(ran) == ["cfn-lint", "checkov"]


def test_the_gate_fails_when_a_scanner_cannot_run(planted, tmp_path, monkeypatch, capsys):
    # GIVEN no checkov installed
    monkeypatch.setattr(scanners, "checkov_binary", lambda: None)
    monkeypatch.setattr(scanners, "run_cfn_lint", lambda _: ("ran", []))
    # WHEN the template gate runs
    code = scan_templates.main([str(planted), "--out", str(tmp_path)])
    # THEN it fails and says checkov did not run (never a pass for a scanner that did not look)
    assert code == 1
    assert "checkov: not run: checkov is not installed" in capsys.readouterr().out


def test_a_scanner_that_cannot_run_is_reported_as_not_run(planted, monkeypatch):
    # GIVEN no checkov installed
    monkeypatch.setattr(scanners, "checkov_binary", lambda: None)
    app = assembly.load(planted)
    # WHEN the review runs
    report = model.build(app, checkov=scanners.run_checkov(app), cfn_lint=("ran", []), gates=None)
    # THEN it says checkov did not run (an error in JUnit), instead of an empty, clean-looking result
    assert report["checkov"]["status"].startswith("not run: checkov is not installed")
    assert '<testcase classname="app" name="checkov ran">' in junit.render(report).decode()
