"""Issue 16 finding 3, proven offline: the permissions boundary is a ceiling.

A template may create a role with the boundary (cdk.json attaches it to every role) and give it an
inline `*:*` policy. Each probe below is a call such a role could use to step outside the app:
reach a CDK bootstrap role, run code as another role, approve the promotion, change the execution
role, tag its way into a bootstrap role's trust, or touch another team's resources. Every decision
is tools.review_kit.iam.evaluator's over bootstrap/permissions-boundary.json.

The probes run as a stage role (what Dev-UploadApi or Prod-UploadApi may create). A role named
UploadApiPipeline-* is the pipeline stack's: the boundary leaves it what CDK Pipelines' roles need
(assume the bootstrap deploy, file-publishing, image-publishing and lookup roles; start the app's
builds; approve the permission-check confirmations). What a pipeline template may do is held by the
bootstrap roles' trust and the pipeline's own change gate, not by this boundary; the last test pins
exactly which probes that leaves open, so a change to it is seen.
"""

from __future__ import annotations

import pytest

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE, PERMISSIONS_BOUNDARY_NAME
from tests.iam.conftest import ACCOUNT, read_policy, set_policies
from tools.review_kit.iam.evaluator import Request, evaluate

REGION = "us-east-1"
PROD_ACCOUNT = "222222222222"
BOUNDARY = read_policy("permissions-boundary.json")
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
STAGE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Escalate"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-Escalate"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role-{ACCOUNT}-{REGION}"
SELF_MUTATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-PipelineUpdatePipelineSelfMutatio-X"
SELF_MUTATION = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/PipelineUpdatePipelineSelfMutationDAA41400-X"
PIPELINE = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:UploadApiPipeline-Pipeline9850B417-X"
AUTO_APPROVE = (
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:UploadApiPipeline-PipelinePipelinesSecurityCheckCDK-X"
)
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{PERMISSIONS_BOUNDARY_NAME}"
OURS = {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE}
THEIRS = {f"aws:ResourceTag/{APP_TAG_KEY}": "payroll"}
CDK_TAG = {"aws:TagKeys": ["aws-cdk:bootstrap-role"], "aws:RequestTag/aws-cdk:bootstrap-role": "deploy"}
PLAN = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:malware-protection-plan/payroll-plan"

# (name, action, resource, context): the app's own resources carry the app's tag (the worst case).
PROBES = [
    ("assume-lookup-role", "sts:AssumeRole", DEPLOY_ROLE.replace("deploy", "lookup"), {}),
    ("assume-deploy-role", "sts:AssumeRole", DEPLOY_ROLE, {}),
    ("assume-file-publishing-role", "sts:AssumeRole", DEPLOY_ROLE.replace("deploy", "file-publishing"), {}),
    ("assume-prod-deploy-role", "sts:AssumeRole", DEPLOY_ROLE.replace(ACCOUNT, PROD_ACCOUNT), {}),
    ("assume-cfn-exec-role", "sts:AssumeRole", EXEC_ROLE, {}),
    (
        "pass-cfn-exec-role-to-codebuild",
        "iam:PassRole",
        EXEC_ROLE,
        {"iam:PassedToService": "codebuild.amazonaws.com"},
    ),
    (
        "pass-self-mutation-role-to-codebuild",
        "iam:PassRole",
        SELF_MUTATION_ROLE,
        {"iam:PassedToService": "codebuild.amazonaws.com"},
    ),
    (
        "create-codebuild-project",
        "codebuild:CreateProject",
        f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/Escalate",
        {f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE, "aws:TagKeys": [APP_TAG_KEY]},
    ),
    ("start-self-mutation-build", "codebuild:StartBuild", SELF_MUTATION, OURS),
    ("rewrite-self-mutation-buildspec", "codebuild:UpdateProject", SELF_MUTATION, OURS),
    (
        "approve-promote-to-prod",
        "codepipeline:PutApprovalResult",
        f"{PIPELINE}/Prod/UploadApi.PromoteToProd",
        {},
    ),
    ("update-the-pipeline", "codepipeline:UpdatePipeline", PIPELINE, OURS),
    ("invoke-the-auto-approver", "lambda:InvokeFunction", AUTO_APPROVE, {}),
    (
        "inline-policy-on-cfn-exec-role",
        "iam:PutRolePolicy",
        EXEC_ROLE,
        {"iam:PermissionsBoundary": BOUNDARY_ARN},
    ),
    (
        "attach-admin-to-an-app-role",
        "iam:AttachRolePolicy",
        STAGE_ROLE,
        {
            "iam:PermissionsBoundary": BOUNDARY_ARN,
            "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess",
        },
    ),
    ("tag-an-app-role-as-bootstrap-deploy", "iam:TagRole", STAGE_ROLE, CDK_TAG),
    ("tag-a-bucket-with-an-aws-cdk-key", "s3:PutBucketTagging", "arn:aws:s3:::dev-uploadapi-bucket", CDK_TAG),
    ("trust-self-in-deploy-role", "iam:UpdateAssumeRolePolicy", DEPLOY_ROLE, {}),
    (
        "create-a-role",
        "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Escalate2",
        {"iam:PermissionsBoundary": BOUNDARY_ARN},
    ),
    (
        "delete-another-apps-log-group",
        "logs:DeleteLogGroup",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/billing",
        {},
    ),
    (
        "read-another-apps-logs",
        "logs:GetLogEvents",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/billing:log-stream:x",
        THEIRS,
    ),
    ("delete-another-apps-guardduty-plan", "guardduty:DeleteMalwareProtectionPlan", PLAN, {}),
    ("loosen-another-apps-guardduty-plan", "guardduty:UpdateMalwareProtectionPlan", PLAN, THEIRS),
    (
        "delete-another-teams-api",
        "apigateway:DELETE",
        f"arn:aws:apigateway:{REGION}::/restapis/payroll01",
        {},
    ),
    (
        "open-another-teams-api",
        "apigateway:UpdateRestApiPolicy",
        f"arn:aws:apigateway:{REGION}::/restapis/payroll01",
        THEIRS,
    ),
]


# The bootstrap roles' trust as `cdk bootstrap --trust PIPELINE_ACCOUNT` writes it (and a role of the
# same account trusting its account): whatever an AssumeRole probe is denied by, it is not the trust.
TRUST_PIPELINE_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    ],
}


def as_role(role: str, action: str, resource: str, context: dict[str, object]):  # type: ignore[no-untyped-def]
    base = {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": resource.split(":")[4] or ACCOUNT}
    request = Request(action, resource, {**base, **context}, principal_arn=role)
    trust = TRUST_PIPELINE_ACCOUNT if action == "sts:AssumeRole" else None
    return evaluate(request, [STAR], boundary=BOUNDARY, resource_policy=trust)


def test_there_are_the_25_probes_of_the_finding():
    assert len(PROBES) == 25
    assert len({name for name, *_ in PROBES}) == 25


@pytest.mark.parametrize(("name", "action", "resource", "context"), PROBES, ids=[p[0] for p in PROBES])
def test_a_stage_role_with_an_inline_star_policy_cannot(name, action, resource, context):
    # GIVEN a role a stage template creates, with the boundary and an inline *:* policy
    # WHEN it makes the probe's call
    decision = as_role(STAGE_ROLE, action, resource, context)
    # THEN the boundary denies it
    assert not decision.allowed, f"{name}: {decision.reason}"


def test_a_pipeline_named_role_keeps_only_what_cdk_pipelines_roles_need():
    # GIVEN a role named as the pipeline stack's, with the boundary and an inline *:* policy
    # WHEN it makes every probe's call
    allowed = {name for name, *call in PROBES if as_role(PIPELINE_ROLE, *call).allowed}
    # THEN it may assume this account's bootstrap roles (deploy, file-publishing, lookup) and the
    # other stage account's deploy role, start the app's builds and invoke its functions: exactly
    # what the pipeline's roles are for. It still cannot pass, change or tag roles, approve
    # PromoteToProd, or touch other teams' resources.
    assert allowed == {
        "assume-lookup-role",
        "assume-deploy-role",
        "assume-file-publishing-role",
        "assume-prod-deploy-role",
        "start-self-mutation-build",
        "invoke-the-auto-approver",
    }


@pytest.mark.parametrize(
    ("role", "action", "resource", "context"),
    [
        ("PipelineRole", "sts:AssumeRole", DEPLOY_ROLE.replace(ACCOUNT, PROD_ACCOUNT), {}),
        ("SelfMutationRole", "sts:AssumeRole", DEPLOY_ROLE.replace("deploy", "image-publishing"), {}),
        ("SecurityCheckRole", "sts:AssumeRole", DEPLOY_ROLE, {}),
        ("AutoApprove", "codepipeline:GetPipelineState", PIPELINE, OURS),
        (
            "AutoApprove",
            "codepipeline:PutApprovalResult",
            f"{PIPELINE}/Prod/ProdPermissionsCheck.Confirm",
            {},
        ),
        ("CodeBuildActionRole", "codebuild:StartBuild", SELF_MUTATION, OURS),
    ],
)
def test_the_pipelines_roles_keep_what_the_boundary_narrows_to(role, action, resource, context):
    # GIVEN a pipeline role whose grant names a wildcard (tests/iam/test_guardrails.py NARROWED)
    principal = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-Pipeline{role}-X"
    # WHEN it makes the call that grant is for, on this app's pipeline or a bootstrap role
    # THEN the boundary allows it
    assert as_role(principal, action, resource, context).allowed


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:PassRole", STAGE_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
        ("codebuild:UpdateProject", SELF_MUTATION, OURS),
        ("iam:PutRolePolicy", STAGE_ROLE, {"iam:PermissionsBoundary": BOUNDARY_ARN}),
    ],
)
def test_the_execution_role_keeps_what_a_deploy_needs(action, resource, context):
    # tests/iam/test_coverage.py proves every deploy call; these are the ones only it may make
    assert as_role(EXEC_ROLE, action, resource, context).allowed


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:PassRole", STAGE_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
        ("iam:TagRole", STAGE_ROLE, CDK_TAG),
        ("iam:PutRolePolicy", EXEC_ROLE, {"iam:PermissionsBoundary": BOUNDARY_ARN}),
        ("logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/billing", {}),
    ],
)
def test_the_execution_role_is_held_too(action, resource, context):
    assert not as_role(EXEC_ROLE, action, resource, context).allowed


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize(("name", "action", "resource", "context"), PROBES, ids=[p[0] for p in PROBES])
def test_each_stages_own_boundary_holds_the_probes_too(stage, name, action, resource, context):
    # GIVEN a role the stage's template creates, under the stage's own boundary (bootstrap/generated/)
    role = f"arn:aws:iam::{ACCOUNT}:role/{stage.capitalize()}-UploadApi-Escalate"
    base = {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": resource.split(":")[4] or ACCOUNT}
    request = Request(action, resource, {**base, **context}, principal_arn=role)
    trust = TRUST_PIPELINE_ACCOUNT if action == "sts:AssumeRole" else None
    # WHEN it makes the probe's call with an inline *:* THEN the stage's boundary denies it
    decision = evaluate(request, [STAR], boundary=set_policies(stage)[1], resource_policy=trust)
    assert not decision.allowed, f"{stage} {name}: {decision.reason}"
