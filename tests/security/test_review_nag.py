"""cdk-nag in the review: every failed finding and every acknowledgement, with what it covers and why.

Once everything is acknowledged, validation-report.json is empty; the acknowledgements are read
from each stack's metadata.json, and each is tied to the CloudFormation resources under its
construct (what its reason must justify).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from main import PIPELINE_STACK_ID, build_app
from tests.infra.conftest import app_context
from tools.common import assembly
from tools.pipeline_checks import nag_gate
from tools.pipeline_checks.review import junit, model, nag

from .conftest import resource

pytestmark = pytest.mark.synth

NOT_RUN = ("not run: not part of this test", None)


def _ack(review, stage: str, construct: str, finding_id: str) -> dict:
    (found,) = [
        a
        for a in review.report["acknowledgements"]
        if (a["stage"], a["construct"], a["findingId"]) == (stage, construct, finding_id)
    ]
    return found


def test_every_acknowledgement_in_the_assembly_is_in_the_report_with_its_reason(review):
    # GIVEN the acknowledgements the CLI nag gate reads from every stack's metadata.json
    expected = {
        (entry["path"].lstrip("/"), key.removeprefix("Annotation::"), reason)
        for entry in nag_gate.acknowledgements(review.assembly)
        for key, reason in entry.items()
        if key not in ("stackFile", "path")
    }
    # WHEN the report's acknowledgements are read
    reported = {(a["constructPath"], a["findingId"], a["reason"]) for a in review.report["acknowledgements"]}
    # THEN they are the same, one for one, with the exact finding id and the same reason
    assert reported == expected
    assert len(review.report["acknowledgements"]) == len(expected) > 0


def test_acknowledgements_are_grouped_by_stage_and_stack(review):
    # GIVEN the report of the app (the pipeline stack, the Dev and Prod stages)
    # WHEN the acknowledgements are counted per stage and stack
    per_stack = {(a["stage"], a["stack"]) for a in review.report["acknowledgements"]}
    # THEN each sits in its stage's stack; the upload stacks come first (in the pipeline's order),
    # the pipeline after: what is deployed before what deploys it
    assert per_stack == {
        ("Pipeline", PIPELINE_STACK_ID),
        ("Dev", "Dev-UploadApi"),
        ("Prod", "Prod-UploadApi"),
    }
    assert review.report["stages"] == ["Dev", "Prod", "Pipeline"]
    assert [s["stage"] for s in review.report["stacks"]] == ["Dev", "Prod", "Pipeline"]


def test_an_acknowledgement_covers_the_resources_under_its_construct(review):
    # GIVEN the acknowledgement of the upload function's wildcard PutObject, on its policy
    ack = _ack(
        review,
        "Dev",
        "UploadFunctionPolicy",
        "AwsSolutions-IAM5[Resource::<UploadBucketD2C1DA78.Arn>/uploads/*]",
    )
    # WHEN what it covers is read
    # THEN it is that one IAM policy resource
    assert [(c["path"], c["type"]) for c in ack["covers"]] == [("UploadFunctionPolicy", "AWS::IAM::Policy")]
    assert "PutObject is the only action" in ack["reason"]


def test_covering_is_by_construct_path_not_by_name_prefix(review):
    # GIVEN the acknowledgement on UploadFunction, whose name prefixes UploadFunctionPolicy and -Role
    ack = _ack(review, "Prod", "UploadFunction", "Serverless-LambdaDLQ")
    # WHEN what it covers is read
    covered = {(c["path"], c["type"]) for c in ack["covers"]}
    # THEN it is the function and its version, nothing of the sibling constructs
    assert covered == {
        ("UploadFunction", "AWS::Lambda::Function"),
        ("UploadFunction/CurrentVersion", "AWS::Lambda::Version"),
    }


def test_the_committed_placeholder_is_a_warning_and_nothing_failed(review):
    # GIVEN the app as cdk.json configures it (a placeholder connection ARN, the placeholder reason for
    # one shared account, no allowedCallers, no approvers)
    findings = [f for f in review.report["findings"] if f["pack"] != "DeliveryPath"]
    # WHEN the report's cdk-nag findings are read (the delivery path's flags: test_review_delivery.py)
    # THEN nothing failed (the delivery path's flags included), and the warnings are those
    # placeholders': three on the pipeline stack, the
    # verifier-only callers on each upload stack, dev's unreserved concurrency
    assert review.report["counts"]["findings.failed"] == 0
    assert sorted((f["severity"], f["rule"], f["stage"]) for f in findings) == sorted(
        [
            ("warning", "Annotation::upload-api:no-reserved-concurrency", "Dev"),
            ("warning", "Annotation::upload-api:no-approvers", "Pipeline"),
            ("warning", "Annotation::upload-api:placeholder-connection", "Pipeline"),
            ("warning", "Annotation::upload-api:shared-account", "Pipeline"),
            ("warning", "Annotation::upload-api:verifier-only-callers", "Dev"),
            ("warning", "Annotation::upload-api:verifier-only-callers", "Prod"),
        ]
    )


@pytest.fixture(scope="module")
def failing_app(tmp_path_factory) -> Path:
    """The real app with an unencrypted, non-TLS, unlogged bucket in the pipeline stack: synth fails."""
    outdir = tmp_path_factory.mktemp("failing.cdk.out")
    app = cdk.App(context=app_context(), outdir=str(outdir))
    build_app(app)
    s3.Bucket(app.node.find_child(PIPELINE_STACK_ID), "NonCompliantBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    return outdir


def test_a_failed_finding_is_reported_with_pack_rule_severity_resource_and_description(failing_app):
    # GIVEN the assembly of a synth that cdk-nag failed
    # WHEN the review is built from it
    report = model.build(assembly.load(failing_app), checkov=NOT_RUN, cfn_lint=NOT_RUN, gates=None)
    # THEN each failed rule is there with its pack, severity, construct path, resource and description
    failed = {(f["pack"], f["rule"]): f for f in report["findings"] if f["severity"] == "error"}
    assert {("AwsSolutions", "AwsSolutions-S1"), ("AwsSolutions", "AwsSolutions-S10")} <= set(failed)
    s1 = failed[("AwsSolutions", "AwsSolutions-S1")]
    assert s1["constructPath"] == f"{PIPELINE_STACK_ID}/NonCompliantBucket/Resource"
    assert (s1["stage"], s1["construct"], s1["resourceType"]) == (
        "Pipeline",
        "NonCompliantBucket",
        "AWS::S3::Bucket",
    )
    assert s1["logicalId"].startswith("NonCompliantBucket")
    assert "server access logs" in s1["description"]
    # AND only the planted bucket failed, and the counts say so
    assert {f["construct"] for f in failed.values()} == {"NonCompliantBucket"}
    assert report["counts"]["findings.failed"] == len(failed)


def test_failed_findings_are_junit_failures_and_acknowledgements_are_skipped_with_their_reason(failing_app):
    # GIVEN the review of the failing synth
    report = model.build(assembly.load(failing_app), checkov=NOT_RUN, cfn_lint=NOT_RUN, gates=None)
    # WHEN it is rendered as JUnit for the SecurityFindings report group
    xml = junit.render(report).decode()
    # THEN the failed rule is a failure and an acknowledged one is skipped with its reason
    assert (
        '<testcase classname="Pipeline.UploadApiPipeline" name="AwsSolutions-S1 @ NonCompliantBucket">' in xml
    )
    ack = report["acknowledgements"][0]
    assert f'name="{ack["findingId"]} @ {ack["construct"]}"' in xml.replace("&lt;", "<").replace("&gt;", ">")
    assert '<skipped message="acknowledged on' in xml


def test_a_report_without_a_validation_report_says_cdk_nag_did_not_run(make_assembly):
    # GIVEN an assembly whose validation-report.json is missing
    root = make_assembly({"Bucket": resource("AWS::S3::Bucket", "Bucket/Resource")})
    (root / "validation-report.json").unlink()
    # WHEN the review is built
    report = model.build(assembly.load(root), checkov=NOT_RUN, cfn_lint=NOT_RUN, gates=None)
    # THEN it says cdk-nag did not run, and the JUnit file has an error for it (not an empty, green suite)
    assert report["validationReport"].startswith("missing")
    assert '<error message="missing: cdk-nag did not run"' in junit.render(report).decode()


@pytest.mark.parametrize(
    ("key", "finding_id"),
    [
        ("Annotation::AwsSolutions-IAM5[Resource::*]", "AwsSolutions-IAM5[Resource::*]"),
        ("AwsSolutions::AwsSolutions-S1", "AwsSolutions-S1"),
        ("AwsSolutions-IAM5[Resource::arn:aws:s3:::b/*]", "AwsSolutions-IAM5[Resource::arn:aws:s3:::b/*]"),
    ],
)
def test_the_finding_id_is_the_acknowledged_key_without_its_source(key, finding_id):
    # GIVEN a key as CDK stores an acknowledgement (with or without a `<source>::` prefix)
    # WHEN the finding id is taken from it
    # THEN a `::` inside the brackets stays: it is part of the id
    assert nag.finding_id_of(key) == finding_id
