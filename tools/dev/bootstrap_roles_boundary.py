"""The ceiling of one bootstrap's CDK deploy, file-publishing, image-publishing and lookup roles.

`cdk bootstrap` gives those roles the CLI's own policies: the deploy role CloudFormation on every
stack of the account, `iam:PassRole` of the execution role, every S3 bucket of another account
(the pipeline's artifacts) and AWSCloudFormationReadOnlyAccess; the lookup role ReadOnlyAccess.
bootstrap/cdk/bootstrap-template.json (tools/dev/bootstrap_template.py) puts this policy on the
four roles as their permissions boundary, under the name `<the set's boundary>-BootstrapRoles`
(stages/guardrails.py `bootstrap_roles_boundary_name`);
tools/dev/bootstrap_policies.py writes it to bootstrap/generated/<set>/bootstrap-roles-boundary.json.

What it allows, all in the bootstrap's own account unless said otherwise (the union of what the four
roles' own policies are used for; each role keeps only what its own policy grants within it):

- CloudFormation on the set's own stack (the pipeline set: `UploadApiPipeline`; a stage's:
  `Dev-UploadApi` or `Prod-UploadApi`): change sets, stack create, update, delete, rollback,
  termination protection, and its reads (`Describe*`, `Get*`, `List*`: `cdk diff`, the change
  gates, Preflight's `DescribeStackResources`, GetTemplate of a change set); `DescribeStacks` of
  the account's `CDKToolkit` stack, which the CLI reads; on every other stack, nothing;
- `iam:PassRole` of the qualifier's execution role, to CloudFormation only;
- S3 on the qualifier's staging bucket (`cdk-<qualifier>-assets-<account>-*`) in this account and,
  in a stage's set, on the pipeline's artifact bucket (`uploadapipipeline-artifactbucket*`) in the
  pipeline's account (cdk.json's `uploadApi.pipeline.account`; the bootstrap's own while the stages
  share it; any while only the stage's is set); KMS data calls only through S3 (`kms:ViaService`)
  on those accounts' keys: the staging key, and the artifact key;
- ECR on the qualifier's container-assets repository (the image-publishing role's policy);
- `ssm:GetParameter(s)` on `/cdk-bootstrap/<qualifier>/*` (the bootstrap version the CLI checks);
- in a stage's set, what its Preflight reads through the lookup role besides the stack and the
  version (tools/pipeline_checks/preflight/facts.py): Lambda's account settings, the stack's
  functions' reserved concurrency, API Gateway's `/account`, GuardDuty's plan list.

No statement allows `sts:AssumeRole`, any other IAM call, or any other service; a Deny refuses every
request that tags with an `aws-cdk:` key (a bootstrap role's trust is read by that tag).
"""

from __future__ import annotations

from typing import Any

from stages.guardrails import UPLOAD_STACK_ID
from tools.dev.bootstrap_template import PIPELINE_STACK

FILE = "bootstrap-roles-boundary.json"
OWN = "${aws:PrincipalAccount}"
TOOLKIT_STACK = "CDKToolkit"  # the CLI's default bootstrap stack name
# The pipeline's artifact bucket (stages/pipeline/stack.py `ArtifactBucket`): CloudFormation names it
# `{stack}-{logicalid}-{random}`, lowercased.
ARTIFACT_BUCKET = f"{PIPELINE_STACK.lower()}-artifactbucket*"
# What the deploy role's policy and AWSCloudFormationReadOnlyAccess allow on a stack, and the CLI's
# delete and termination protection (its `CliPermissions`).
STACK_ACTIONS = [
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:CreateChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:Describe*",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:Get*",
    "cloudformation:List*",
    "cloudformation:RollbackStack",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateTerminationProtection",
]
# The staging bucket's (file-publishing role) and the artifact bucket's (deploy role) object calls.
BUCKET_ACTIONS = [
    "s3:Abort*",
    "s3:DeleteObject*",
    "s3:GetBucket*",
    "s3:GetEncryptionConfiguration",
    "s3:GetObject*",
    "s3:List*",
    "s3:PutObject*",
]
KEY_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
ECR_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]


def stack_name(stage: str | None) -> str:
    """The one stack a bootstrap deploys: the pipeline's, or the stage's upload stack."""
    return PIPELINE_STACK if stage is None else f"{stage.capitalize()}-{UPLOAD_STACK_ID}"


def artifact_account(stage_account: str | None, pipeline_account: str | None) -> str:
    """The account of the pipeline's artifact bucket and key, as a stage's policy names it."""
    if pipeline_account:
        return pipeline_account
    # Unset: a stage without an account is in the pipeline's; one with an account is not, and the
    # pipeline's is unknown here.
    return OWN if not stage_account else "*"


def document(
    stage: str | None,
    qualifier: str,
    *,
    stage_account: str | None = None,
    pipeline_account: str | None = None,
) -> dict[str, Any]:
    """The policy of the bootstrap with `qualifier` (`stage` None: the pipeline's)."""
    statements = [
        *_stack(stack_name(stage)),
        {
            "Sid": "PassExecRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:*:iam::{OWN}:role/cdk-{qualifier}-cfn-exec-role-{OWN}-*",
            "Condition": {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        },
        _buckets(f"cdk-{qualifier}-assets-{OWN}-*", OWN, "StagingBucket"),
        {
            "Sid": "BootstrapVersion",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": f"arn:*:ssm:*:{OWN}:parameter/cdk-bootstrap/{qualifier}/*",
        },
        {
            "Sid": "ContainerAssets",
            "Effect": "Allow",
            "Action": ECR_ACTIONS,
            "Resource": f"arn:*:ecr:*:{OWN}:repository/cdk-{qualifier}-container-assets-{OWN}-*",
        },
        {
            "Sid": "Anywhere",
            "Effect": "Allow",
            # No resource: ECR's login, the caller's identity; Preflight's account-wide reads.
            "Action": ["ecr:GetAuthorizationToken", "sts:GetCallerIdentity"]
            + (
                [] if stage is None else ["guardduty:ListMalwareProtectionPlans", "lambda:GetAccountSettings"]
            ),
            "Resource": "*",
        },
    ]
    key_accounts = [OWN]
    if stage is not None:
        account = artifact_account(stage_account, pipeline_account)
        statements.append(_buckets(ARTIFACT_BUCKET, account, "ArtifactBucket"))
        key_accounts = list(dict.fromkeys([OWN, account]))
        statements.extend(_preflight(stack_name(stage)))
    statements.insert(4, _keys(key_accounts))
    statements.append(
        {
            "Sid": "NoCdkTags",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": "aws-cdk:*"}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def _stack(stack: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "OwnStack",
            "Effect": "Allow",
            "Action": STACK_ACTIONS,
            "Resource": f"arn:*:cloudformation:*:{OWN}:stack/{stack}/*",
        },
        {
            # The CLI (`cdk deploy`, `cdk-assets`) describes the account's default bootstrap stack
            # through the deploy role, whatever the qualifier (seen in `make rehearse`).
            "Sid": "ToolkitStack",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": f"arn:*:cloudformation:*:{OWN}:stack/{TOOLKIT_STACK}/*",
        },
    ]


def _buckets(name: str, account: str, sid: str) -> dict[str, Any]:
    """The bucket calls on buckets named `name` in `account` (`*`: any)."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": BUCKET_ACTIONS,
        "Resource": [f"arn:*:s3:::{name}", f"arn:*:s3:::{name}/*"],
    }
    if account != "*":
        statement["Condition"] = {"StringEquals": {"aws:ResourceAccount": account}}
    return statement


def _keys(accounts: list[str]) -> dict[str, Any]:
    """KMS data calls S3 makes for the buckets above (SSE-KMS), on the keys of `accounts`."""
    return {
        "Sid": "BucketKeys",
        "Effect": "Allow",
        "Action": KEY_ACTIONS,
        "Resource": [f"arn:*:kms:*:{account}:key/*" for account in accounts],
        "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
    }


def _preflight(stack: str) -> list[dict[str, Any]]:
    """What a stage's Preflight reads through the lookup role, besides its stack and the version."""
    return [
        {
            "Sid": "PreflightReads",
            "Effect": "Allow",
            "Action": "lambda:GetFunctionConcurrency",
            "Resource": f"arn:*:lambda:*:{OWN}:function:{stack}-*",
        },
        {
            "Sid": "PreflightAccount",
            "Effect": "Allow",
            "Action": "apigateway:GET",
            "Resource": "arn:*:apigateway:*::/account",
        },
    ]
