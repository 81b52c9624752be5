"""Issue 10 finding 1, proven offline: what the execution policy and the permissions boundary deny.

Every decision is tools.review_kit.iam.evaluator's over the real files in bootstrap/. The execution role
carries the boundary too (`cdk bootstrap --custom-permissions-boundary`), so each denial is
checked for the policy on its own and for the policy within the boundary; what each stage's
deploy needs is allowed (tests/iam/test_coverage.py).
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from stages.guardrails import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    EXECUTION_POLICY_NAME,
    EXECUTION_RESOURCES_POLICY_NAME,
    EXECUTION_SCANNING_POLICY_NAME,
    KEY_ROTATION_PERIOD_DAYS,
    PERMISSIONS_BOUNDARY_NAME,
    STAGE_TAG_KEY,
    bootstrap_roles_boundary_name,
    stage_policy_name,
)
from tests.iam.conftest import (
    ACCOUNT,
    APIGW_PUSH_TO_LOGS,
    BOOTSTRAP,
    EXECUTION_POLICY_FILES,
    STACK_POLICY_SETS,
    read_policy,
    set_policies,
)
from tests.repo import REPO_ROOT
from tools.review_kit.iam.evaluator import Request, evaluate

EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-us-east-1"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{PERMISSIONS_BOUNDARY_NAME}"
EXEC_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{EXECUTION_POLICY_NAME}"
EXEC_RESOURCES_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{EXECUTION_RESOURCES_POLICY_NAME}"
EXEC_SCANNING_POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{EXECUTION_SCANNING_POLICY_NAME}"
BOOTSTRAP_ROLES_BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{bootstrap_roles_boundary_name(None)}"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-UploadFunctionRoleF587D725-RANDOMSUFFIX"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
APIGW_LOGS = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
# CDK Pipelines' auto-approve function's role (ConfirmPermissionsBroadening) attaches it.
LAMBDA_LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
BASE = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": EXEC_ROLE, "aws:SecureTransport": True}
OURS = {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE}
POLICIES = [read_policy(name) for name in EXECUTION_POLICY_FILES]
BOUNDARY = read_policy("permissions-boundary.json")
PLAN = f"arn:aws:guardduty:us-east-1:{ACCOUNT}:malware-protection-plan"
OTHER_TAG = f"aws:ResourceTag/{APP_TAG_KEY}"
ALONE_AND_BOUNDED = pytest.mark.parametrize("bounded", [False, True], ids=["policy", "policy+boundary"])


def exec_role(action, resource, bounded, **context):
    """The decision for the CloudFormation execution role (the policy, within the boundary if bounded)."""
    request = Request(
        action, resource, {**BASE, "aws:ResourceAccount": ACCOUNT, **context}, principal_arn=EXEC_ROLE
    )
    return evaluate(request, POLICIES, boundary=BOUNDARY if bounded else None)


# -- roles: only with the boundary, only allow-listed managed policies, never unbounded ----------


@ALONE_AND_BOUNDED
def test_creating_a_role_without_the_boundary_is_denied(bounded):
    assert not exec_role("iam:CreateRole", APP_ROLE, bounded)
    other = f"arn:aws:iam::{ACCOUNT}:policy/SomethingLooser"
    assert not exec_role("iam:CreateRole", APP_ROLE, bounded, **{"iam:PermissionsBoundary": other})


@ALONE_AND_BOUNDED
def test_creating_an_app_role_with_the_boundary_is_allowed(bounded):
    assert exec_role("iam:CreateRole", APP_ROLE, bounded, **{"iam:PermissionsBoundary": BOUNDARY_ARN})


@ALONE_AND_BOUNDED
def test_creating_a_role_outside_the_apps_names_is_denied(bounded):
    admin_role = f"arn:aws:iam::{ACCOUNT}:role/BreakGlassAdmin"
    assert not exec_role("iam:CreateRole", admin_role, bounded, **{"iam:PermissionsBoundary": BOUNDARY_ARN})


@ALONE_AND_BOUNDED
def test_attaching_administrator_access_is_denied(bounded):
    context = {"iam:PermissionsBoundary": BOUNDARY_ARN, "iam:PolicyARN": ADMIN}
    assert not exec_role("iam:AttachRolePolicy", APP_ROLE, bounded, **context)


@ALONE_AND_BOUNDED
@pytest.mark.parametrize("policy_arn", [APIGW_LOGS, LAMBDA_LOGS], ids=["apigateway-logs", "lambda-logs"])
def test_attaching_the_allow_listed_managed_policy_is_allowed(bounded, policy_arn):
    context = {"iam:PermissionsBoundary": BOUNDARY_ARN, "iam:PolicyARN": policy_arn}
    assert exec_role("iam:AttachRolePolicy", APP_ROLE, bounded, **context)


@ALONE_AND_BOUNDED
@pytest.mark.parametrize("action", ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"])
def test_removing_a_boundary_is_denied(bounded, action):
    decision = exec_role(action, APP_ROLE, bounded, **{"iam:PermissionsBoundary": BOUNDARY_ARN})
    assert not decision
    assert decision.reason.startswith("explicit deny")


@ALONE_AND_BOUNDED
def test_replacing_the_boundary_with_another_is_denied(bounded):
    other = f"arn:aws:iam::{ACCOUNT}:policy/SomethingLooser"
    assert not exec_role(
        "iam:PutRolePermissionsBoundary", APP_ROLE, bounded, **{"iam:PermissionsBoundary": other}
    )


@ALONE_AND_BOUNDED
@pytest.mark.parametrize(
    "action",
    ["iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion"],
)
@pytest.mark.parametrize(
    "policy_arn",
    [
        BOUNDARY_ARN,
        EXEC_POLICY_ARN,
        EXEC_RESOURCES_POLICY_ARN,
        EXEC_SCANNING_POLICY_ARN,
        BOOTSTRAP_ROLES_BOUNDARY_ARN,
    ],
    ids=[
        "boundary",
        "execution-policy",
        "execution-resources-policy",
        "execution-scanning-policy",
        "bootstrap-roles-boundary",
    ],
)
def test_changing_the_guardrail_policies_is_denied(bounded, action, policy_arn):
    decision = exec_role(action, policy_arn, bounded)
    assert not decision
    assert decision.reason.startswith("explicit deny")


@ALONE_AND_BOUNDED
@pytest.mark.parametrize(
    "action", ["iam:CreateUser", "iam:CreateAccessKey", "iam:CreatePolicy", "iam:PutUserPolicy"]
)
def test_no_other_iam_is_allowed(bounded, action):
    assert not exec_role(action, f"arn:aws:iam::{ACCOUNT}:user/someone", bounded)


# -- an inline *:* policy: PutRolePolicy cannot see the document, the boundary caps it ----------


@ALONE_AND_BOUNDED
def test_an_inline_star_policy_on_an_app_role_can_be_written(bounded):
    # IAM has no condition key for a policy document's content: what PutRolePolicy writes cannot be
    # constrained by the execution policy. The boundary on the role is what limits it (below).
    context = {"iam:PermissionsBoundary": BOUNDARY_ARN}
    assert exec_role("iam:PutRolePolicy", APP_ROLE, bounded, **context)


STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def bounded_role(action, resource, **context):
    """A role the app created, carrying the boundary, with an inline `*:*` policy."""
    base = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": APP_ROLE, "aws:ResourceAccount": ACCOUNT}
    request = Request(action, resource, {**base, **context}, principal_arn=APP_ROLE)
    return evaluate(request, [STAR], boundary=BOUNDARY)


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor", {}),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/admin", {}),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Escalate", {}),
        ("iam:AttachRolePolicy", APP_ROLE, {"iam:PermissionsBoundary": BOUNDARY_ARN, "iam:PolicyARN": ADMIN}),
        ("iam:DeleteRolePermissionsBoundary", APP_ROLE, {"iam:PermissionsBoundary": BOUNDARY_ARN}),
        ("iam:CreatePolicyVersion", BOUNDARY_ARN, {}),
        ("iam:SetDefaultPolicyVersion", EXEC_POLICY_ARN, {}),
        ("ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/*", {}),
        ("guardduty:DeleteDetector", f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d1", {}),
        ("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:payroll-events", {}),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:999999999999:Dev-UploadApi-x",
            {"aws:ResourceAccount": "999999999999"},
        ),
        ("organizations:LeaveOrganization", "*", {}),
        ("s3:GetObject", "arn:aws:s3:::payroll-exports/2026.csv", {}),
        ("s3:PutBucketPolicy", "arn:aws:s3:::payroll-exports", {}),
        ("s3:GetObject", "arn:aws:s3:::dev-uploadapi-lookalike/x", {"aws:ResourceAccount": "999999999999"}),
        ("dynamodb:Scan", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Customers", {}),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:billing", {}),
        ("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111-untagged", {}),
        (
            "kms:PutKeyPolicy",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/2222",
            {f"aws:ResourceTag/{APP_TAG_KEY}": "other"},
        ),
    ],
)
def test_a_bounded_role_with_an_inline_star_policy_still_cannot(action, resource, context):
    assert not bounded_role(action, resource, **context)


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("s3:PutObject", "arn:aws:s3:::dev-uploadapi-uploadbucketd2c1da78-randomsuffix/uploads/x", {}),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Dev-UploadApi-ProductTable-X", {}),
        ("kms:GenerateDataKey", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/3333", OURS),
    ],
)
def test_a_bounded_role_keeps_what_the_app_needs(action, resource, context):
    assert bounded_role(action, resource, **context)


# -- other people's buckets, tables, keys and functions --------------------------------------------


@ALONE_AND_BOUNDED
@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("s3:PutBucketPolicy", "arn:aws:s3:::payroll-exports", {}),
        ("s3:DeleteBucket", "arn:aws:s3:::payroll-exports", {}),
        ("s3:PutBucketPublicAccessBlock", "arn:aws:s3:::cdk-hnb659fds-assets-111111111111-us-east-1", {}),
        ("dynamodb:DeleteTable", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Customers", {}),
        ("dynamodb:Scan", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Customers", {}),
        ("kms:PutKeyPolicy", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111-untagged", {}),
        ("kms:ScheduleKeyDeletion", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111-untagged", {}),
        ("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111-untagged", {}),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:billing", {}),
        ("lambda:AddPermission", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:billing", {}),
        ("logs:DeleteLogGroup", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/billing", {}),
        ("sns:SetTopicAttributes", f"arn:aws:sns:us-east-1:{ACCOUNT}:security-alerts", {}),
        ("codebuild:UpdateProject", f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/release", {}),
        (
            "iam:PutRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/OrgAdmin",
            {"iam:PermissionsBoundary": BOUNDARY_ARN},
        ),
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role-1-r", {}),
        ("sqs:SetQueueAttributes", f"arn:aws:sqs:us-east-1:{ACCOUNT}:payroll-events", {}),
        ("sqs:DeleteQueue", f"arn:aws:sqs:us-east-1:{ACCOUNT}:payroll-events", {}),
        ("guardduty:DeleteMalwareProtectionPlan", f"{PLAN}/other-teams-plan", {}),
        ("guardduty:UpdateMalwareProtectionPlan", f"{PLAN}/other-teams-plan", {OTHER_TAG: "other"}),
        ("guardduty:DeleteDetector", f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d1", {}),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:UploadApi-lookalike", {}),
    ],
)
def test_touching_what_is_not_this_apps_is_denied(bounded, action, resource, context):
    assert not exec_role(action, resource, bounded, **context)


@ALONE_AND_BOUNDED
def test_tagging_a_key_into_the_app_is_not_a_way_in(bounded):
    # Keys are scoped by the app's tag; removing it from one of ours is denied, and a key that is
    # not ours (no tag) cannot be changed, tags included, except at creation by this template.
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/3333"
    assert not exec_role("kms:UntagResource", key, bounded, **OURS, **{"aws:TagKeys": [APP_TAG_KEY]})
    assert not exec_role("kms:PutKeyPolicy", key, bounded)


# -- a key created minutes ago: its tag may not take effect for five minutes (KMS ABAC) ----------

NEW_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/4444-just-created"
VIA_DYNAMODB = {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}


@ALONE_AND_BOUNDED
@pytest.mark.parametrize(
    ("action", "context"),
    [
        ("kms:EnableKeyRotation", {"kms:RotationPeriodInDays": KEY_ROTATION_PERIOD_DAYS}),
        ("kms:CreateGrant", VIA_DYNAMODB),
        ("kms:DescribeKey", VIA_DYNAMODB),
        ("kms:Encrypt", VIA_DYNAMODB),
        ("kms:Decrypt", VIA_DYNAMODB),
    ],
)
def test_the_first_deployment_sets_up_a_key_before_its_tag_takes_effect(bounded, action, context):
    # The key's own create handler turns rotation on (at the app's period: any other is denied,
    # tests/iam/test_other_teams_apis_and_keys.py); CloudFormation's table handler has DynamoDB
    # check the key and make the table's grant: none of it waits for the tag.
    assert exec_role(action, NEW_KEY, bounded, **context)


@ALONE_AND_BOUNDED
@pytest.mark.parametrize(
    ("action", "context"),
    [
        ("kms:PutKeyPolicy", {}),
        ("kms:ScheduleKeyDeletion", {}),
        ("kms:DisableKey", {}),
        ("kms:DisableKeyRotation", {}),
        ("kms:UntagResource", {}),
        ("kms:CreateGrant", {}),
        ("kms:Decrypt", {}),
        ("kms:Decrypt", {"kms:ViaService": "s3.us-east-1.amazonaws.com"}),
        ("kms:ScheduleKeyDeletion", VIA_DYNAMODB),
    ],
)
def test_without_the_tag_a_key_can_be_neither_managed_nor_used_directly(bounded, action, context):
    # The same untagged key, as any other team's key in the account looks: only the calls above.
    assert not exec_role(action, NEW_KEY, bounded, **context)


# -- GuardDuty Malware Protection for S3: plans by the app's tag, only the scanner role passed --------

SCANNER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Prod-UploadApi-MalwareScanningScannerRole50BBBBC4-RANDOMSUFFIX"
GUARDDUTY_PLANS = "malware-protection-plan.guardduty.amazonaws.com"


@ALONE_AND_BOUNDED
def test_a_malware_protection_plan_is_created_only_with_the_apps_tag(bounded):
    tagged = {f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE, "aws:TagKeys": [APP_TAG_KEY]}
    assert exec_role("guardduty:CreateMalwareProtectionPlan", "*", bounded, **tagged)
    assert not exec_role("guardduty:CreateMalwareProtectionPlan", "*", bounded)
    other = {f"aws:RequestTag/{APP_TAG_KEY}": "other", "aws:TagKeys": [APP_TAG_KEY]}
    assert not exec_role("guardduty:CreateMalwareProtectionPlan", "*", bounded, **other)


@ALONE_AND_BOUNDED
def test_the_apps_plans_are_changed_by_tag_and_keep_it(bounded):
    plan = f"{PLAN}/0123456789abcdef0123"
    assert exec_role("guardduty:UpdateMalwareProtectionPlan", plan, bounded, **OURS)
    assert exec_role("guardduty:DeleteMalwareProtectionPlan", plan, bounded, **OURS)
    assert not exec_role("guardduty:UntagResource", plan, bounded, **OURS, **{"aws:TagKeys": [APP_TAG_KEY]})


@ALONE_AND_BOUNDED
def test_only_the_scanner_role_is_passed_to_guardduty(bounded):
    to_guardduty = {"iam:PassedToService": GUARDDUTY_PLANS}
    assert exec_role("iam:PassRole", SCANNER_ROLE, bounded, **to_guardduty)
    assert not exec_role("iam:PassRole", APP_ROLE, bounded, **to_guardduty)
    assert not exec_role(
        "iam:PassRole", SCANNER_ROLE, bounded, **{"iam:PassedToService": "ec2.amazonaws.com"}
    )


@ALONE_AND_BOUNDED
def test_the_apps_queues_and_the_pipelines_function_are_allowed(bounded):
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:Prod-UploadApi-MalwareScanningScanResultDLQ-RANDOMSUFFIX"
    assert exec_role("sqs:CreateQueue", queue, bounded)
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:UploadApiPipeline-PipelinePipelinesSecurity-X"
    assert exec_role("lambda:CreateFunction", function, bounded)


# -- the boundary on every role, by the name the policies use ---------------------------------------


def test_cdk_json_attaches_the_boundary_the_policies_name():
    context = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    assert context["@aws-cdk/core:permissionsBoundary"] == {"name": PERMISSIONS_BOUNDARY_NAME}
    names = (
        PERMISSIONS_BOUNDARY_NAME,
        EXECUTION_POLICY_NAME,
        EXECUTION_RESOURCES_POLICY_NAME,
        EXECUTION_SCANNING_POLICY_NAME,
    )
    text = json.dumps(POLICIES[0])
    for name in names:
        assert f":policy/{name}" in text
    # The boundary's deny names them by their common prefix (IAM's size limit), beside the
    # bootstrap roles (`role/cdk-*`); the evaluator proves each is covered
    # (test_changing_the_guardrail_policies_is_denied).
    (guarded,) = [s["Resource"] for s in BOUNDARY["Statement"] if s["Sid"] == "NeverEditTheGuardrails"]
    assert "arn:*:iam::*:role/cdk-*" in guarded
    for name in names:
        assert any(fnmatch.fnmatchcase(f"arn:aws:iam::1:policy/{name}", pattern) for pattern in guarded)


def test_the_bootstrap_commands_create_and_name_these_policies():
    # docs/bootstrap.md's commands (they need AWS; what they name is checked here)
    doc = (REPO_ROOT / "docs" / "bootstrap.md").read_text(encoding="utf-8")
    created = re.findall(r"--policy-name (\S+) \\\n\s+--policy-document file://(\S+)", doc)
    # GIVEN each bootstrap's set: its policies under its names, from its generated directory
    expected = []
    for set_name, stage in (("pipeline", None), ("dev", "dev"), ("prod", "prod")):
        for base, file in (
            (PERMISSIONS_BOUNDARY_NAME, "permissions-boundary.json"),
            (EXECUTION_POLICY_NAME, "cfn-execution-policy.json"),
            (EXECUTION_RESOURCES_POLICY_NAME, "cfn-execution-resources-policy.json"),
            (EXECUTION_SCANNING_POLICY_NAME, "cfn-execution-scanning-policy.json"),
        ):
            expected.append((stage_policy_name(base, stage), f"bootstrap/generated/{set_name}/{file}"))
        # and the boundary the bootstrap template gives the set's deploy, publishing and lookup roles
        expected.append(
            (
                bootstrap_roles_boundary_name(stage),
                f"bootstrap/generated/{set_name}/bootstrap-roles-boundary.json",
            )
        )
    # THEN the commands create exactly those, each once, each before the `cdk bootstrap` naming it
    assert created == expected
    blocks = doc.split("cdk bootstrap aws://")
    for index, stage in enumerate((None, "dev", "prod")):
        assert f"--policy-name {bootstrap_roles_boundary_name(stage)} " in blocks[index]
    # AND each `cdk bootstrap` names one set's boundary and execution policies, with its qualifier
    bootstraps = [re.split(r"\n\n|\n#|```", c)[0] for c in doc.split("cdk bootstrap aws://")[1:]]
    qualifiers = {"dev": "uploaddev", "prod": "uploadprod"}
    assert len(bootstraps) == 5  # separate accounts: pipeline, dev, prod; one account: dev, prod
    for command in bootstraps:
        stage = next((s for s, q in qualifiers.items() if f"--qualifier {q}" in command), None)
        assert (
            f"--custom-permissions-boundary {stage_policy_name(PERMISSIONS_BOUNDARY_NAME, stage)}" in command
        )
        for base in (EXECUTION_POLICY_NAME, EXECUTION_RESOURCES_POLICY_NAME, EXECUTION_SCANNING_POLICY_NAME):
            assert f":policy/{stage_policy_name(base, stage)}" in command
        # a stage in another account trusts the pipeline's; a stage beside another bootstrap has its own stack
        if stage is not None:
            assert ("--trust PIPELINE_ACCOUNT" in command) != ("--toolkit-stack-name" in command), command


# Every IAM policy document in bootstrap/ (pipeline-iam.reviewed.json is tools/pipeline_checks/pipeline_iam's
# reviewed snapshot, not a policy AWS stores).
POLICY_FILES = sorted(
    p for p in BOOTSTRAP.glob("*.json") if "Statement" in json.loads(p.read_text(encoding="utf-8"))
)


def test_every_execution_policy_file_is_checked():
    assert {p.name for p in POLICY_FILES} == {*EXECUTION_POLICY_FILES, "permissions-boundary.json"}


# And each bootstrap's own set, derived from them (tools/dev/bootstrap_policies.py).
GENERATED_POLICY_FILES = sorted(BOOTSTRAP.glob("generated/*/*.json"))


@pytest.mark.parametrize(
    "path", POLICY_FILES + GENERATED_POLICY_FILES, ids=lambda p: p.relative_to(BOOTSTRAP).as_posix()
)
def test_each_bootstrap_policy_fits_iams_managed_policy_size(path):
    # IAM quotas: a managed policy holds at most 6,144 characters, whitespace not counted.
    assert len("".join(path.read_text(encoding="utf-8").split())) <= 6144


@ALONE_AND_BOUNDED
def test_app_roles_are_passed_only_to_the_services_that_take_them(bounded):
    assert exec_role("iam:PassRole", APP_ROLE, bounded, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert not exec_role("iam:PassRole", APP_ROLE, bounded, **{"iam:PassedToService": "ec2.amazonaws.com"})


@pytest.mark.synth
@pytest.mark.parametrize("stack_name", ["UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"])
def test_every_role_in_every_template_has_the_boundary(stacks, stack_name):
    # Each stack's own boundary: the pipeline's under the base name, a stage's under its stage's name
    # (stages/upload_stage.py), the one its own execution role requires (docs/bootstrap.md).
    set_name = STACK_POLICY_SETS[stack_name]
    boundary_name = stage_policy_name(PERMISSIONS_BOUNDARY_NAME, None if set_name == "pipeline" else set_name)
    roles = {
        k: r for k, r in stacks[stack_name].template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
    }
    assert roles
    expected = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":iam::",
                {"Ref": "AWS::AccountId"},
                f":policy/{boundary_name}",
            ],
        ]
    }
    missing = [k for k, r in roles.items() if r["Properties"].get("PermissionsBoundary") != expected]
    assert not missing, f"roles without the permissions boundary: {missing}"


# -- the boundary leaves every role the app creates what its policies grant ------------------------


def _role_grants(stack):
    """(role, role ARN, action, resource) for every Allow in the policies of the stack's roles."""
    from tools.review_kit.iam.arns import Env, Template
    from tools.review_kit.iam.validity import resolve_document

    model = Template(stack.template, Env(stack.stack_name, ACCOUNT, "us-east-1"))
    roles = {lid for lid, r in model.resources.items() if r["Type"] == "AWS::IAM::Role"}
    documents = []
    for lid, resource in model.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            for role in props.get("Roles", []):
                documents.append((role["Ref"], props["PolicyDocument"]))
        if lid in roles:
            documents += [(lid, p["PolicyDocument"]) for p in props.get("Policies", [])]
            if props.get("ManagedPolicyArns"):
                documents.append((lid, APIGW_PUSH_TO_LOGS))
    for role, document in documents:
        for statement in resolve_document(model, document)["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                for resource in resources:
                    yield role, model.get_att(role, "Arn"), action, resource


@pytest.mark.synth
@pytest.mark.parametrize("stack_name", ["UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"])
def test_the_boundary_allows_everything_the_apps_roles_are_granted(stacks, stack_name):
    # GIVEN every grant of every role the stack creates (each role carries its bootstrap's boundary)
    set_name = STACK_POLICY_SETS[stack_name]
    _, boundary = set_policies(set_name)
    # WHEN each is evaluated against the boundary (keys: the app's tag and the stage's, this account)
    tags = OURS if set_name == "pipeline" else {**OURS, f"aws:ResourceTag/{STAGE_TAG_KEY}": set_name}
    denied = []
    for role, role_arn, action, resource in _role_grants(stacks[stack_name]):
        context = {"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT, **tags}
        decision = evaluate(Request(action, resource, context, role_arn), [STAR], boundary=boundary)
        if not decision:
            denied.append(f"{role}: {action} on {resource} ({decision.reason})")
    # THEN the boundary takes nothing away that the app uses, but for the grants it narrows on purpose
    narrowed = {
        d for d in denied if any(d.startswith(role) and f": {grant} (" in d for role, grant in NARROWED)
    }
    assert not set(denied) - narrowed, "\n".join(sorted(set(denied) - narrowed))


# Grants on "*" that the boundary narrows to this app's resources, each with why that is enough.
NARROWED = {
    # CDK Pipelines gives the self-mutation role s3:ListBucket on every bucket for the CDK CLI's
    # bootstrap lookups; with the bootstrap's roles the CLI lists through the roles it assumes, and
    # the boundary leaves this role the app's and this account's bootstrap asset buckets.
    ("PipelineUpdatePipelineSelfMutationRole", "s3:ListBucket on *"),
    # CDK Pipelines lets self-mutation and the permission check assume any role tagged as a bootstrap
    # role; the boundary narrows that to the bootstrap deploy, file-publishing, image-publishing and
    # lookup roles (by name), and to roles named UploadApiPipeline-* (tests/iam/test_boundary_ceiling.py).
    ("PipelineUpdatePipelineSelfMutationRole", "sts:AssumeRole on arn:*:iam::111111111111:role/*"),
    ("PipelinePipelinesSecurityCheckCDKSecurityCheckRole", "sts:AssumeRole on *"),
    # The auto-approve function may read and approve in any pipeline of the account tagged
    # SECURITY_CHECK; the boundary narrows it to this app's pipeline (UploadApiPipeline-*), and
    # approvals to its permission-check confirmations, never PromoteToProd.
    (
        "PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRole",
        "codepipeline:GetPipelineState on arn:aws:codepipeline:us-east-1:111111111111:*",
    ),
    (
        "PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRole",
        "codepipeline:PutApprovalResult on arn:aws:codepipeline:us-east-1:111111111111:"
        "*/Dev/DevPermissionsCheck.Confirm",
    ),
    (
        "PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRole",
        "codepipeline:PutApprovalResult on arn:aws:codepipeline:us-east-1:111111111111:"
        "*/Prod/ProdPermissionsCheck.Confirm",
    ),
}
