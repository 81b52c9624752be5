"""What the CDK bootstrap roles are for, allowed within their ceiling (bootstrap-roles-boundary.json),
decided by the project's IAM evaluator as bootstrap/cdk/bootstrap-template.json deploys it: every call
the CLI template's own statements for the deploy, file-publishing and image-publishing roles are
there for, made concrete on this app's resources, and every read of the lookup role's users.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.iam.bootstrap_roles import (
    BOOTSTRAPS,
    IDS,
    KEY_ID,
    REGION,
    Bootstrap,
    decide,
    deployed_boundary,
    granting,
    own_policies,
)
from tools.dev import bootstrap_roles_boundary as brb
from tools.review_kit.iam.arns import Env, generated_name

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


@pytest.mark.synth
def test_the_ceilings_stacks_and_artifact_bucket_are_the_synthesized_apps(stacks):
    # GIVEN the synthesized app (cdk.json's context)
    # THEN each bootstrap's ceiling names a stack the app deploys, and every stack is named by one
    assert {brb.stack_name(stage) for stage in (None, "dev", "prod")} == set(stacks)
    # AND the pipeline's artifact store is the bucket a stage's ceiling names (CloudFormation
    # generates its name from the stack and the logical id, lowercased)
    pipeline = stacks[brb.stack_name(None)]
    (store,) = {
        json.dumps(s["ArtifactStore"]["Location"])
        for r in pipeline.resources.values()
        if r.type == "AWS::CodePipeline::Pipeline"
        for s in [r.properties]
    }
    (bucket_id,) = [lid for lid in pipeline.resources if f'"{lid}"' in store]
    name = generated_name(Env(pipeline.stack_name, "1", REGION), bucket_id, "AWS::S3::Bucket")
    assert fnmatch.fnmatchcase(name, brb.ARTIFACT_BUCKET), name
