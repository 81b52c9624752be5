"""API Gateway's account-level CloudWatch role where dev and prod share an account.

One role per account and region writes every stage's API logs. Where the stages share an account,
the account's bootstrap creates it (bootstrap/shared-account/apigateway-account.json,
docs/bootstrap.md), not a stage's stack (stages/pipeline/settings.py): under a stage's boundary
it could not write the other stage's logs, and a boundary that let it would let every role that
stage's templates create write them too. No execution role may change the setting or the role.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE, STAGE_TAG_KEY
from tests.iam.conftest import ACCOUNT, APIGW_PUSH_TO_LOGS, REGION, set_policies
from tools.common.paths import REPO_ROOT
from tools.review_kit.iam.evaluator import Request, evaluate

ACCOUNT_TEMPLATE = REPO_ROOT / "bootstrap" / "shared-account" / "apigateway-account.json"
QUALIFIERS = {"dev": "uploaddev", "prod": "uploadprod", "pipeline": "hnb659fds"}
LOG_GROUPS = {
    stage: (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:API-Gateway-Execution-Logs_{stage}api01/{stage}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{stage.title()}-UploadApi-ApiAccessLogsA1B2C3D4-RANDOM",
    )
    for stage in ("dev", "prod")
}
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _template() -> dict[str, Any]:
    return dict(json.loads(ACCOUNT_TEMPLATE.read_text(encoding="utf-8")))


def _account_role_arn() -> str:
    name = _template()["Resources"]["CloudWatchRole"]["Properties"]["RoleName"]
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def _tagged(stage: str) -> dict[str, str]:
    return {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE, f"aws:ResourceTag/{STAGE_TAG_KEY}": stage}


def _exec_role(set_name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/cdk-{QUALIFIERS[set_name]}-cfn-exec-role-{ACCOUNT}-{REGION}"


def test_the_account_template_sets_the_role_with_aws_managed_log_writes_only():
    resources = _template()["Resources"]
    assert {r["Type"] for r in resources.values()} == {"AWS::IAM::Role", "AWS::ApiGateway::Account"}
    role = resources["CloudWatchRole"]["Properties"]
    trusted = role["AssumeRolePolicyDocument"]["Statement"]
    assert trusted == [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert [m["Fn::Sub"] for m in role["ManagedPolicyArns"]] == [
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ]
    assert "Policies" not in role
    assert "PermissionsBoundary" not in role
    account = resources["Account"]["Properties"]
    assert account == {"CloudWatchRoleArn": {"Fn::GetAtt": ["CloudWatchRole", "Arn"]}}


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("action", ["logs:CreateLogStream", "logs:PutLogEvents"])
def test_the_accounts_role_writes_both_stages_api_logs(stage, action):
    # GIVEN the role the account's bootstrap creates (no stage's boundary)
    role = _account_role_arn()
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": role, **_tagged(stage)}
    for group in LOG_GROUPS[stage]:
        request = Request(action, f"{group}:log-stream:abc", context, principal_arn=role)
        # THEN it writes each stage's API logs
        assert evaluate(request, [APIGW_PUSH_TO_LOGS]).allowed


@pytest.mark.parametrize(("writer", "owner"), [("dev", "prod"), ("prod", "dev")])
@pytest.mark.parametrize("action", ["logs:CreateLogStream", "logs:PutLogEvents"])
def test_a_role_a_stage_template_creates_cannot_write_the_other_stages_logs(writer, owner, action):
    # GIVEN a role a template of `writer` creates, with `*:*`, under that stage's boundary
    _, boundary = set_policies(writer)
    principal = f"arn:aws:iam::{ACCOUNT}:role/{writer.title()}-UploadApi-Anything-RANDOM"
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal, **_tagged(owner)}
    for group in LOG_GROUPS[owner]:
        request = Request(action, f"{group}:log-stream:abc", context, principal_arn=principal)
        decision = evaluate(request, [STAR], boundary=boundary)
        # THEN appending to the other stage's logs is denied by the stage wall
        assert not decision.allowed, group
        assert "NoOtherStagesResources" in decision.reason


@pytest.mark.parametrize("set_name", ["dev", "prod", "pipeline"])
def test_no_execution_role_changes_the_accounts_api_gateway_setting(set_name):
    # GIVEN a set's execution role within its policies and boundary, in the shared account
    policies, boundary = set_policies(set_name)
    principal = _exec_role(set_name)
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal}
    request = Request(
        "apigateway:PATCH", f"arn:aws:apigateway:{REGION}::/account", context, principal_arn=principal
    )
    # THEN it cannot point the account's logging at another role (a stage's would drop the other's logs)
    assert not evaluate(request, policies, boundary=boundary).allowed


@pytest.mark.parametrize("set_name", ["dev", "prod", "pipeline"])
@pytest.mark.parametrize(
    "action",
    [
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:DeleteRole",
        "iam:DeleteRolePermissionsBoundary",
        "iam:PassRole",
    ],
)
def test_no_execution_role_changes_or_passes_the_accounts_role(set_name, action):
    policies, boundary = set_policies(set_name)
    principal = _exec_role(set_name)
    context = {
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalArn": principal,
        "iam:PassedToService": "apigateway.amazonaws.com",
        "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess",
    }
    request = Request(action, _account_role_arn(), context, principal_arn=principal)
    assert not evaluate(request, policies, boundary=boundary).allowed


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("action", ["logs:CreateLogStream", "logs:PutLogEvents"])
def test_alone_in_its_account_a_stages_own_account_role_writes_its_api_logs(stage, action):
    # GIVEN separate accounts: the stage's stack creates the account's role, under its boundary
    _, boundary = set_policies(stage)
    role = f"arn:aws:iam::{ACCOUNT}:role/{stage.title()}-UploadApi-UploadApiCloudWatchRoleD812835A-RANDOM"
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": role, **_tagged(stage)}
    for group in LOG_GROUPS[stage]:
        request = Request(action, f"{group}:log-stream:abc", context, principal_arn=role)
        # THEN it writes its own stage's API logs (they carry the stage's tag)
        assert evaluate(request, [APIGW_PUSH_TO_LOGS], boundary=boundary).allowed, group


@pytest.mark.parametrize("set_name", ["dev", "prod"])
@pytest.mark.parametrize("action", ["logs:PutResourcePolicy", "logs:DeleteResourcePolicy"])
def test_no_stage_may_replace_the_accounts_logs_resource_policies(set_name, action):
    # GIVEN a stage's execution role within its policies and boundary, and CloudWatch Logs resource
    # policies (account-wide, named: the pipeline's lets EventBridge write the record of approvals)
    policies, boundary = set_policies(set_name)
    principal = _exec_role(set_name)
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal}
    request = Request(action, "*", context, principal_arn=principal)
    # THEN it can neither replace nor delete one (no stage template writes any)
    assert not evaluate(request, policies, boundary=boundary).allowed


def test_the_pipelines_execution_role_keeps_its_logs_resource_policy():
    # GIVEN the pipeline's execution role: its stack writes the approval record's policy
    policies, boundary = set_policies("pipeline")
    principal = _exec_role("pipeline")
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal}
    request = Request("logs:PutResourcePolicy", "*", context, principal_arn=principal)
    assert evaluate(request, policies, boundary=boundary).allowed
