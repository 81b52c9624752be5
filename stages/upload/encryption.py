"""Customer managed KMS keys, the one way this project makes them: rotated every 90 days, retained.

A key given a `KeyAccess` gets a key policy of its own instead of CDK's default (the account
root with kms:*, which lets any IAM policy in the account use and delete the key):

- administrators (the deploy role and `keyAdministratorArns`) manage the key and never use it;
- users are named per key, each through one service and with that service's encryption context;
- scheduling deletion, disabling and changing the key policy are denied to everyone but the
  deploy role and the break-glass roles, and break-glass roles need MFA (unless they are IAM
  Identity Center roles, where MFA is enforced at sign-in: see `human_role_arns`).

Principals are matched by `aws:PrincipalArn` under the account principal, not listed as role
ARNs: KMS pins a listed role to its unique id, so a role deleted and recreated with the same
name (a re-bootstrap) would lose access for good; a condition on the ARN keeps matching it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stages.guardrails import KEY_ROTATION_PERIOD_DAYS

# What managing a key takes, without any use of it: no Encrypt, Decrypt, ReEncrypt,
# GenerateDataKey*, and no CreateGrant (a grant is how one hands oneself Decrypt). Spelled out,
# not `kms:Create*`/`kms:Put*` wildcards, so a new KMS action is not granted unseen. It covers
# every key-level permission CloudFormation's AWS::KMS::Key handlers list (tests/infra/test_keys.py).
ADMIN_ACTIONS = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:PutKeyPolicy",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:UpdateKeyDescription",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
# Each of these can make every object and item encrypted with the key unreadable, hand the key to
# someone else, cut S3's and DynamoDB's grants, strip the tags the execution policy scopes keys by,
# or stop rotation: only the deploy role and break-glass roles may call them.
DESTRUCTIVE_KEY_ACTIONS = (
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:UntagResource",
    "kms:DisableKeyRotation",
)
# IAM Identity Center creates its roles under this path; their sessions carry no
# aws:MultiFactorAuthPresent (MFA is enforced by Identity Center at sign-in, not by STS).
IDENTITY_CENTER_ROLE_PATH = ":role/aws-reserved/sso.amazonaws.com/"


def human_role_arns(role_arns: Sequence[str]) -> list[str]:
    """The roles whose sessions must show MFA: every role but IAM Identity Center's.

    A person reaches a break-glass role by sts:AssumeRole from an IAM user or a federated
    session; STS then records aws:MultiFactorAuthPresent=true only if MFA was used. An Identity
    Center role's session never carries the key, so requiring it would lock the role out.
    """
    return [arn for arn in role_arns if IDENTITY_CENTER_ROLE_PATH not in arn]


def mfa_missing() -> dict[str, dict[str, str]]:
    """True when the request has no MFA: the key is false, or absent (long-term keys, no-MFA sessions)."""
    return {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}


@dataclass(frozen=True)
class KeyAccess:
    """Who manages a key: the deploy role (CloudFormation), named administrators, break-glass roles."""

    deploy_role_arn: str
    administrator_arns: tuple[str, ...] = ()
    break_glass_role_arns: tuple[str, ...] = ()

    @property
    def managers(self) -> list[str]:
        return [self.deploy_role_arn, *self.administrator_arns]


def customer_managed_key(
    scope: Construct, construct_id: str, description: str, *, access: KeyAccess | None = None
) -> kms.Key:
    """A rotated, retained key; with `access`, a key policy that splits management from use.

    The rotation period is the one the execution policy pins kms:EnableKeyRotation to
    (stages/guardrails.py KEY_ROTATION_PERIOD_DAYS): another period would be refused at deploy.

    Without `access` CDK's default policy applies (the account root with kms:*, so IAM policies
    decide): the pipeline stack's keys still use it.
    """
    policy = _managed_key_policy(scope, access) if access else None
    # Retained: data encrypted with a deleted key is lost for good.
    return kms.Key(
        scope,
        construct_id,
        enable_key_rotation=True,
        rotation_period=cdk.Duration.days(KEY_ROTATION_PERIOD_DAYS),
        description=description,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        policy=policy,
    )


def allow_key_use(
    key: kms.IKey,
    sid: str,
    principal_arns: Sequence[str],
    actions: Sequence[str],
    conditions: Mapping[str, Mapping[str, Any]],
) -> None:
    """Let these principals (this account's, matched by ARN) use the key under `conditions`."""
    stack = cdk.Stack.of(key)
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in conditions.items()}
    merged.setdefault("ArnEquals", {})["aws:PrincipalArn"] = list(principal_arns)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.AccountPrincipal(stack.account)],
            actions=list(actions),
            resources=["*"],
            conditions=merged,
        )
    )


def _managed_key_policy(scope: Construct, access: KeyAccess) -> iam.PolicyDocument:
    stack = cdk.Stack.of(scope)
    account = iam.AccountPrincipal(stack.account)
    statements = [
        iam.PolicyStatement(
            sid="KeyAdministration",
            principals=[account],
            actions=list(ADMIN_ACTIONS),
            resources=["*"],
            conditions={"ArnEquals": {"aws:PrincipalArn": access.managers}},
        ),
        iam.PolicyStatement(
            sid="DenyDeletionDisablingAndPolicyChangesExceptDeployAndBreakGlass",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(DESTRUCTIVE_KEY_ACTIONS),
            resources=["*"],
            conditions={
                "ArnNotEquals": {"aws:PrincipalArn": [access.deploy_role_arn, *access.break_glass_role_arns]}
            },
        ),
    ]
    if access.break_glass_role_arns:
        # Break-glass: recover the key (read and replace its policy, re-enable it) in an incident.
        statements.append(
            iam.PolicyStatement(
                sid="BreakGlassKeyRecovery",
                principals=[account],
                actions=[
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:PutKeyPolicy",
                    "kms:EnableKey",
                    "kms:DisableKey",
                ],
                resources=["*"],
                conditions={"ArnEquals": {"aws:PrincipalArn": list(access.break_glass_role_arns)}},
            )
        )
        humans = human_role_arns(access.break_glass_role_arns)
        if humans:
            statements.append(
                iam.PolicyStatement(
                    sid="DenyBreakGlassWithoutMfa",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["kms:*"],
                    resources=["*"],
                    conditions={**mfa_missing(), "ArnEquals": {"aws:PrincipalArn": humans}},
                )
            )
    return iam.PolicyDocument(statements=statements)


def log_group_key(
    scope: Construct, construct_id: str, description: str, *, access: KeyAccess | None = None
) -> kms.Key:
    """A key CloudWatch Logs may use, for this account's log groups in this region only."""
    key = customer_managed_key(scope, construct_id, description, access=access)
    stack = cdk.Stack.of(scope)
    log_groups_here = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsInThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups_here}},
        )
    )
    return key
