"""Every action in every synthesized policy and bootstrap/*.json exists and acts on the resources
the statement names, per the service authorization reference (tools.review_kit.iam.validity)."""

from __future__ import annotations

import pytest

from tests.iam.conftest import ACCOUNT, BOOTSTRAP, REGION, read_policy
from tools.review_kit.iam.__main__ import describe_findings, main
from tools.review_kit.iam.arns import Env
from tools.review_kit.iam.validity import check_policy, check_statement, check_template

pytestmark = pytest.mark.synth


@pytest.mark.parametrize("stack_name", ["UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"])
def test_every_synthesized_statement_is_valid(stacks, stack_name):
    # GIVEN a synthesized stack
    stack = stacks[stack_name]
    # WHEN each statement of each of its policies is checked against the reference
    findings = check_template(stack.template, Env(stack_name, ACCOUNT, REGION))
    # THEN IAM would match every action to the resources named
    assert not findings, describe_findings(findings)


# The base files and each bootstrap's set derived from them (bootstrap/generated/<set>/).
BOOTSTRAP_POLICIES = sorted(p.relative_to(BOOTSTRAP).as_posix() for p in BOOTSTRAP.glob("*.json")) + sorted(
    p.relative_to(BOOTSTRAP).as_posix() for p in BOOTSTRAP.glob("generated/*/*.json")
)


@pytest.mark.parametrize("name", BOOTSTRAP_POLICIES)
def test_every_bootstrap_policy_statement_is_valid(name):
    findings = check_policy(name, read_policy(name))
    assert not findings, describe_findings(findings)


def test_the_codedeploy_role_acts_on_the_function_for_alias_calls(stacks):
    # Issue 9 finding 3: lambda:GetAlias/UpdateAlias act on the function ARN (the alias is the
    # request's Name), GetProvisionedConcurrencyConfig on the alias ARN.
    for name in ("Dev-UploadApi", "Prod-UploadApi"):
        findings = check_template(stacks[name].template, Env(name, ACCOUNT, REGION))
        role_findings = [f for f in findings if "/DeploymentServiceRole" in f.where]
        assert not role_findings, describe_findings(role_findings)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        # issue 9 finding 3 as first synthesized
        (
            {
                "Effect": "Allow",
                "Action": "lambda:GetAlias",
                "Resource": "arn:aws:lambda:us-east-1:1:function:F:live",
            },
            "not a resource of this action",
        ),
        # issue 9 finding 4: the action's prefix must be the resource's
        (
            {
                "Effect": "Allow",
                "Action": "codestar-connections:UseConnection",
                "Resource": "arn:aws:codeconnections:us-east-1:1:connection/abc",
            },
            "not a resource of this action",
        ),
        (
            {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "arn:aws:xray:us-east-1:1:x"},
            "needs '*'",
        ),
        ({"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}, "not an action"),
        ({"Effect": "Allow", "Action": "s3:Geet*", "Resource": "*"}, "no action of the service matches"),
        ({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket"}, "not a resource"),
    ],
)
def test_invalid_statements_are_found(statement, problem):
    findings = list(check_statement("test", statement))
    assert len(findings) == 1
    assert problem in findings[0].problem


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "lambda:GetAlias", "Resource": "arn:aws:lambda:us-east-1:1:function:F"},
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:1:function:F:live",
        },
        {
            "Effect": "Allow",
            "Action": "codeconnections:UseConnection",
            "Resource": "arn:aws:codeconnections:us-east-1:1:connection/abc",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject*", "s3:GetBucket*"],
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        },
        {
            "Effect": "Allow",
            "Action": "logs:CreateLogStream",
            "Resource": "arn:aws:logs:us-east-1:1:log-group:G:*",
        },
        {
            "Effect": "Allow",
            "Action": "apigateway:GET",
            "Resource": "arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod",
        },
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"},
    ],
)
def test_valid_statements_pass(statement):
    assert list(check_statement("test", statement)) == []


def test_the_command_line_checks_the_app_and_the_bootstrap_policies(cdk_out, capsys):
    code = main(["validity", str(cdk_out), *(str(BOOTSTRAP / name) for name in BOOTSTRAP_POLICIES)])
    out = capsys.readouterr().out
    assert code == 0, out
