"""In one account shared by dev and prod, dev's deploy cannot reach prod (docs/bootstrap.md).

Each stage deploys through its own bootstrap: its own qualifier, execution role, execution
policies and boundary (bootstrap/generated/<stage>/, tools/dev/bootstrap_policies.py). Every probe
here is a call a dev template could make CloudFormation perform, or a dev role could make, on a
prod resource of the same account: judged for dev's execution role within dev's boundary it is
denied; judged for prod's execution role within prod's it is allowed (the probes are real calls,
not ones nothing allows); and the same calls under the single shared set of base files (one
execution role for both stages) are allowed, which is what this layout takes away.
"""

from __future__ import annotations

from typing import Any

import pytest

from stages.guardrails import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    PERMISSIONS_BOUNDARY_NAME,
    PIPELINE_QUALIFIER,
    STAGE_TAG_KEY,
    stage_policy_name,
)
from tests.iam.conftest import (
    ACCOUNT,
    EXECUTION_POLICY_FILES,
    REGION,
    read_policy,
    set_policies,
)
from tools.dev.bootstrap_policies import cdk_json_context
from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.evaluator import Request, evaluate
from tools.review_kit.iam.validity import resolve_document

QUALIFIERS = {s: cdk_json_context()["stages"][s]["bootstrapQualifier"] for s in ("dev", "prod")}
BASE_POLICIES = [read_policy(name) for name in EXECUTION_POLICY_FILES]
BASE_BOUNDARY = read_policy("permissions-boundary.json")


def exec_role_arn(qualifier: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/cdk-{qualifier}-cfn-exec-role-{ACCOUNT}-{REGION}"


def boundary_arn(stage: str | None) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{stage_policy_name(PERMISSIONS_BOUNDARY_NAME, stage)}"


def tagged(stage: str) -> dict[str, str]:
    return {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE, f"aws:ResourceTag/{STAGE_TAG_KEY}": stage}


# Prod's resources, named as CloudFormation names them (`{stack}-{logicalId}-{random}`).
PROD_BUCKET = "arn:aws:s3:::prod-uploadapi-uploadbucketd2c1da78-abcdef123456"
PROD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Prod-UploadApi-UploadFunctionRoleF587D725-RANDOMSUFFIX"
PROD_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Prod-UploadApi-UploadFunction1234-abcdef"
PROD_TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Prod-UploadApi-ProductTable1234-ABCDEF"
PROD_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# (action, resource, request context): what a deploy of a stage's template may ask of the prod stack.
PROBES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "rewrite prod's bucket policy": ("s3:PutBucketPolicy", PROD_BUCKET, {}),
    "delete prod's bucket policy": ("s3:DeleteBucketPolicy", PROD_BUCKET, {}),
    "put a policy on prod's role (with its boundary)": (
        "iam:PutRolePolicy",
        PROD_ROLE,
        {"iam:PermissionsBoundary": "{boundary}"},
    ),
    "change whom prod's role trusts": (
        "iam:UpdateAssumeRolePolicy",
        PROD_ROLE,
        {"iam:PermissionsBoundary": "{boundary}"},
    ),
    "pass prod's role to a function": (
        "iam:PassRole",
        PROD_ROLE,
        {"iam:PassedToService": "lambda.amazonaws.com"},
    ),
    "replace prod's function code": ("lambda:UpdateFunctionCode", PROD_FUNCTION, {}),
    "change prod's function configuration": ("lambda:UpdateFunctionConfiguration", PROD_FUNCTION, {}),
    "scan prod's table": ("dynamodb:Scan", PROD_TABLE, {}),
    "delete prod's table": ("dynamodb:DeleteTable", PROD_TABLE, {}),
    "rewrite prod's key policy": ("kms:PutKeyPolicy", PROD_KEY, tagged("prod")),
    "schedule prod's key for deletion": ("kms:ScheduleKeyDeletion", PROD_KEY, tagged("prod")),
    "decrypt with prod's key": ("kms:Decrypt", PROD_KEY, tagged("prod")),
    "grant on prod's key": ("kms:CreateGrant", PROD_KEY, tagged("prod")),
    "grant on prod's key through DynamoDB": (
        "kms:CreateGrant",
        PROD_KEY,
        {**tagged("prod"), "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"},
    ),
    "retag prod's key as dev's": (
        "kms:TagResource",
        PROD_KEY,
        {
            **tagged("prod"),
            f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE,
            f"aws:RequestTag/{STAGE_TAG_KEY}": "dev",
            "aws:TagKeys": [APP_TAG_KEY, STAGE_TAG_KEY],
        },
    ),
}


def decide(
    principal: str, policies: list[dict[str, Any]], boundary: dict[str, Any], probe: str, own_boundary: str
) -> Any:
    action, resource, extra = PROBES[probe]
    context = {k: (v.format(boundary=own_boundary) if isinstance(v, str) else v) for k, v in extra.items()}
    context = {
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalArn": principal,
        "aws:ResourceAccount": ACCOUNT,
        **context,
    }
    return evaluate(Request(action, resource, context, principal_arn=principal), policies, boundary=boundary)


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_devs_execution_role_is_denied_on_prods_resources(probe):
    # GIVEN dev's execution role with dev's policies, within dev's boundary (dev's own bootstrap)
    policies, boundary = set_policies("dev")
    # WHEN it makes a call on a prod resource of the same account
    decision = decide(exec_role_arn(QUALIFIERS["dev"]), policies, boundary, probe, boundary_arn("dev"))
    # THEN the call is denied
    assert not decision, f"{probe}: {decision.reason}"


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_prods_execution_role_is_allowed_the_same_calls(probe):
    # GIVEN prod's execution role with prod's policies, within prod's boundary
    policies, boundary = set_policies("prod")
    # WHEN it makes the same call on its own resource THEN it is allowed, but a dev-tag retag
    decision = decide(exec_role_arn(QUALIFIERS["prod"]), policies, boundary, probe, boundary_arn("prod"))
    if probe == "retag prod's key as dev's" or probe == "decrypt with prod's key":
        # Neither is a deploy's call: tagging a key with another stage is denied to prod's role too,
        # and a decrypt outside DynamoDB needs the key's policy, not this role.
        return
    assert decision, f"{probe}: {decision.reason}"


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_under_one_shared_execution_role_the_same_calls_were_allowed(probe):
    # GIVEN the base files as one set for both stages, and its one execution role (the layout this
    # replaces: CDK's default qualifier for every stage)
    principal = exec_role_arn(PIPELINE_QUALIFIER)
    # WHEN the execution role makes the call on prod's resource
    decision = decide(principal, BASE_POLICIES, BASE_BOUNDARY, probe, boundary_arn(None))
    # THEN it is allowed: the shared set is why each stage has its own
    if probe in ("retag prod's key as dev's", "decrypt with prod's key"):
        return
    assert decision, f"{probe}: {decision.reason}"


# A role a dev template creates, named as dev's, under dev's boundary, with an inline `*:*`.
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Anything-RANDOMSUFFIX"
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize(
    ("action", "resource", "extra"),
    [
        ("lambda:UpdateFunctionCode", PROD_FUNCTION, {}),
        ("lambda:InvokeFunction", PROD_FUNCTION, {}),
        ("dynamodb:Scan", PROD_TABLE, {}),
        ("dynamodb:GetItem", PROD_TABLE, {}),
        ("s3:GetObject", PROD_BUCKET + "/uploads/file.pdf", {}),
        ("s3:PutBucketPolicy", PROD_BUCKET, {}),
        ("kms:Decrypt", PROD_KEY, tagged("prod")),
        ("sts:AssumeRole", PROD_ROLE, {}),
        ("iam:PutRolePolicy", PROD_ROLE, {"iam:PermissionsBoundary": boundary_arn("prod")}),
        ("kms:PutKeyPolicy", PROD_KEY, tagged("prod")),
    ],
)
def test_a_dev_named_role_with_everything_is_denied_prods_resources(action, resource, extra):
    # GIVEN a role a dev template creates (dev's name, dev's boundary) with an inline `*:*`
    _, boundary = set_policies("dev")
    context = {
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalArn": DEV_ROLE,
        "aws:ResourceAccount": ACCOUNT,
        **extra,
    }
    # WHEN it acts on a prod resource THEN it is denied
    decision = evaluate(
        Request(action, resource, context, principal_arn=DEV_ROLE), [EVERYTHING], boundary=boundary
    )
    assert not decision, f"{action} {resource}: {decision.reason}"


@pytest.mark.parametrize("boundary_stage", ["prod", None])
def test_dev_cannot_create_a_role_under_another_boundary(boundary_stage):
    # GIVEN dev's execution role, and a dev-named role to be created with prod's (or the pipeline's)
    # boundary, which allows prod's names
    policies, boundary = set_policies("dev")
    principal = exec_role_arn(QUALIFIERS["dev"])
    context = {
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalArn": principal,
        "aws:ResourceAccount": ACCOUNT,
        "iam:PermissionsBoundary": boundary_arn(boundary_stage),
    }
    # WHEN it creates the role, or puts a policy on it THEN both are denied
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"):
        decision = evaluate(
            Request(action, DEV_ROLE, context, principal_arn=principal), policies, boundary=boundary
        )
        assert not decision, f"{action}: {decision.reason}"
    # AND with dev's own boundary it is allowed (the probe is a real call)
    context["iam:PermissionsBoundary"] = boundary_arn("dev")
    assert evaluate(
        Request("iam:CreateRole", DEV_ROLE, context, principal_arn=principal), policies, boundary=boundary
    )


def test_devs_execution_role_cannot_edit_prods_guardrails():
    # GIVEN dev's execution role WHEN it would change prod's boundary or execution policy THEN denied
    policies, boundary = set_policies("dev")
    principal = exec_role_arn(QUALIFIERS["dev"])
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal, "aws:ResourceAccount": ACCOUNT}
    for name in ("UploadApiPermissionsBoundary-Prod", "UploadApiCfnExecution-Prod"):
        arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):
            decision = evaluate(
                Request(action, arn, context, principal_arn=principal), policies, boundary=boundary
            )
            # denied by the guardrail itself, not merely because nothing allows it
            assert not decision.allowed
            assert decision.reason.startswith("explicit deny")
            assert "NeverEditTheGuardrails" in decision.reason


KEY_MANAGEMENT = ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey")


@pytest.mark.synth
def test_prods_key_policies_admit_only_prods_execution_role(stacks):
    # GIVEN each KMS key of the synthesized prod stack, with its key policy, tagged as prod's
    raw = stacks["Prod-UploadApi"].template
    model = Template(raw, Env("Prod-UploadApi", ACCOUNT, REGION))
    keys = {k: r for k, r in raw["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
    assert keys
    for logical_id, resource in keys.items():
        key_policy = resolve_document(model, resource["Properties"]["KeyPolicy"])
        key_arn = model.get_att(logical_id, "Arn")
        for stage, allowed in (("dev", False), ("prod", True)):
            policies, boundary = set_policies(stage)
            principal = exec_role_arn(QUALIFIERS[stage])
            context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal, **tagged("prod")}
            for action in KEY_MANAGEMENT:
                # WHEN a stage's execution role manages the key (its policies, boundary and the key policy)
                request = Request(action, key_arn, context, principal_arn=principal)
                decision = evaluate(request, policies, boundary=boundary, resource_policy=key_policy)
                # THEN only prod's is allowed
                assert decision.allowed is allowed, f"{stage} {action} {logical_id}: {decision.reason}"
        # AND dev's is refused by the key policy alone, even with an identity policy allowing everything
        dev = exec_role_arn(QUALIFIERS["dev"])
        request = Request("kms:PutKeyPolicy", key_arn, {"aws:PrincipalArn": dev}, principal_arn=dev)
        assert not evaluate(request, [EVERYTHING], resource_policy=key_policy)


PROD_API = f"arn:aws:apigateway:{REGION}::/restapis/prodapi01"
# What the pipeline stack's deploy (SelfMutate, the pipeline account's execution role) could ask of
# prod's resources when the stages share the pipeline's account: each carries prod's stage tag.
PIPELINE_PROBES: dict[str, tuple[str, str]] = {
    "add a method to prod's API": ("apigateway:PUT", f"{PROD_API}/resources/abc/methods/GET"),
    "deploy prod's API": ("apigateway:POST", f"{PROD_API}/deployments"),
    "replace prod's API policy": ("apigateway:UpdateRestApiPolicy", PROD_API),
    "delete prod's API": ("apigateway:DELETE", PROD_API),
    "delete prod's scanning plan": (
        "guardduty:DeleteMalwareProtectionPlan",
        f"arn:aws:guardduty:{REGION}:{ACCOUNT}:malware-protection-plan/prodplan01",
    ),
    "delete prod's log group": (
        "logs:DeleteLogGroup",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:API-Gateway-Execution-Logs_prodapi01/prod",
    ),
}


@pytest.mark.parametrize("probe", sorted(PIPELINE_PROBES))
def test_the_pipelines_execution_role_is_denied_on_prods_tagged_resources(probe):
    # GIVEN the pipeline account's execution role (the pipeline set's policies within its boundary),
    # which deploys only the pipeline stack, and a call on a resource tagged as prod's
    policies, boundary = set_policies("pipeline")
    principal = exec_role_arn(PIPELINE_QUALIFIER)
    action, resource = PIPELINE_PROBES[probe]
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal, **tagged("prod")}
    decision = evaluate(
        Request(action, resource, context, principal_arn=principal), policies, boundary=boundary
    )
    # THEN it is denied by the pipeline set's own wall, not merely unallowed
    assert not decision.allowed
    assert "NoStagesResources" in decision.reason


def test_the_pipelines_execution_role_cannot_tag_anything_as_a_stages():
    policies, boundary = set_policies("pipeline")
    principal = exec_role_arn(PIPELINE_QUALIFIER)
    context = {
        "aws:PrincipalAccount": ACCOUNT,
        "aws:PrincipalArn": principal,
        f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE,
        f"aws:RequestTag/{STAGE_TAG_KEY}": "prod",
        "aws:TagKeys": [APP_TAG_KEY, STAGE_TAG_KEY],
    }
    request = Request(
        "apigateway:POST", f"arn:aws:apigateway:{REGION}::/restapis", context, principal_arn=principal
    )
    decision = evaluate(request, policies, boundary=boundary)
    assert not decision.allowed
    assert "NoStagesTags" in decision.reason


PROD_LOG_GROUPS = (
    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:API-Gateway-Execution-Logs_prodapi01/prod",
    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:Prod-UploadApi-ApiAccessLogsA1B2C3D4-RANDOM",
)


@pytest.mark.parametrize("action", ["logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogStream"])
def test_a_dev_role_still_cannot_change_prods_log_groups(action):
    # GIVEN a role a dev template creates, with `*:*`, under dev's boundary
    _, boundary = set_policies("dev")
    principal = f"arn:aws:iam::{ACCOUNT}:role/Dev-UploadApi-Anything-RANDOM"
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal, **tagged("prod")}
    star = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    request = Request(action, PROD_LOG_GROUPS[0], context, principal_arn=principal)
    # THEN changing prod's log groups stays denied by the stage wall
    decision = evaluate(request, [star], boundary=boundary)
    assert not decision.allowed
    assert "NoOtherStagesResources" in decision.reason


GUARDDUTY_RULE = (
    f"arn:aws:events:{REGION}:{ACCOUNT}:rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3prodplan01"
)


@pytest.mark.parametrize(
    ("set_name", "principal_name"),
    [("dev", "Dev-UploadApi-Anything-RANDOM"), ("pipeline", "UploadApiPipeline-Anything-RANDOM")],
    ids=["a dev template's role (dev scans no uploads)", "a pipeline template's role (no scanning plan)"],
)
@pytest.mark.parametrize(
    "action", ["events:PutRule", "events:DisableRule", "events:RemoveTargets", "events:DeleteRule"]
)
def test_a_set_without_scanning_cannot_touch_guardduty_scanning_rules(set_name, principal_name, action):
    # GIVEN a role a template of a set without a scanning plan creates, with `*:*`, under that set's
    # boundary, and the EventBridge rule GuardDuty creates, untagged, for prod's scanning plan
    _, boundary = set_policies(set_name)
    principal = f"arn:aws:iam::{ACCOUNT}:role/{principal_name}"
    context = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": principal}
    star = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    request = Request(action, GUARDDUTY_RULE, context, principal_arn=principal)
    # THEN it cannot change the rule: the set's boundary does not name GuardDuty's rules
    assert not evaluate(request, [star], boundary=boundary).allowed
