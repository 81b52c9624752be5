"""The whole app synthesized once per session (tests/conftest.py's pipeline_app: cdk.json's context,
bundling skipped), read back as the cloud assembly `cdk synth` writes, and the bootstrap policies."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import SynthesizedApp
from tests.repo import REPO_ROOT
from tools.common import assembly
from tools.review_kit.iam import coverage
from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.validity import resolve_document

BOOTSTRAP = REPO_ROOT / "bootstrap"
ACCOUNT = "111111111111"
REGION = "us-east-1"


def read_policy(name: str) -> dict[str, Any]:
    return json.loads((BOOTSTRAP / name).read_text(encoding="utf-8"))


@dataclass
class TemplateRole:
    """A role of a synthesized template, resolved: its ARN, policies (inline and attached
    AWS::IAM::Policy), trust policy, and whether it carries a permissions boundary."""

    arn: str
    policies: list[dict[str, Any]]
    trust: dict[str, Any]
    bounded: bool


def template_roles(raw: dict[str, Any], env: Env) -> dict[str, TemplateRole]:
    """Every AWS::IAM::Role of `raw` by logical id, with its policies and trust resolved."""
    model = Template(raw, env)
    roles: dict[str, TemplateRole] = {}
    for logical_id, resource in raw["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            props = resource["Properties"]
            roles[logical_id] = TemplateRole(
                arn=model.get_att(logical_id, "Arn"),
                policies=[resolve_document(model, p["PolicyDocument"]) for p in props.get("Policies", [])],
                trust=resolve_document(model, props["AssumeRolePolicyDocument"]),
                bounded="PermissionsBoundary" in props,
            )
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            document = resolve_document(model, resource["Properties"]["PolicyDocument"])
            for role in resource["Properties"]["Roles"]:
                roles[role["Ref"]].policies.append(document)
    return roles


@pytest.fixture(scope="session")
def cdk_out(pipeline_app: SynthesizedApp) -> Path:
    """The assembly of the session's one synth of the app (tests/conftest.py)."""
    return pipeline_app.outdir


@pytest.fixture(scope="session")
def app(cdk_out: Path) -> assembly.Assembly:
    return assembly.load(cdk_out)


@pytest.fixture(scope="session")
def stacks(app: assembly.Assembly) -> dict[str, assembly.Stack]:
    """stack name -> stack: UploadApiPipeline, Dev-UploadApi, Prod-UploadApi."""
    return {stack.stack_name: stack for stack in app.stacks}


EXECUTION_POLICY_FILES = (
    "cfn-execution-policy.json",
    "cfn-execution-resources-policy.json",
    "cfn-execution-scanning-policy.json",
)


@pytest.fixture
def execution_policy() -> list[dict[str, Any]]:
    """The execution role's policies (`--cloudformation-execution-policies`, docs/bootstrap.md)."""
    return [read_policy(name) for name in EXECUTION_POLICY_FILES]


@pytest.fixture
def boundary() -> dict[str, Any]:
    """The permissions boundary: on every role the app creates, and on the execution role
    (`cdk bootstrap --custom-permissions-boundary`, docs/bootstrap.md)."""
    return read_policy("permissions-boundary.json")


GENERATED = BOOTSTRAP / "generated"
# Each stack deploys through its own bootstrap's execution role (docs/bootstrap.md): the policy set
# tools/dev/bootstrap_policies.py derives for it from the base files.
STACK_POLICY_SETS = {"UploadApiPipeline": "pipeline", "Dev-UploadApi": "dev", "Prod-UploadApi": "prod"}


def set_policies(set_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(execution policies, boundary) of one bootstrap: `pipeline`, `dev` or `prod`."""
    directory = GENERATED / set_name
    policies = [json.loads((directory / name).read_text(encoding="utf-8")) for name in EXECUTION_POLICY_FILES]
    boundary = json.loads((directory / "permissions-boundary.json").read_text(encoding="utf-8"))
    return policies, boundary


@pytest.fixture(scope="session")
def kms_handler_actions() -> list[str]:
    """Every key-level permission CloudFormation's AWS::KMS::Key handlers list (cfn-lint's schema).

    kms:CreateKey and kms:ListKeys are account-level: IAM policies, not key policies, decide them.
    """
    handlers = coverage.handler_actions("AWS::KMS::Key", tagged=True)
    assert handlers
    actions = {action for permissions in handlers.values() for action in permissions}
    return sorted(actions - {"kms:CreateKey", "kms:ListKeys"})


# AWS managed policy the API Gateway CloudWatch role attaches (the one allow-listed), as AWS
# publishes it (AWS Managed Policy Reference: AmazonAPIGatewayPushToCloudWatchLogs).
APIGW_PUSH_TO_LOGS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ],
            "Resource": "*",
        }
    ],
}


# The committed bootstrap template and the locked CLI's own, for the bootstrap roles' tests (a copy
# per module: a test may edit its copy).
@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    from tests.iam.bootstrap_roles import committed_template

    return copy.deepcopy(committed_template())


@pytest.fixture(scope="module")
def stock() -> dict[str, Any]:
    from tests.iam.bootstrap_roles import stock_template

    return copy.deepcopy(stock_template())
