"""Proven offline: a template cannot change another team's REST API or set another team's key's
rotation period through the CloudFormation execution role.

API Gateway scopes REST APIs by tag: a REST API's children (resources, methods, integrations,
models, deployments, stages) are authorized with its tags (API Gateway Developer Guide, "API
Gateway resources that can be tagged"), so the execution policy allows creating a REST API only
with the app's tag (aws:RequestTag) and everything under `/restapis/{id}` only when the REST API
carries it (aws:ResourceTag); the boundary denies every API Gateway call on a resource without the
tag except `/account`, the `/restapis` collection and `/tags/*` (docs/bootstrap.md says why).
KMS's first-deployment window leaves EnableKeyRotation tag-free; it is pinned to the app's
rotation period instead (kms:RotationPeriodInDays).

Every decision is tools.review_kit.iam.evaluator's over the real files in bootstrap/, for the
execution policies alone and within the boundary; the API Gateway probes also for a role with the
boundary and `*:*` (the boundary alone holds them). The denials are proven for the base files and
for each generated set a stage deploys through (bootstrap/generated/<stage>/: its own qualifier's
execution role, policies and boundary).
"""

from __future__ import annotations

import urllib.parse

import pytest

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE, KEY_ROTATION_PERIOD_DAYS
from tests.iam.conftest import ACCOUNT, EXECUTION_POLICY_FILES, read_policy, set_policies
from tools.dev.bootstrap_policies import cdk_json_context
from tools.review_kit.iam.evaluator import Request, evaluate

REGION = "us-east-1"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
STAGE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Escalate"
POLICIES = [read_policy(name) for name in EXECUTION_POLICY_FILES]
BOUNDARY = read_policy("permissions-boundary.json")
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
GATEWAY = f"arn:aws:apigateway:{REGION}::"
OURS = {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE}
TAGGED_AS_OURS = {f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE, "aws:TagKeys": [APP_TAG_KEY]}
# Another team's REST API as the account may hold it: untagged, or tagged for that team.
THEIRS = {
    "untagged": {},
    "tagged-otherwise": {f"aws:ResourceTag/{APP_TAG_KEY}": "payroll", "aws:ResourceTag/team": "payroll"},
}


def api_calls(api_id: str) -> list[tuple[str, str, str, dict[str, object]]]:
    """(name, action, resource, extra context): what a template could do to a REST API."""
    api = f"{GATEWAY}/restapis/{api_id}"
    method = f"{api}/resources/r00t01/methods/GET"
    return [
        ("create-method", "apigateway:PUT", method, {}),
        ("put-integration", "apigateway:PUT", f"{method}/integration", {}),
        ("update-method-to-no-auth", "apigateway:PATCH", method, {}),
        ("create-resource", "apigateway:POST", f"{api}/resources/r00t01", {}),
        ("create-deployment", "apigateway:POST", f"{api}/deployments", {}),
        ("update-stage", "apigateway:PATCH", f"{api}/stages/prod", {}),
        ("create-stage-tagged-as-ours", "apigateway:POST", f"{api}/stages", TAGGED_AS_OURS),
        ("overwrite-with-openapi", "apigateway:PUT", api, {}),
        ("replace-resource-policy", "apigateway:UpdateRestApiPolicy", api, {}),
        ("delete-the-api", "apigateway:DELETE", api, {}),
        ("delete-a-stage", "apigateway:DELETE", f"{api}/stages/prod", {}),
        # Tagging a resource needs PATCH on it besides PUT on /tags/... (Developer Guide, "Using
        # tags to control access to API Gateway REST API resources"): the PATCH is what is denied.
        ("tag-their-stage-as-ours", "apigateway:PATCH", f"{api}/stages/prod", TAGGED_AS_OURS),
    ]


THEIR_CALLS = api_calls("payroll01")
OUR_CALLS = api_calls("ours0001")
# Other API Gateway resources a template could reach: another team's custom domain (a base path
# mapping routes its traffic to an API of ours), HTTP APIs, usage plans.
OTHER_RESOURCES = [
    ("map-their-domain", "apigateway:POST", f"{GATEWAY}/domainnames/api.payroll.example/basepathmappings"),
    ("change-their-http-api", "apigateway:PATCH", f"{GATEWAY}/apis/payroll02"),
    ("change-their-usage-plan", "apigateway:PATCH", f"{GATEWAY}/usageplans/plan01"),
]


def decide(role, action, resource, context, policies, boundary):  # type: ignore[no-untyped-def]
    base = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": role, "aws:SecureTransport": True}
    request = Request(action, resource, {**base, **context}, principal_arn=role)
    return evaluate(request, policies, boundary=boundary)


AS = {
    "exec-policies": (EXEC_ROLE, POLICIES, None),
    "exec-policies+boundary": (EXEC_ROLE, POLICIES, BOUNDARY),
    "exec-role-star+boundary": (EXEC_ROLE, [STAR], BOUNDARY),
    "stage-role-star+boundary": (STAGE_ROLE, [STAR], BOUNDARY),
}


def _stage_sets() -> dict[str, tuple[str, list[dict[str, object]], dict[str, object]]]:
    """Each stage's own bootstrap: its execution role within its generated policies and boundary,
    and a role its template may create with `*:*` within that boundary."""
    found = {}
    for stage in ("dev", "prod"):
        qualifier = cdk_json_context()["stages"][stage]["bootstrapQualifier"]
        role = f"arn:aws:iam::{ACCOUNT}:role/cdk-{qualifier}-cfn-exec-role-{ACCOUNT}-{REGION}"
        policies, boundary = set_policies(stage)
        found[f"{stage}-set"] = (role, policies, boundary)
        found[f"{stage}-role-star+{stage}-boundary"] = (
            f"arn:aws:iam::{ACCOUNT}:role/{stage.capitalize()}-UploadApi-Escalate",
            [STAR],
            boundary,
        )
    return found


# The denials hold for the base files and for each generated stage set.
DENIED_AS = {**AS, **_stage_sets()}


@pytest.mark.parametrize("who", DENIED_AS)
@pytest.mark.parametrize("theirs", THEIRS)
@pytest.mark.parametrize(
    ("name", "action", "resource", "context"), THEIR_CALLS, ids=[c[0] for c in THEIR_CALLS]
)
def test_another_teams_rest_api_cannot_be_changed(who, theirs, name, action, resource, context):
    # GIVEN another team's REST API (untagged, or tagged for that team)
    role, policies, boundary = DENIED_AS[who]
    # WHEN the execution role (or a bounded role with *:*) changes it
    decision = decide(role, action, resource, {**THEIRS[theirs], **context}, policies, boundary)
    # THEN it is denied
    assert not decision.allowed, f"{name}: {decision.reason}"


@pytest.mark.parametrize("who", DENIED_AS)
@pytest.mark.parametrize(("name", "action", "resource"), OTHER_RESOURCES, ids=[c[0] for c in OTHER_RESOURCES])
def test_other_api_gateway_resources_cannot_be_changed(who, name, action, resource):
    role, policies, boundary = DENIED_AS[who]
    decision = decide(role, action, resource, TAGGED_AS_OURS, policies, boundary)
    assert not decision.allowed, f"{name}: {decision.reason}"


@pytest.mark.parametrize(("name", "action", "resource", "context"), OUR_CALLS, ids=[c[0] for c in OUR_CALLS])
def test_the_apps_own_rest_api_stays_the_execution_roles(name, action, resource, context):
    # GIVEN the app's REST API (it carries the app's tag from its creation)
    # WHEN the execution role, with its policies and the boundary, makes the same calls on it
    decision = decide(EXEC_ROLE, action, resource, {**OURS, **context}, POLICIES, BOUNDARY)
    # THEN each is allowed
    assert decision.allowed, f"{name}: {decision.reason}"


def test_a_rest_api_is_created_only_with_the_apps_tag():
    restapis = f"{GATEWAY}/restapis"
    assert decide(EXEC_ROLE, "apigateway:POST", restapis, TAGGED_AS_OURS, POLICIES, BOUNDARY).allowed
    assert not decide(EXEC_ROLE, "apigateway:POST", restapis, {}, POLICIES, BOUNDARY).allowed
    other = {f"aws:RequestTag/{APP_TAG_KEY}": "payroll", "aws:TagKeys": [APP_TAG_KEY]}
    assert not decide(EXEC_ROLE, "apigateway:POST", restapis, other, POLICIES, BOUNDARY).allowed


def test_the_apps_tag_is_never_removed_from_its_api():
    stage = urllib.parse.quote(f"{GATEWAY}/restapis/ours0001/stages/dev", safe="")
    untag = {"aws:TagKeys": [APP_TAG_KEY]}
    tags = f"{GATEWAY}/tags/{stage}"
    assert not decide(EXEC_ROLE, "apigateway:DELETE", tags, untag, POLICIES, BOUNDARY).allowed
    assert decide(EXEC_ROLE, "apigateway:DELETE", tags, {"aws:TagKeys": ["cost"]}, POLICIES, BOUNDARY).allowed


# -- another team's KMS key: the rotation call a first deployment makes tag-free ---------------

THEIR_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5555-payroll"
POLICIES_AND_BOUNDARY = {"exec-policies": None, "exec-policies+boundary": BOUNDARY}


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("theirs", THEIRS)
@pytest.mark.parametrize("period", [None, 365, 2560, 91], ids=lambda p: f"period-{p}")
def test_a_stages_execution_role_cannot_set_another_teams_rotation_period(stage, theirs, period):
    # GIVEN a stage's own execution role within its generated policies and boundary
    role, policies, boundary = DENIED_AS[f"{stage}-set"]
    context = {**THEIRS[theirs]}
    if period is not None:
        context["kms:RotationPeriodInDays"] = period
    # THEN turning another team's key's rotation on at any period but the app's is denied
    decision = decide(role, "kms:EnableKeyRotation", THEIR_KEY, context, policies, boundary)
    assert not decision.allowed, decision.reason
    # AND at the app's period it is allowed (the first deployment's call): the denial is the pin's
    pinned = {**context, "kms:RotationPeriodInDays": KEY_ROTATION_PERIOD_DAYS}
    assert decide(role, "kms:EnableKeyRotation", THEIR_KEY, pinned, policies, boundary).allowed


@pytest.mark.parametrize("bounded", POLICIES_AND_BOUNDARY)
@pytest.mark.parametrize("theirs", THEIRS)
@pytest.mark.parametrize("period", [None, 365, 2560, 91], ids=lambda p: f"period-{p}")
def test_another_teams_keys_rotation_period_cannot_be_set(bounded, theirs, period):
    # GIVEN another team's key (its policy delegating to IAM, as CDK's default does)
    context = {**THEIRS[theirs]}
    if period is not None:
        context["kms:RotationPeriodInDays"] = period
    # WHEN the execution role turns its rotation on with any period but the app's
    decision = decide(
        EXEC_ROLE, "kms:EnableKeyRotation", THEIR_KEY, context, POLICIES, POLICIES_AND_BOUNDARY[bounded]
    )
    # THEN it is denied: no other period (longer, or KMS's default by leaving it out) can be set
    assert not decision.allowed, decision.reason


@pytest.mark.parametrize("bounded", POLICIES_AND_BOUNDARY)
def test_a_new_key_of_the_app_is_rotated_at_the_apps_period_before_its_tag_counts(bounded):
    # The residual, documented in docs/bootstrap.md: the same call on another team's key turns its
    # rotation on, or shortens its period, to KMS's shortest; it can never lengthen or stop it.
    new_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/4444-just-created"
    context = {"kms:RotationPeriodInDays": KEY_ROTATION_PERIOD_DAYS}
    decision = decide(
        EXEC_ROLE, "kms:EnableKeyRotation", new_key, context, POLICIES, POLICIES_AND_BOUNDARY[bounded]
    )
    assert decision.allowed, decision.reason
    assert KEY_ROTATION_PERIOD_DAYS == 90  # KMS's shortest rotation period


def test_only_the_execution_role_rotates_a_key_without_the_apps_tag():
    decision = decide(
        STAGE_ROLE, "kms:EnableKeyRotation", THEIR_KEY, {"kms:RotationPeriodInDays": 90}, [STAR], BOUNDARY
    )
    assert not decision.allowed, decision.reason


def test_the_pinned_period_is_the_one_the_apps_keys_use():
    # stages/upload/encryption.py creates every key with KEY_ROTATION_PERIOD_DAYS
    pinned = [
        s["Condition"]["NumericEquals"]["kms:RotationPeriodInDays"]
        for document in POLICIES
        for s in document["Statement"]
        if "kms:EnableKeyRotation" in s["Action"] and "NumericEquals" in s.get("Condition", {})
    ]
    assert pinned == [str(KEY_ROTATION_PERIOD_DAYS)]


# -- tagging another team's key or plan as the app's: the tag would then open it (AppByTag) -----

TAG_HIJACKS = [
    ("kms:TagResource", THEIR_KEY),
    ("guardduty:TagResource", f"arn:aws:guardduty:{REGION}:{ACCOUNT}:malware-protection-plan/payroll-plan"),
]


@pytest.mark.parametrize(("action", "resource"), TAG_HIJACKS, ids=[a for a, _ in TAG_HIJACKS])
def test_a_bounded_role_cannot_tag_another_teams_resource_as_the_apps(action, resource):
    # GIVEN a role a stage template may create, with the boundary and an inline *:* policy
    # WHEN it tags another team's key or malware protection plan with the app's tag
    decision = decide(STAGE_ROLE, action, resource, TAGGED_AS_OURS, [STAR], BOUNDARY)
    # THEN the boundary denies it: only the execution role tags (at creation, CloudFormation's
    # handlers on the template's own resources), so the app's tag never opens a resource not its own
    assert not decision.allowed, decision.reason


def test_only_the_pipeline_uses_a_connection():
    # A CodeStar/CodeConnections connection reads every repository its installation reaches; the
    # boundary allows the account's connections (their ids are random) to the pipeline's roles and
    # the execution role only.
    for prefix in ("codeconnections", "codestar-connections"):
        connection = f"arn:aws:{prefix}:{REGION}:{ACCOUNT}:connection/0000-payroll"
        decision = decide(STAGE_ROLE, f"{prefix}:UseConnection", connection, {}, [STAR], BOUNDARY)
        assert not decision.allowed, decision.reason
        pipeline_role = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-PipelineSourceRole-X"
        assert decide(pipeline_role, f"{prefix}:UseConnection", connection, {}, [STAR], BOUNDARY).allowed


# -- a role under an IAM path: its ARN would match the boundary's role-name patterns -------------

BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/UploadApiPermissionsBoundary"


@pytest.mark.parametrize(
    "path", ["UploadApiPipeline-PipelineRoleB27FAA37-x", "Dev-UploadApi-x", "cdk-x-cfn-exec-role-y"]
)
def test_no_role_is_created_under_a_path(path):
    # GIVEN a role ARN with a path: `role/UploadApiPipeline-x/Evil` matches `role/UploadApiPipeline-*`,
    # the pattern the boundary gives the pipeline's privileges (assuming the bootstrap roles) by
    # THEN the execution role, within its policies and the boundary, may not create it
    role = f"arn:aws:iam::{ACCOUNT}:role/{path}/Evil"
    context = {"iam:PermissionsBoundary": BOUNDARY_ARN}
    assert not decide(EXEC_ROLE, "iam:CreateRole", role, context, POLICIES, BOUNDARY).allowed
    assert not decide(EXEC_ROLE, "iam:CreateRole", role, context, [STAR], BOUNDARY).allowed
