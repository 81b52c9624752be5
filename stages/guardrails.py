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
# The execution role's two policies (one would pass IAM's 6,144-character managed policy limit).
EXECUTION_POLICY_NAME = "UploadApiCfnExecution"
EXECUTION_RESOURCES_POLICY_NAME = "UploadApiCfnExecutionResources"
APP_TAG_KEY = "upload-api:app"
APP_TAG_VALUE = "secure-upload-api"
