"""IAM in the review: what each role and resource policy allows, in rows, with wildcards marked."""

from __future__ import annotations

from typing import Any

import pytest

from tools.common import assembly
from tools.common.intrinsics import render
from tools.pipeline_checks.review import iam

from .conftest import resource, templates

NAMES = {"UploadBucketD2C1DA78": "UploadBucket", "FnRole1234": "FnRole"}.get


def _name(logical_id: str) -> str:
    return NAMES(logical_id) or logical_id


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(
            {"Fn::Join": ["", [{"Fn::GetAtt": ["UploadBucketD2C1DA78", "Arn"]}, "/uploads/*"]]},
            "<UploadBucket.Arn>/uploads/*",
            id="join of a GetAtt",
        ),
        pytest.param({"Ref": "AWS::AccountId"}, "${AWS::AccountId}", id="pseudo parameter"),
        pytest.param({"Ref": "FnRole1234"}, "<FnRole>", id="ref by construct name"),
        pytest.param({"Fn::GetAtt": "FnRole1234.Arn"}, "<FnRole.Arn>", id="GetAtt string form"),
        pytest.param(
            {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${B}/*", {"B": {"Ref": "FnRole1234"}}]},
            "arn:${AWS::Partition}:s3:::<FnRole>/*",
            id="Sub with variables",
        ),
        pytest.param({"Fn::ImportValue": "Shared-KeyArn"}, "<import Shared-KeyArn>", id="import"),
        pytest.param({"Fn::Select": [1, ["a", "b"]]}, "b", id="select from a literal list"),
        pytest.param(
            {"Fn::If": ["IsProd", "a", "b"]}, "Fn::If(IsProd, a, b)", id="anything else stays visible"
        ),
    ],
)
def test_template_values_render_as_a_reviewer_reads_them(value: Any, text: str):
    # GIVEN a CloudFormation value WHEN it is rendered THEN it reads as the template means it
    assert render(value, _name) == text


def _entity(review, stage: str, kind: str, principal: str) -> dict[str, Any]:
    (found,) = [
        e for e in review.report["iam"] if (e["stage"], e["kind"], e["principal"]) == (stage, kind, principal)
    ]
    return found


def test_the_upload_functions_role_may_do_exactly_its_grants_with_wildcards_marked(review):
    # GIVEN the Dev upload function's role in the report
    role = _entity(review, "Dev", "role", "UploadFunctionRole")
    # WHEN its rows are read as (actions, resources, wildcard?)
    rows = {(tuple(r["actions"]), tuple(r["resources"]), bool(r["wildcards"])) for r in role["rows"]}
    # THEN they are its grants, readable, and only the tracing '*' and the uploads/ prefix are wildcards
    assert rows == {
        (("xray:PutTelemetryRecords", "xray:PutTraceSegments"), ("*",), True),
        (("s3:PutObject",), ("<UploadBucket.Arn>/uploads/*",), True),
        (("kms:GenerateDataKey",), ("<BucketKey.Arn>",), False),
        (("dynamodb:PutItem",), ("<ProductTable.Arn>",), False),
        (
            ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
            ("<TableKey.Arn>",),
            False,
        ),
        (("logs:CreateLogStream", "logs:PutLogEvents"), ("<UploadFunctionLogs.Arn>",), False),
    }
    # AND it says who may assume it, and conditions are kept
    assert role["trust"] == ["service lambda.amazonaws.com (sts:AssumeRole)"]
    (bucket_key,) = [r for r in role["rows"] if r["resources"] == ["<BucketKey.Arn>"]]
    assert bucket_key["condition"] == "StringEquals kms:ViaService = s3.${AWS::Region}.amazonaws.com"


def test_a_managed_policy_is_listed_and_flagged_as_not_expanded(review):
    # GIVEN every role of the report with a managed policy (the templates attach one: AWS's
    # AWSLambdaBasicExecutionRole, on CDK Pipelines' auto-approve function's role)
    managed = [(entity, row) for entity in review.report["iam"] for row in entity["rows"] if row["managed"]]
    # WHEN those rows are read
    # THEN each managed policy is a row of its own, marked managed, naming the policy
    assert managed
    assert {row["via"].split(":iam::aws:")[-1] for _, row in managed} == {
        "policy/service-role/AWSLambdaBasicExecutionRole"
    }


def test_every_role_and_every_policy_statement_in_the_templates_is_a_row(review):
    # GIVEN every template of the app, counted independently of the report
    roles = statements = 0
    for template in templates(review.assembly):
        for body in template["Resources"].values():
            properties = body.get("Properties", {})
            if body["Type"] == "AWS::IAM::Role":
                roles += 1
                statements += len(properties.get("ManagedPolicyArns", []))
                statements += sum(
                    len(p["PolicyDocument"]["Statement"]) for p in properties.get("Policies", [])
                )
            if body["Type"] == "AWS::IAM::Policy":
                statements += len(properties["PolicyDocument"]["Statement"]) * len(properties["Roles"])
    # WHEN the report's roles and their rows are counted
    reported = [e for e in review.report["iam"] if e["kind"] == "role"]
    # THEN no role and no statement is missing
    assert len(reported) == roles == review.report["counts"]["iam.roles"]
    assert sum(len(e["rows"]) for e in reported) == statements


def test_resource_policies_show_their_principal_and_a_public_deny_is_not_a_wildcard_grant(review):
    # GIVEN the Dev upload bucket's policy
    policy = _entity(review, "Dev", "S3 bucket policy", "UploadBucket")
    # WHEN its rows are read
    deny_others = [r for r in policy["rows"] if r["sid"] == "DenyObjectAccessExceptUploadFunction"]
    # THEN the deny-everyone-but-the-function statement reads as such, marked as a wildcard Deny
    (row,) = deny_others
    assert (row["principal"], row["effect"]) == ("AWS *", "Deny")
    assert row["condition"] == "ArnNotEquals aws:PrincipalArn = <UploadFunctionRole.Arn>"
    assert "principal AWS *" in row["wildcards"]
    # AND the counts tell wildcard Allow rows from all wildcard rows
    counts = review.report["counts"]
    allow = sum(
        1 for e in review.report["iam"] for r in e["rows"] if r["wildcards"] and r["effect"] == "Allow"
    )
    assert counts["iam.wildcardAllowRows"] == allow < counts["iam.wildcardRows"]


def test_the_lambda_permission_shows_who_may_invoke_the_function(review):
    # GIVEN the Prod stage's Lambda permission
    permission = _entity(review, "Prod", "Lambda permission", "LiveAlias")
    # WHEN its row is read
    (row,) = permission["rows"]
    # THEN API Gateway may invoke the live alias, only from this API's POST /upload
    assert (row["principal"], row["actions"], row["resources"]) == (
        "service apigateway.amazonaws.com",
        ["lambda:InvokeFunction"],
        ["<LiveAlias>"],
    )
    assert row["condition"].startswith("aws:SourceArn = arn:${AWS::Partition}:execute-api:")
    assert row["condition"].endswith("/POST/upload")


def test_a_log_group_resource_policy_given_as_text_is_read_as_rows(make_assembly):
    # GIVEN a CloudWatch Logs resource policy whose document is JSON text joined with a log group's ARN
    text = {
        "Fn::Join": [
            "",
            [
                '{"Statement":[{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow",'
                '"Principal":{"Service":"events.amazonaws.com"},"Resource":"',
                {"Fn::GetAtt": ["Log1234", "Arn"]},
                '"}],"Version":"2012-10-17"}',
            ],
        ]
    }
    root = make_assembly(
        {
            "Log1234": resource("AWS::Logs::LogGroup", "Log/Resource"),
            "Policy": resource(
                "AWS::Logs::ResourcePolicy",
                "Log/Policy/Resource",
                {"PolicyDocument": text, "PolicyName": "p"},
            ),
        }
    )
    # WHEN the stack's permissions are read
    (stack,) = assembly.load(root).stacks
    (entity,) = [e for e in iam.permissions(stack) if e["kind"] == "CloudWatch Logs resource policy"]
    # THEN its statement is a row like any resource policy's: who may write which log group
    (row,) = entity["rows"]
    assert (row["principal"], row["effect"], row["actions"], row["resources"]) == (
        "service events.amazonaws.com",
        "Allow",
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        ["<Log.Arn>"],
    )


def test_not_action_and_an_external_role_are_marked(make_assembly):
    # GIVEN a policy with NotAction attached to this stack's role and to a role it only names
    document = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}]}
    root = make_assembly(
        {
            "Role": resource("AWS::IAM::Role", "Role/Resource", {"AssumeRolePolicyDocument": {}}),
            "Policy": resource(
                "AWS::IAM::Policy",
                "Policy/Resource",
                {"PolicyDocument": document, "Roles": [{"Ref": "Role"}, "imported-role"]},
            ),
        }
    )
    # WHEN the stack's permissions are read
    (stack,) = assembly.load(root).stacks
    entities = {e["principal"]: e for e in iam.permissions(stack)}
    # THEN NotAction reads as NOT and counts as a wildcard, on both roles
    assert set(entities) == {"Role", "imported-role"}
    for entity in entities.values():
        (row,) = entity["rows"]
        assert row["actions"] == ["NOT iam:*"]
        assert row["wildcards"] == ["action iam:*", "NotAction (everything but what it names)"]
    assert entities["imported-role"]["trust"] == ["(not in this stack)"]
