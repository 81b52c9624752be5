"""What scopes the deploy: the permissions boundary every role carries, and the app's tag.

The boundary policy (bootstrap/permissions-boundary.json) is created in each account before
`cdk bootstrap` (docs/bootstrap.md); cdk.json's `@aws-cdk/core:permissionsBoundary` attaches
it, by this name, to every IAM role the app creates. The execution policy
(bootstrap/cfn-execution-policy.json) creates and changes roles only with it attached, and
scopes the services whose resources have no predictable name (KMS keys, CodeBuild projects and
report groups) by this tag, which main.py puts on every taggable resource.
"""

from __future__ import annotations

PERMISSIONS_BOUNDARY_NAME = "UploadApiPermissionsBoundary"
# The role people approve through: a fixed name, so the boundary lets exactly it promote
# (NoPromotionByRole) and ApprovedChangeSet accepts only its sessions (stages/pipeline/approvals.py).
APPROVER_ROLE_NAME = "UploadApiPipeline-Approver"
# Each stage's upload stack's construct id: its stack is `<Stage>-UploadApi`, the name the policies and
# the boundary give its resources (stages/upload_stage.py builds it; tools/dev reads it without the CDK).
UPLOAD_STACK_ID = "UploadApi"
# The execution role's policies (one would pass IAM's 6,144-character managed policy limit).
EXECUTION_POLICY_NAME = "UploadApiCfnExecution"
EXECUTION_RESOURCES_POLICY_NAME = "UploadApiCfnExecutionResources"
# Malware scanning: GuardDuty's plan, its role, the dead-letter queue (cfn-execution-scanning-policy.json).
EXECUTION_SCANNING_POLICY_NAME = "UploadApiCfnExecutionScanning"
APP_TAG_KEY = "upload-api:app"
# Every key the app creates rotates on this period (stages/upload/encryption.py). The execution
# policy pins kms:EnableKeyRotation to it: a key's tag can take five minutes to count, so a first
# deployment turns rotation on before the key is recognizably the app's, and the pinned period is
# what keeps that call from lengthening (or setting at all another) period of another team's key.
# 90 days is KMS's shortest: the one change the call can make to a key not the app's is to turn
# its rotation on, or make it more frequent.
KEY_ROTATION_PERIOD_DAYS = 90
APP_TAG_VALUE = "secure-upload-api"
# Each upload stage's resources also carry this tag (value: the stage, "dev" or "prod"); a stage's
# policies (bootstrap/generated/<stage>/, tools/dev/bootstrap_policies.py) reach only resources
# tagged with their own stage, and their boundary denies every resource tagged with another.
STAGE_TAG_KEY = "upload-api:stage"
# The CDK bootstrap qualifier of the pipeline's own account (CDK's default): the pipeline stack's.
PIPELINE_QUALIFIER = "hnb659fds"
# The guardrail policies, by the name the base files (bootstrap/*.json) are created under in the
# pipeline's account; each upload stage has its own set (`stage_policy_name`), so that in an account
# shared by both stages neither stage's execution role holds the other's policies or boundary.
BASE_POLICY_NAMES = (
    PERMISSIONS_BOUNDARY_NAME,
    EXECUTION_POLICY_NAME,
    EXECUTION_RESOURCES_POLICY_NAME,
    EXECUTION_SCANNING_POLICY_NAME,
)


def stage_policy_name(base_name: str, stage: str | None) -> str:
    """The name of guardrail policy `base_name` in stage `stage`'s set (None: the pipeline's)."""
    if base_name not in BASE_POLICY_NAMES:
        raise ValueError(f"{base_name} is not one of the guardrail policies {BASE_POLICY_NAMES}")
    return base_name if stage is None else f"{base_name}-{stage.capitalize()}"


# The permissions boundary of each bootstrap's CDK deploy, file-publishing, image-publishing and lookup
# roles (bootstrap/generated/<set>/bootstrap-roles-boundary.json): named after the set's boundary, the
# one name `cdk bootstrap` passes (--custom-permissions-boundary), so the bootstrap template derives it
# (tools/dev/bootstrap_template.py). Its `UploadApi` prefix puts it among the guardrails no bounded
# role may edit.
BOOTSTRAP_ROLES_BOUNDARY_SUFFIX = "-BootstrapRoles"


def bootstrap_roles_boundary_name(stage: str | None) -> str:
    """The name of the bootstrap roles' boundary in stage `stage`'s set (None: the pipeline's)."""
    return stage_policy_name(PERMISSIONS_BOUNDARY_NAME, stage) + BOOTSTRAP_ROLES_BOUNDARY_SUFFIX
