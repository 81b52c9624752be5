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
