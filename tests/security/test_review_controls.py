"""The review's data-protection controls: what the template holds, with the weaker choice marked."""

from __future__ import annotations

import pytest

from tools.common import assembly
from tools.pipeline_checks.review import controls

from .conftest import resource

ROOT_ALL = {
    "Effect": "Allow",
    "Principal": {
        "AWS": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"],
            ]
        }
    },
    "Action": "kms:*",
    "Resource": "*",
}


def _controls(make_assembly, resources):
    (stack,) = assembly.load(make_assembly(resources)).stacks
    return {(c["control"], c["subject"]): (c["value"], c["ok"]) for c in controls.controls(stack)}


def test_an_api_without_a_security_policy_is_marked_weaker(make_assembly):
    found = _controls(make_assembly, {"Api": resource("AWS::ApiGateway::RestApi", "Api", {"Name": "a"})})
    assert found[("TLS security policy", "Api")] == ("none (regional default: TLS_1_0)", False)


def test_tls_1_3_in_strict_mode_is_ok(make_assembly):
    props = {"SecurityPolicy": "SecurityPolicy_TLS13_1_3_2025_09", "EndpointAccessMode": "STRICT"}
    found = _controls(make_assembly, {"Api": resource("AWS::ApiGateway::RestApi", "Api", props)})
    assert found[("TLS security policy", "Api")] == ("SecurityPolicy_TLS13_1_3_2025_09", True)
    assert found[("endpoint access mode", "Api")] == ("STRICT", True)


@pytest.mark.parametrize(("reserved", "expected"), [(None, ("none", False)), (500, ("500", True))])
def test_reserved_concurrency_is_shown_per_function(make_assembly, reserved, expected):
    props = {} if reserved is None else {"ReservedConcurrentExecutions": reserved}
    found = _controls(make_assembly, {"Fn": resource("AWS::Lambda::Function", "Fn", props)})
    assert found[("reserved concurrency", "Fn")] == expected


def test_a_key_giving_the_account_root_everything_is_marked_weaker(make_assembly):
    split = {
        **ROOT_ALL,
        "Action": ["kms:DescribeKey"],
        "Condition": {"ArnEquals": {"aws:PrincipalArn": ["x"]}},
    }
    found = _controls(
        make_assembly,
        {
            "Open": resource("AWS::KMS::Key", "Open", {"KeyPolicy": {"Statement": [ROOT_ALL]}}),
            "Split": resource("AWS::KMS::Key", "Split", {"KeyPolicy": {"Statement": [split]}}),
        },
    )
    assert found[("key policy without account-root kms:*", "Open")][1] is False
    assert found[("key policy without account-root kms:*", "Split")][1] is True
    # AND with a split key but no CloudTrail rule, the missing reporting is marked too
    assert found[("CloudTrail rules reporting key and bucket changes", "App-Stack")][1] is False


def test_the_real_upload_stacks_hold_every_control(review):
    # GIVEN the review of the whole app as cdk.json configures it
    upload = [c for c in review.report["controls"] if c["stack"].endswith("-UploadApi")]
    # THEN each upload stack shows all of them
    for stack in ("Dev-UploadApi", "Prod-UploadApi"):
        names = {c["control"] for c in upload if c["stack"] == stack}
        assert names == {
            "TLS security policy",
            "endpoint access mode",
            "access log records TLS version and cipher",
            "reserved concurrency",
            "key policy without account-root kms:*",
            "bucket policy",
            "CloudTrail rules reporting key and bucket changes",
        }
    # AND none is weaker but dev's reserved concurrency: dev reserves none on purpose, so that its first
    # deploy succeeds on a new account (docs/capacity.md), for the upload function and the direct-upload
    # finalizer; the report marks both, as it should
    weaker = [(c["stack"], c["control"]) for c in upload if not c["ok"]]
    assert weaker == [("Dev-UploadApi", "reserved concurrency")] * 2
    # AND the Markdown and HTML reports show them
    assert "#### Data-protection controls" in review.text("report.md")
    assert "Data-protection controls" in review.text("report.html")
