"""Whom a stage account's bootstrap roles trust, bootstrapped from bootstrap/cdk/bootstrap-template.json
as docs/bootstrap.md says (`--trust PIPELINE_ACCOUNT`), decided by the project's IAM evaluator.

The pipeline is synthesized with the pipeline, dev and prod in three accounts. Each proof that a
principal is refused first shows that the CLI's stock template admits it: the test fails against
the stock trust. The pipeline's roles are evaluated with their own synthesized policies and the
permissions boundary: those that assume a bootstrap role still can, and they are exactly the roles
tools/dev/bootstrap_template.py names (so a pipeline change that moves a grant fails here).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from stages.guardrails import (
    PERMISSIONS_BOUNDARY_NAME,
    PIPELINE_QUALIFIER,
    bootstrap_roles_boundary_name,
    stage_policy_name,
)
from stages.settings import DEFAULT_BOOTSTRAP_QUALIFIERS
from tests.iam.conftest import set_policies, template_roles
from tools.dev import bootstrap_policies
from tools.dev import bootstrap_template as bt
from tools.review_kit.iam.arns import Env
from tools.review_kit.iam.evaluator import Request, evaluate

PIPELINE_ACCOUNT, DEV_ACCOUNT, PROD_ACCOUNT, OTHER_ACCOUNT = (
    "333333333333",
    "111111111111",
    "222222222222",
    "444444444444",
)
REGION = "us-east-1"
THREE_ACCOUNTS = {
    "pipeline": {"account": PIPELINE_ACCOUNT, "region": REGION},
    "stages": {
        "dev": {"account": DEV_ACCOUNT, "region": REGION},
        "prod": {"account": PROD_ACCOUNT, "region": REGION},
    },
}
KIND = {
    "DeploymentActionRole": "deploy",
    "FilePublishingRole": "file-publishing",
    "ImagePublishingRole": "image-publishing",
    "LookupRole": "lookup",
}
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# Each account's bootstrap: the pipeline's (CDK's default qualifier) and each stage's own
# (cdk.json's bootstrapQualifier), with its own boundary (bootstrap/generated/<set>/).
QUALIFIER = {
    PIPELINE_ACCOUNT: PIPELINE_QUALIFIER,
    DEV_ACCOUNT: DEFAULT_BOOTSTRAP_QUALIFIERS["dev"],
    PROD_ACCOUNT: DEFAULT_BOOTSTRAP_QUALIFIERS["prod"],
}
PIPELINE_BOUNDARY = set_policies("pipeline")[1]
PROD_BOUNDARY = set_policies("prod")[1]


def stage_bootstrap(account: str) -> bt.Bootstrap:
    """docs/bootstrap.md's command for a stage account: `--trust PIPELINE_ACCOUNT`."""
    return bt.Bootstrap(account=account, trusted_accounts=[PIPELINE_ACCOUNT])


def bootstrap_role_arn(role_id: str, account: str) -> str:
    return f"arn:aws:iam::{account}:role/cdk-{QUALIFIER[account]}-{KIND[role_id]}-role-{account}-{REGION}"


def may_assume(
    template: Mapping[str, Any],
    role_id: str,
    principal_arn: str,
    *,
    account: str = PROD_ACCOUNT,
    identity: list[Mapping[str, Any]] | None = None,
    boundary: Mapping[str, Any] | None = None,
) -> bool:
    """Whether `principal_arn` may assume the stage account's bootstrap role `role_id`."""
    trust = bt.trust_policy(template, role_id, stage_bootstrap(account))
    # The bootstrap roles carry the tag the CDK Pipelines roles' AssumeRole grants select by.
    context = {"iam:ResourceTag/aws-cdk:bootstrap-role": KIND[role_id]}
    request = Request(
        "sts:AssumeRole", bootstrap_role_arn(role_id, account), context, principal_arn=principal_arn
    )
    policies = [STAR] if identity is None else identity
    return evaluate(request, policies, boundary=boundary, resource_policy=trust).allowed


@pytest.fixture(scope="module")
def pipeline_roles(synth_pipeline) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Every role of the three-account pipeline stack: logical id -> (ARN, its resolved policies)."""
    raw = synth_pipeline(**THREE_ACCOUNTS).template.to_json()
    roles = template_roles(raw, Env(bt.PIPELINE_STACK, PIPELINE_ACCOUNT, REGION))
    return {lid: (role.arn, role.policies) for lid, role in roles.items()}


def named(role_id: str) -> set[str]:
    return {role.logical_id for role in bt.TRUSTED_PIPELINE_ROLES[role_id]}


@pytest.mark.synth
@pytest.mark.parametrize("role_id", sorted(KIND))
def test_the_pipeline_roles_that_assume_a_bootstrap_role_still_can_and_are_the_named_ones(
    committed, stock, pipeline_roles, role_id
):
    # GIVEN each role of the pipeline stack with its own policies and the pipeline's permissions boundary
    def admitted(template: Mapping[str, Any], account: str) -> set[str]:
        return {
            lid
            for lid, (arn, policies) in pipeline_roles.items()
            if may_assume(
                template, role_id, arn, account=account, identity=policies, boundary=PIPELINE_BOUNDARY
            )
        }

    granted: set[str] = set()
    for account in (DEV_ACCOUNT, PROD_ACCOUNT):
        # WHEN each asks for the stage's bootstrap role under the CLI's trust (the whole pipeline
        # account: what the pipeline's own grants reach) and under the committed one
        reached = admitted(stock, account)
        # THEN the committed trust admits exactly the same roles
        assert admitted(committed, account) == reached, account
        granted |= reached
    # AND across both stages they are the roles the module names (one template serves both)
    assert granted == named(role_id)


@pytest.mark.synth
@pytest.mark.parametrize("role_id", sorted(KIND))
def test_a_pipeline_role_allowed_everything_reaches_a_bootstrap_role_only_if_named(
    committed, stock, pipeline_roles, role_id
):
    # GIVEN every role of the pipeline stack, each given `*:*` (what an edited policy could grant)
    def admitted(template: Mapping[str, Any]) -> set[str]:
        return {lid for lid, (arn, _) in pipeline_roles.items() if may_assume(template, role_id, arn)}

    # WHEN each asks for prod's bootstrap role: the CLI's trust admits all of them
    assert admitted(stock) == set(pipeline_roles)
    # THEN the committed trust admits only the roles named for that bootstrap role (and, for the
    # lookup role, the one role CloudFormation gives the same name prefix as the permission check's)
    assert admitted(committed) == named(role_id) | SAME_GENERATED_NAME.get(role_id, set())


# CloudFormation keeps 33 characters of a logical id in a role's generated name here; the permission
# check's role and CDK Pipelines' auto-approve function's role share their first 33, so no name
# pattern tells them apart (docs/delivery-trust.md). The lookup role is read-only.
SAME_GENERATED_NAME = {
    "LookupRole": {"PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRoleC48D6A44"}
}


NOT_THE_PIPELINE = {
    "another role of the pipeline account": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/Administrator",
    "an IAM user of the pipeline account": f"arn:aws:iam::{PIPELINE_ACCOUNT}:user/alice",
    "the pipeline account's root": f"arn:aws:iam::{PIPELINE_ACCOUNT}:root",
    "a pipeline role that assumes no bootstrap role": (
        f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/UploadApiPipeline-Verify-prod"
    ),
    "a role named like the pipeline's stack only": (
        f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/UploadApiPipeline-Anything-RANDOMSUFFIX"
    ),
    # A role's path is part of its ARN: a path starting with a named role's pattern would match it.
    "a role whose path starts like the pipeline's role": (
        f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/UploadApiPipeline-PipelineRoleB27FAA37-x/anyone"
    ),
    "a role whose path starts like the lookup readers": (
        f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/UploadApiPipeline-DevPreflightRole903FD943-x/anyone"
    ),
}


@pytest.mark.parametrize("principal", NOT_THE_PIPELINE.values(), ids=list(NOT_THE_PIPELINE))
@pytest.mark.parametrize("role_id", sorted(KIND))
def test_a_principal_of_the_pipeline_account_not_named_cannot_assume_prods_bootstrap_roles(
    committed, stock, role_id, principal
):
    # GIVEN a principal of the pipeline account whose identity policy allows everything:
    # the CLI's `--trust PIPELINE_ACCOUNT` lets it assume prod's bootstrap role
    assert may_assume(stock, role_id, principal)
    # WHEN prod is bootstrapped from the committed template THEN it cannot
    assert not may_assume(committed, role_id, principal)


def test_the_deploy_roles_trust_needs_the_principal_arn_not_just_the_account(committed):
    # GIVEN prod's deploy role trust from the committed template
    trust = bt.trust_policy(committed, "DeploymentActionRole", stage_bootstrap(PROD_ACCOUNT))
    pipeline_role = next(r.arn_pattern for r in bt.TRUSTED_PIPELINE_ROLES["DeploymentActionRole"])
    # THEN every statement naming the pipeline account holds only for the named roles
    foreign = [s for s in trust["Statement"] if s["Principal"]["AWS"] == [PIPELINE_ACCOUNT]]
    assert len(foreign) == 2
    assert all(pipeline_role in s["Condition"]["ArnLike"]["aws:PrincipalArn"] for s in foreign)
    # AND a named role of another account is not admitted (the Principal is the pipeline account)
    assert not may_assume(
        committed,
        "DeploymentActionRole",
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/UploadApiPipeline-PipelineRoleB27FAA37-RANDOMSUFFIX",
    )


@pytest.mark.parametrize("role_id", sorted(KIND))
def test_the_pipeline_accounts_own_bootstrap_trusts_as_the_clis(committed, stock, role_id):
    # GIVEN the pipeline account bootstrapped without --trust (a person deploys the pipeline stack)
    own = bt.Bootstrap(account=PIPELINE_ACCOUNT)
    # THEN its roles trust exactly what the CLI's template makes them trust: the account itself
    assert bt.trust_policy(committed, role_id, own) == bt.trust_policy(stock, role_id, own)
    person = f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/Administrator"
    trust = bt.trust_policy(committed, role_id, own)
    request = Request("sts:AssumeRole", bootstrap_role_arn(role_id, PIPELINE_ACCOUNT), principal_arn=person)
    assert evaluate(request, [STAR], resource_policy=trust).allowed


def test_the_apps_boundary_would_stop_the_deploy_role_so_its_own_ceiling_is_put_on_it(committed):
    # (prod's boundary: the one `--apply-permissions-boundary-to-all-roles` would put on prod's roles)
    # GIVEN the deploy role's calls in a pipeline deploy of prod: pass the execution role to
    # CloudFormation, create the change set, read the pipeline's artifact in the pipeline account
    # (whose bucket policy, as CDK Pipelines writes it, grants the stage's deploy role)
    deploy_role = bootstrap_role_arn("DeploymentActionRole", PROD_ACCOUNT)
    artifact = "arn:aws:s3:::uploadapipipeline-artifactbucket-x/Synth_Output/abc"
    bucket_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject*",
                "Resource": artifact,
                "Principal": {"AWS": deploy_role},
            }
        ]
    }
    calls = [
        (
            Request(
                "iam:PassRole",
                f"arn:aws:iam::{PROD_ACCOUNT}:role/cdk-{QUALIFIER[PROD_ACCOUNT]}-cfn-exec-role-{PROD_ACCOUNT}-{REGION}",
                {"iam:PassedToService": "cloudformation.amazonaws.com"},
                deploy_role,
            ),
            None,
        ),
        (
            Request(
                "cloudformation:CreateChangeSet",
                f"arn:aws:cloudformation:{REGION}:{PROD_ACCOUNT}:stack/Prod-UploadApi/id",
                {},
                deploy_role,
            ),
            None,
        ),
        (
            Request("s3:GetObject", artifact, {"aws:ResourceAccount": PIPELINE_ACCOUNT}, deploy_role),
            bucket_policy,
        ),
    ]
    # WHEN each is evaluated with and without the app's permissions boundary
    # THEN each is allowed without it and denied within it: the boundary is not applied to the
    # bootstrap roles (ApplyPermissionsBoundaryToAllRoles stays the CLI's "false")
    assert all(evaluate(call, [STAR], resource_policy=policy).allowed for call, policy in calls)
    assert not any(
        evaluate(call, [STAR], boundary=PROD_BOUNDARY, resource_policy=policy).allowed
        for call, policy in calls
    )
    assert committed["Parameters"]["ApplyPermissionsBoundaryToAllRoles"]["Default"] == "false"
    # AND within the boundary the committed template does put on it (prod's bootstrap roles'
    # ceiling, cdk.json naming these three accounts) each is allowed
    given = bt.Bootstrap(
        PROD_ACCOUNT, permissions_boundary=stage_policy_name(PERMISSIONS_BOUNDARY_NAME, "prod")
    )
    arn = bt.role_boundary(committed, "DeploymentActionRole", given)
    assert arn == f"arn:aws:iam::{PROD_ACCOUNT}:policy/{bootstrap_roles_boundary_name('prod')}"
    ceiling = prod_bootstrap_roles_ceiling()
    for call, policy in calls:
        decision = evaluate(call, [STAR], boundary=ceiling, resource_policy=policy)
        assert decision.allowed, f"{call.action}: {decision.reason}"


def prod_bootstrap_roles_ceiling() -> dict[str, Any]:
    """Prod's bootstrap-roles-boundary.json as `make bootstrap-policies` writes it for THREE_ACCOUNTS."""
    context = copy.deepcopy(bootstrap_policies.cdk_json_context())
    context["pipeline"].update(account=PIPELINE_ACCOUNT, region=REGION, sharedAccountReason=None)
    for stage in ("dev", "prod"):
        context["stages"][stage].update(THREE_ACCOUNTS["stages"][stage])
    (prod,) = [s for s in bootstrap_policies.policy_sets(context) if s.stage == "prod"]
    return dict(
        json.loads(bootstrap_policies.rendered(prod)[prod.directory / "bootstrap-roles-boundary.json"])
    )


@pytest.mark.parametrize(
    ("logical_id", "generated"),
    [
        ("PipelineRoleB27FAA37", "UploadApiPipeline-PipelineRoleB27FAA37-1A2B3C4D5E6F"),
        # CloudFormation cuts a long logical id: 32 or 33 of its characters kept, as seen on AWS
        (
            "PipelineUpdatePipelineSelfMutationRole57E559E8",
            "UploadApiPipeline-PipelineUpdatePipelineSelfMutati-VUFYWAW94ECJ",
        ),
        (
            "PipelineUpdatePipelineSelfMutationRole57E559E8",
            "UploadApiPipeline-PipelineUpdatePipelineSelfMutatio-ypVtpbFtU9Iw",
        ),
    ],
)
def test_a_pattern_matches_the_name_cloudformation_generates(logical_id, generated):
    from tools.review_kit.iam.evaluator import arn_matches

    pattern = bt.PipelineRole(logical_id, "").arn_pattern
    assert arn_matches(pattern, f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/{generated}")
    assert not arn_matches(pattern, f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/UploadApiPipeline-PipelineRole-X")
