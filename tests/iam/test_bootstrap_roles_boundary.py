"""The CDK bootstrap roles' ceiling (bootstrap/generated/<set>/bootstrap-roles-boundary.json), decided
by the project's IAM evaluator as bootstrap/cdk/bootstrap-template.json deploys it.

Each bootstrap (docs/bootstrap.md's commands) is evaluated in two layouts: the committed files (a
fresh clone: every bootstrap in one account) and cdk.json naming three accounts (rendered here).
A role's boundary is the one the template gives it for `--custom-permissions-boundary <the set's>`
(tools.dev.bootstrap_template.role_boundary): every probe is first shown allowed to the role as
the CLI's own template deploys it (no boundary), so each probe test fails against that template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from stages.guardrails import (
    bootstrap_roles_boundary_name,
)
from tests.iam.bootstrap_roles import (
    BOOTSTRAPS,
    IDS,
    OTHER_ACCOUNT,
    REGION,
    ROLE_KIND,
    STAR,
    Bootstrap,
    bootstraps,
    decide,
    deployed_boundary,
    granting,
    own_policies,
)
from tests.iam.conftest import set_policies
from tools.review_kit.iam.evaluator import Request, evaluate

# -- the dangerous calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    name: str
    action: str
    resource: str  # {account} {other} {region} {qualifier} {stack} {boundary} filled per bootstrap
    context: Mapping[str, Any]
    # The role whose own template policies already grant it (None: only a wider identity policy would).
    granted_to: str | None = None
    foreign: bool = False  # in another account: a resource policy grants the role

    def arn(self, b: Bootstrap) -> str:
        return self.resource.format(
            account=b.account,
            other=OTHER_ACCOUNT,
            region=REGION,
            qualifier=b.qualifier,
            stack=b.stack,
            boundary=bootstrap_roles_boundary_name(b.stage),
            other_stage_stack="Dev-UploadApi" if b.stage == "prod" else "Prod-UploadApi",
        )


CDK_TAGS = {"aws:TagKeys": ["aws-cdk:bootstrap-role"], "aws:RequestTag/aws-cdk:bootstrap-role": "deploy"}
PROBES = [
    Probe("assume-a-role", "sts:AssumeRole", "arn:aws:iam::{account}:role/Administrator", {}),
    Probe(
        "assume-the-exec-role",
        "sts:AssumeRole",
        "arn:aws:iam::{account}:role/cdk-{qualifier}-cfn-exec-role-{account}-{region}",
        {},
    ),
    Probe("create-a-role", "iam:CreateRole", "arn:aws:iam::{account}:role/Escalate", {}),
    Probe(
        "put-a-policy-on-the-exec-role",
        "iam:PutRolePolicy",
        "arn:aws:iam::{account}:role/cdk-{qualifier}-cfn-exec-role-{account}-{region}",
        {},
    ),
    Probe(
        "attach-admin-to-the-deploy-role",
        "iam:AttachRolePolicy",
        "arn:aws:iam::{account}:role/cdk-{qualifier}-deploy-role-{account}-{region}",
        {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
    ),
    Probe("edit-this-ceiling", "iam:CreatePolicyVersion", "arn:aws:iam::{account}:policy/{boundary}", {}),
    Probe(
        "remove-the-deploy-roles-boundary",
        "iam:DeleteRolePermissionsBoundary",
        "arn:aws:iam::{account}:role/cdk-{qualifier}-deploy-role-{account}-{region}",
        {},
    ),
    Probe(
        "pass-the-exec-role-to-lambda",
        "iam:PassRole",
        "arn:aws:iam::{account}:role/cdk-{qualifier}-cfn-exec-role-{account}-{region}",
        {"iam:PassedToService": "lambda.amazonaws.com"},
    ),
    Probe(
        "pass-another-role-to-cloudformation",
        "iam:PassRole",
        "arn:aws:iam::{account}:role/Administrator",
        {"iam:PassedToService": "cloudformation.amazonaws.com"},
    ),
    Probe(
        "update-another-stack",
        "cloudformation:CreateChangeSet",
        "arn:aws:cloudformation:{region}:{account}:stack/payroll/0a1b",
        {},
        "DeploymentActionRole",
    ),
    Probe(
        "change-the-other-stages-stack",
        "cloudformation:ExecuteChangeSet",
        "arn:aws:cloudformation:{region}:{account}:stack/{other_stage_stack}/0a1b",
        {},
        "DeploymentActionRole",
    ),
    Probe(
        "delete-the-bootstrap-stack",
        "cloudformation:DeleteStack",
        "arn:aws:cloudformation:{region}:{account}:stack/CDKToolkit/0a1b",
        {},
        "DeploymentActionRole",
    ),
    Probe(
        "read-another-stacks-template",
        "cloudformation:GetTemplate",
        "arn:aws:cloudformation:{region}:{account}:stack/payroll/0a1b",
        {},
        "LookupRole",
    ),
    Probe(
        "tag-the-stack-with-an-aws-cdk-key",
        "cloudformation:CreateChangeSet",
        "arn:aws:cloudformation:{region}:{account}:stack/{stack}/0a1b",
        CDK_TAGS,
        "DeploymentActionRole",
    ),
    Probe(
        "write-another-bucket",
        "s3:PutObject",
        "arn:aws:s3:::payroll-data/x",
        {"aws:ResourceAccount": "{account}"},
    ),
    Probe(
        "read-another-accounts-bucket",
        "s3:GetObject",
        "arn:aws:s3:::payroll-exports/x",
        {"aws:ResourceAccount": OTHER_ACCOUNT},
        "DeploymentActionRole",
        foreign=True,
    ),
    Probe(
        "read-an-artifact-bucket-of-another-account",
        "s3:GetObject",
        "arn:aws:s3:::uploadapipipeline-artifactbucket7410c9ef-x/y",
        {"aws:ResourceAccount": OTHER_ACCOUNT},
        "DeploymentActionRole",
        foreign=True,
    ),
    Probe(
        "read-another-teams-object",
        "s3:GetObject",
        "arn:aws:s3:::payroll-data/salaries.csv",
        {"aws:ResourceAccount": "{account}"},
        "LookupRole",
    ),
    Probe(
        "download-another-functions-code",
        "lambda:GetFunction",
        "arn:aws:lambda:{region}:{account}:function:payroll",
        {},
        "LookupRole",
    ),
    Probe(
        "read-another-teams-parameter",
        "ssm:GetParameter",
        "arn:aws:ssm:{region}:{account}:parameter/payroll/db-password",
        {},
        "LookupRole",
    ),
    Probe(
        "decrypt-with-a-key-directly",
        "kms:Decrypt",
        "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        {},
    ),
]


def filled(context: Mapping[str, Any], b: Bootstrap) -> dict[str, Any]:
    return {k: v.format(account=b.account) if isinstance(v, str) else v for k, v in context.items()}


def test_every_probe_is_named_once():
    assert len({p.name for p in PROBES}) == len(PROBES) == 21


@pytest.mark.parametrize("b", BOOTSTRAPS, ids=IDS)
@pytest.mark.parametrize("role_id", sorted(ROLE_KIND))
@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_a_bootstrap_role_allowed_everything_is_denied_the_probe(committed, stock, b, role_id, probe):
    # GIVEN the bootstrap role with an identity policy allowing everything (what a wider policy, or a
    # later CLI's, could grant), and a resource policy granting it where the resource is another account's
    arn = probe.arn(b)
    context = filled(probe.context, b)
    trust_or_bucket = granting(b.role(role_id), probe.action, arn) if probe.foreign else None
    if probe.action == "sts:AssumeRole":
        trust_or_bucket = granting(f"arn:aws:iam::{b.account}:root", probe.action, "*")
    # WHEN the role makes the call as the CLI's template deploys it: allowed (no boundary)
    unbounded = deployed_boundary(stock, role_id, b)
    assert unbounded is None
    allowed = decide(
        b,
        role_id,
        probe.action,
        arn,
        context,
        policies=[STAR],
        boundary=None,
        resource_policy=trust_or_bucket,
    )
    assert allowed, f"{probe.name}: {allowed.reason}"
    # THEN as the committed template deploys it (with the ceiling) it is denied
    decision = decide(
        b,
        role_id,
        probe.action,
        arn,
        context,
        policies=[STAR],
        boundary=deployed_boundary(committed, role_id, b),
        resource_policy=trust_or_bucket,
    )
    assert not decision, f"{probe.name}: {decision.reason}"


@pytest.mark.parametrize("b", BOOTSTRAPS, ids=IDS)
@pytest.mark.parametrize(
    "probe", [p for p in PROBES if p.granted_to], ids=[p.name for p in PROBES if p.granted_to]
)
def test_what_the_roles_own_policies_grant_beyond_the_app_is_denied(committed, stock, b, probe):
    # GIVEN the role the probe's call is granted to by the CLI's own policies for it
    role_id = str(probe.granted_to)
    arn, context = probe.arn(b), filled(probe.context, b)
    policies = own_policies(stock, role_id, b)
    bucket = granting(b.role(role_id), probe.action, arn) if probe.foreign else None
    # WHEN it makes the call: allowed as the CLI's template deploys it
    allowed = decide(
        b,
        role_id,
        probe.action,
        arn,
        context,
        policies=policies,
        boundary=deployed_boundary(stock, role_id, b),
        resource_policy=bucket,
    )
    assert allowed, f"{probe.name}: {allowed.reason}"
    # THEN denied as the committed one does
    decision = decide(
        b,
        role_id,
        probe.action,
        arn,
        context,
        policies=policies,
        boundary=deployed_boundary(committed, role_id, b),
        resource_policy=bucket,
    )
    assert not decision, f"{probe.name}: {decision.reason}"


# -- no role under the app's boundary may change the ceiling -----------------------------------------

CHANGES = [
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:DeletePolicy",
    "iam:CreatePolicy",
    "iam:TagPolicy",
]


@pytest.mark.parametrize("set_name", ["pipeline", "dev", "prod"])
@pytest.mark.parametrize("action", CHANGES)
def test_no_role_under_the_apps_boundary_changes_the_ceiling(set_name, action):
    # GIVEN the set's execution role (its execution policies) and any role a template of the set can
    # create (an inline *:*), each within the set's permissions boundary
    (b,) = [b for b in bootstraps("committed") if b.set_name == set_name]
    execution, app_boundary = set_policies(set_name)
    stage_role = f"arn:aws:iam::{b.account}:role/{b.stack}-Escalate"
    ceiling = f"arn:aws:iam::{b.account}:policy/{bootstrap_roles_boundary_name(b.stage)}"
    exec_role = b.role("CloudFormationExecutionRole")
    cases = [
        (exec_role, execution, None),
        (exec_role, execution, app_boundary),
        (stage_role, [STAR], app_boundary),
    ]
    for principal, policies, boundary in cases:
        request = Request(action, ceiling, {"aws:PrincipalAccount": b.account}, principal_arn=principal)
        # WHEN it changes the ceiling THEN an explicit deny refuses it: the execution policy's own
        # `NeverEditTheGuardrails` names it, the boundary's covers every `UploadApi*` policy
        decision = evaluate(request, policies, boundary=boundary)
        if action in ("iam:CreatePolicy",) and boundary is None:
            assert not decision  # the execution policy allows no policy creation
            continue
        assert not decision
        assert decision.reason.startswith("explicit deny"), decision.reason
