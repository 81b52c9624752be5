"""The CDK bootstrap roles' ceiling (bootstrap/generated/<set>/bootstrap-roles-boundary.json), decided
by the project's IAM evaluator as bootstrap/cdk/bootstrap-template.json deploys it.

Each bootstrap (docs/bootstrap.md's commands) is evaluated in two layouts: the committed files (a
fresh clone: every bootstrap in one account) and cdk.json naming three accounts (rendered here).
A role's boundary is the one the template gives it for `--custom-permissions-boundary <the set's>`
(tools.dev.bootstrap_template.role_boundary): every probe is first shown allowed to the role as
the CLI's own template deploys it (no boundary), so each probe test fails against that template.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from stages.guardrails import (
    PERMISSIONS_BOUNDARY_NAME,
    bootstrap_roles_boundary_name,
    stage_policy_name,
)
from tests.iam.conftest import set_policies
from tools.dev import bootstrap_policies as bp
from tools.dev import bootstrap_roles_boundary as brb
from tools.dev import bootstrap_template as bt
from tools.review_kit.iam.evaluator import Request, evaluate

REGION = "us-east-1"
ONE_ACCOUNT = "111111111111"
PIPELINE_ACCOUNT, DEV_ACCOUNT, PROD_ACCOUNT, OTHER_ACCOUNT = (
    "333333333333",
    "111111111111",
    "222222222222",
    "444444444444",
)
ROLE_KIND = {
    "DeploymentActionRole": "deploy",
    "FilePublishingRole": "file-publishing",
    "ImagePublishingRole": "image-publishing",
    "LookupRole": "lookup",
}
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# AWS managed policies the CLI's template attaches (not in the template): AWSCloudFormationReadOnlyAccess
# as AWS publishes it, and ReadOnlyAccess as the reads it grants on every service.
CFN_READ_ONLY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "cloudformation:Describe*",
                "cloudformation:EstimateTemplateCost",
                "cloudformation:Get*",
                "cloudformation:List*",
                "cloudformation:ValidateTemplate",
                "cloudformation:Detect*",
            ],
            "Resource": "*",
        }
    ]
}
READ_ONLY = {
    "Statement": [{"Effect": "Allow", "Action": ["*:Describe*", "*:Get*", "*:List*"], "Resource": "*"}]
}


def three_accounts_context() -> Any:
    context = copy.deepcopy(bp.cdk_json_context())
    context["pipeline"].update(account=PIPELINE_ACCOUNT, region=REGION, sharedAccountReason=None)
    context["stages"]["dev"].update(account=DEV_ACCOUNT, region=REGION)
    context["stages"]["prod"].update(account=PROD_ACCOUNT, region=REGION)
    return context


@dataclass(frozen=True)
class Bootstrap:
    """One account's bootstrap of one set: where, and the ceiling document the set gives its roles."""

    set_name: str
    stage: str | None
    qualifier: str
    account: str
    pipeline_account: str
    ceiling: dict[str, Any]

    @property
    def stack(self) -> str:
        return brb.stack_name(self.stage)

    def role(self, role_id: str) -> str:
        kind = ROLE_KIND.get(role_id, "cfn-exec")
        return f"arn:aws:iam::{self.account}:role/cdk-{self.qualifier}-{kind}-role-{self.account}-{REGION}"

    def stack_arn(self, name: str | None = None) -> str:
        return f"arn:aws:cloudformation:{REGION}:{self.account}:stack/{name or self.stack}/0a1b2c3d"


def bootstraps(layout: str) -> list[Bootstrap]:
    three = layout == "three-accounts"
    context = three_accounts_context() if three else bp.cdk_json_context()
    found = []
    for policy_set in bp.policy_sets(context):
        set_name = policy_set.stage or bp.PIPELINE_SET
        path = policy_set.directory / brb.FILE
        text = bp.rendered(policy_set)[path] if three else path.read_text(encoding="utf-8")
        account = (
            {"dev": DEV_ACCOUNT, "prod": PROD_ACCOUNT}.get(set_name, PIPELINE_ACCOUNT)
            if three
            else ONE_ACCOUNT
        )
        pipeline_account = PIPELINE_ACCOUNT if three else ONE_ACCOUNT
        found.append(
            Bootstrap(
                set_name, policy_set.stage, policy_set.qualifier, account, pipeline_account, json.loads(text)
            )
        )
    return found


BOOTSTRAPS = [b for layout in ("committed", "three-accounts") for b in bootstraps(layout)]
IDS = [
    f"{'one' if b.account == b.pipeline_account == ONE_ACCOUNT else 'three'}-{b.set_name}" for b in BOOTSTRAPS
]


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(bt.TEMPLATE_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stock() -> dict[str, Any]:
    return bt.cli_template()


def deployed_boundary(template: Mapping[str, Any], role_id: str, b: Bootstrap) -> dict[str, Any] | None:
    """The boundary document `template` gives the role, bootstrapped as docs/bootstrap.md says."""
    given = stage_policy_name(PERMISSIONS_BOUNDARY_NAME, b.stage)
    arn = bt.role_boundary(template, role_id, bt.Bootstrap(b.account, permissions_boundary=given))
    if arn is None:
        return None
    expected = f"arn:aws:iam::{b.account}:policy/{bootstrap_roles_boundary_name(b.stage)}"
    assert arn == expected, f"{role_id} carries {arn}"
    return b.ceiling


def decide(
    b: Bootstrap,
    role_id: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    *,
    policies: list[dict[str, Any]],
    boundary: dict[str, Any] | None,
    resource_policy: dict[str, Any] | None = None,
) -> Any:
    full = {"aws:PrincipalAccount": b.account, **context}
    request = Request(action, resource, full, principal_arn=b.role(role_id))
    return evaluate(request, policies, boundary=boundary, resource_policy=resource_policy)


def granting(principal: str, action: str, resource: str) -> dict[str, Any]:
    """A resource policy (bucket, key, trust) that grants `principal`: whatever denies, it is not this."""
    return {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": resource}
        ]
    }


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


# -- the roles' own policies, from the CLI's template -------------------------------------------------

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def own_policies(
    template: Mapping[str, Any], role_id: str, b: Bootstrap, *, managed: bool = True
) -> list[dict[str, Any]]:
    """The role's identity policies as the template deploys them in `b`'s account (inline, the
    template's AWS::IAM::Policy on it, and the AWS managed policies it attaches)."""
    names = {
        "AWS::AccountId": b.account,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "CdkBootstrapVersion": f"/cdk-bootstrap/{b.qualifier}/version",
        "StagingBucket.Arn": f"arn:aws:s3:::cdk-{b.qualifier}-assets-{b.account}-{REGION}",
        "CloudFormationExecutionRole.Arn": b.role("CloudFormationExecutionRole"),
        "FileAssetsBucketEncryptionKey.Arn": f"arn:aws:kms:{REGION}:{b.account}:key/{KEY_ID}",
        "ContainerAssetsRepository.Arn": (
            f"arn:aws:ecr:{REGION}:{b.account}:repository/cdk-{b.qualifier}-container-assets-{b.account}-{REGION}"
        ),
    }
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role_id]["Properties"].get("Policies", [])]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    attached = {"DeploymentActionRole": [CFN_READ_ONLY], "LookupRole": [READ_ONLY]}.get(role_id, [])
    return [_resolved(d, names) for d in documents] + (attached if managed else [])


def _resolved(value: Any, names: Mapping[str, str]) -> Any:
    """Fn::Sub and Ref from `names`; Fn::If's first branch (the policies' only one: CreateNewKey)."""
    if isinstance(value, list):
        return [_resolved(v, names) for v in value]
    if isinstance(value, dict):
        if list(value) == ["Fn::Sub"]:
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        if list(value) == ["Ref"]:
            return names[value["Ref"]]
        if list(value) == ["Fn::If"]:
            return _resolved(value["Fn::If"][1], names)
        return {k: _resolved(v, names) for k, v in value.items()}
    return value


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


# -- what the roles are for: allowed within the ceiling ----------------------------------------------

# A concrete call for each action pattern of the CLI's policies, and whether it acts on an object.
CONCRETE = {
    "s3:GetObject*": ("s3:GetObject", True),
    "s3:GetBucket*": ("s3:GetBucketLocation", False),
    "s3:GetEncryptionConfiguration": ("s3:GetEncryptionConfiguration", False),
    "s3:List*": ("s3:ListBucket", False),
    "s3:Abort*": ("s3:AbortMultipartUpload", True),
    "s3:DeleteObject*": ("s3:DeleteObject", True),
    "s3:PutObject*": ("s3:PutObject", True),
    "kms:ReEncrypt*": ("kms:ReEncryptFrom", False),
    "kms:GenerateDataKey*": ("kms:GenerateDataKey", False),
}
# The CLI's statements on `*`, by Sid: what they are used for in this app (the deploy role's).
# `Refactor` (CreateStackRefactor) is left out: this app moves no resources between stacks.
UNUSED = {"Refactor"}
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}


def _on_star(sid: str, action: str, b: Bootstrap) -> list[tuple[str, dict[str, Any], bool]]:
    """(resource, context, another account's) for a statement of the CLI's on `*`."""
    if action == "sts:GetCallerIdentity" or action.startswith("ecr:GetAuthorization"):
        return [("*", {}, False)]
    if sid in ("DeployPermissions", "CliPermissions"):
        return [(b.stack_arn(), {}, False)]
    foreign = b.pipeline_account != b.account
    if sid.startswith("PipelineCrossAccountArtifacts") and b.stage is None:
        return []  # the pipeline's deploy role deploys through the CLI only (SelfMutate, a person)
    if sid == "PipelineCrossAccountArtifactsBucket":
        bucket = "arn:aws:s3:::uploadapipipeline-artifactbucket7410c9ef-1a2b3c"
        return [
            (
                bucket + "/Synth_Output/x" if CONCRETE[action][1] else bucket,
                {"aws:ResourceAccount": b.pipeline_account},
                foreign,
            )
        ]
    if sid == "PipelineCrossAccountArtifactsKey":
        return [(f"arn:aws:kms:{REGION}:{b.pipeline_account}:key/{KEY_ID}", VIA_S3, foreign)]
    raise AssertionError(f"a statement on * this test does not know: {sid} {action}")


def own_calls(
    stock: Mapping[str, Any], role_id: str, b: Bootstrap
) -> list[tuple[str, str, dict[str, Any], bool]]:
    """Each call the role's own statements in the CLI's template are there for, made concrete."""
    calls = []
    for document in own_policies(stock, role_id, b, managed=False):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow" or statement.get("Sid") in UNUSED:
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                concrete, on_object = CONCRETE.get(action, (action, False))
                for resource in resources:
                    if resource == "*":
                        calls += [
                            (concrete, r, c, f) for r, c, f in _on_star(statement.get("Sid", ""), action, b)
                        ]
                        continue
                    if resource.startswith("arn:aws:s3:::") and resource.endswith("/*") != on_object:
                        continue
                    context: dict[str, Any] = {}
                    if resource.startswith("arn:aws:s3:::"):
                        context["aws:ResourceAccount"] = b.account
                        resource = resource.replace("/*", "/assets/x.zip")
                    if action == "iam:PassRole":
                        context["iam:PassedToService"] = "cloudformation.amazonaws.com"
                    if resource.startswith("arn:aws:kms:"):
                        context.update(VIA_S3)  # SSE-KMS of the staging bucket: S3 calls KMS
                    calls.append((concrete, resource, context, False))
    return calls


@pytest.mark.parametrize("b", BOOTSTRAPS, ids=IDS)
@pytest.mark.parametrize("role_id", ["DeploymentActionRole", "FilePublishingRole", "ImagePublishingRole"])
def test_each_call_the_roles_own_policies_are_for_is_allowed_within_the_ceiling(committed, stock, b, role_id):
    # GIVEN the role's own policies from the CLI's template, each statement made a concrete call on
    # this app's resources (a stage's deploy role: the pipeline's artifact bucket and key)
    calls = own_calls(stock, role_id, b)
    assert calls
    boundary = deployed_boundary(committed, role_id, b)
    assert boundary is not None
    denied = []
    for action, resource, context, foreign in calls:
        grant = granting(b.role(role_id), action, resource) if foreign else None
        decision = decide(
            b,
            role_id,
            action,
            resource,
            context,
            policies=own_policies(stock, role_id, b),
            boundary=boundary,
            resource_policy=grant,
        )
        if not decision:
            denied.append(f"{action} {resource}: {decision.reason}")
    # THEN the committed template's ceiling allows every one
    assert not denied


def lookup_calls(b: Bootstrap) -> list[tuple[str, str, dict[str, Any]]]:
    """What the lookup role's users read: `cdk diff` (the permission checks), the change gates'
    change set and its template, and (a stage's) Preflight (tools/pipeline_checks/preflight/facts.py)."""
    stack, change_set = b.stack_arn(), {"cloudformation:ChangeSetName": "PipelineChange"}
    version = f"arn:aws:ssm:{REGION}:{b.account}:parameter/cdk-bootstrap/{b.qualifier}/version"
    calls = [
        ("ssm:GetParameter", version, {}),
        ("cloudformation:DescribeStacks", stack, {}),
        ("cloudformation:GetTemplate", stack, {}),
        ("cloudformation:DescribeChangeSet", stack, change_set),
        ("cloudformation:GetTemplate", stack, change_set),
        ("cloudformation:ListChangeSets", stack, {}),
    ]
    if b.stage is not None:
        function = f"arn:aws:lambda:{REGION}:{b.account}:function:{b.stack}-UploadFunction18838DD8-AbC123"
        calls += [
            ("lambda:GetAccountSettings", "*", {}),
            ("cloudformation:DescribeStackResources", stack, {}),
            ("lambda:GetFunctionConcurrency", function, {}),
            ("apigateway:GET", f"arn:aws:apigateway:{REGION}::/account", {}),
            ("guardduty:ListMalwareProtectionPlans", "*", {}),
        ]
    return calls


@pytest.mark.parametrize("b", BOOTSTRAPS, ids=IDS)
def test_the_lookup_roles_readers_read_within_the_ceiling(committed, stock, b):
    # GIVEN the lookup role (ReadOnlyAccess, as the CLI's template attaches it) within the ceiling
    policies = own_policies(stock, "LookupRole", b)
    boundary = deployed_boundary(committed, "LookupRole", b)
    # WHEN each of its readers' calls is made THEN each is allowed
    denied = [
        f"{action} {resource}: {decision.reason}"
        for action, resource, context in lookup_calls(b)
        if not (
            decision := decide(
                b, "LookupRole", action, resource, context, policies=policies, boundary=boundary
            )
        )
    ]
    assert not denied


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
