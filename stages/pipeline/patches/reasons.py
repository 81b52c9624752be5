"""Why each acknowledged finding on the pipeline stack is acceptable: what compensates.

One reason may serve several scanners (a DLQ reason answers cdk-nag and checkov alike).
"""

from __future__ import annotations

ARTIFACTS = (
    "CDK Pipelines grants pipeline roles access to this pipeline's own artifact bucket; object keys "
    "are generated per execution, so the object wildcard is the bucket's content, which only pipeline "
    "artifacts occupy (KMS-encrypted, TLS-only, public access blocked)."
)
ARTIFACT_KEY = (
    "KMS data-key and re-encrypt operations on the pipeline's own artifact key only (the resource is "
    "that key's ARN); S3 needs them to read and write SSE-KMS artifacts."
)
OWN_LOGS = (
    "CodeBuild's default grant to a project: its own /aws/codebuild/<project> log streams and report "
    "groups named after the project; the wildcard covers stream and report names CodeBuild generates."
)
EMAIL_REDRIVE = (
    "An e-mail subscription of the approval topic: SNS retries delivery to the approvers' mailboxes, "
    "and the approval itself waits in CodePipeline whether or not the e-mail arrives, so a dead-letter "
    "queue would only keep a notice nobody reads."
)
SOURCE_RULE_DLQ = (
    "The CodeCommit source's EventBridge rule CDK Pipelines creates: its one target is this pipeline, "
    "EventBridge retries starting it for 24 hours, and a start that still fails is recovered by the next "
    "push or a manual release, so a dead-letter queue would hold nothing actionable."
)
APPROVAL_KEY = (
    "Publishing to the approval topic, which is encrypted with its own customer managed key, needs "
    "kms:GenerateDataKey* on that key only (the resource is that key's ARN, not a wildcard)."
)
AUTO_APPROVE_ACTIONS = (
    "CDK Pipelines' auto-approver may approve only the permission-check actions (<Stage>PermissionsCheck."
    "Confirm), never PromoteToProd; the pipeline name is a wildcard because the pipeline already depends on "
    "this function (a reference back is circular), and CDK's aws:ResourceTag/SECURITY_CHECK condition limits "
    "it to pipelines tagged for the check."
)
AUTO_APPROVE_STATE = (
    "codepipeline:GetPipelineState, read-only, for the auto-approver to find the approval's token; the "
    "pipeline name is a wildcard (a reference to this pipeline would be circular) and CDK's "
    "aws:ResourceTag/SECURITY_CHECK condition limits it to pipelines tagged for the check."
)
AUTO_APPROVE_LOGS = (
    "AWSLambdaBasicExecutionRole lets CDK Pipelines' auto-approve function write CloudWatch Logs only "
    "(CreateLogGroup, CreateLogStream, PutLogEvents); it grants no data or control-plane access."
)
AUTO_APPROVE_DLQ = (
    "The permission check invokes the auto-approver asynchronously; a failed invocation leaves the "
    "Confirm approval waiting for a person, which is the safe outcome, so a dead-letter queue adds nothing."
)
AUTO_APPROVE_TRACING = (
    "CDK Pipelines' auto-approve function makes one PutApprovalResult call per check; its CloudWatch log "
    "and the pipeline's execution history record it, so X-Ray tracing would add cost without insight."
)
PERMISSIONS_CHECK_DIFF = (
    "cdk diff --security-only assumes only roles tagged aws-cdk:bootstrap-role=deploy (CDK's condition on "
    "this statement), which trust only accounts bootstrapped with --trust for this pipeline; it reads the "
    "deployed template through them, in whichever stage account that is."
)
PERMISSIONS_CHECK_INVOKE = (
    "The permission check may invoke only CDK Pipelines' auto-approve function of this pipeline (the "
    "function and its versions); that function may approve only the permission-check actions."
)
SELF_MUTATION_ROLES = (
    "Self-mutation may only assume roles tagged as CDK bootstrap roles (condition "
    "iam:ResourceTag/aws-cdk:bootstrap-role: deploy, file-publishing, image-publishing) in this account."
)
SELF_MUTATION_LOOKUPS = (
    "cloudformation:DescribeStacks and s3:ListBucket, read-only calls the CDK CLI makes before "
    "assuming the bootstrap deploy role; DescribeStacks supports no narrower resource for a lookup "
    "by name."
)
AUTO_APPROVE_VPC = (
    "CDK Pipelines' auto-approve function calls only the CodePipeline API (PutApprovalResult, "
    "GetPipelineState) over TLS with SigV4 and reaches no private resource; a VPC would add NAT or "
    "endpoint cost without narrowing that access."
)
AUTO_APPROVE_CONCURRENCY = (
    "Invoked only by this pipeline's permission check, once per stage per pipeline run; reserving "
    "concurrency would take it from the account's shared pool for a function that runs seconds "
    "a day."
)
AUTO_APPROVE_ROLE_DEPENDS_ON = (
    "aws-cdk-lib's Function always adds DependsOn on its role next to the Role GetAtt; the "
    "duplicate ordering is harmless and not ours to remove."
)
PIPELINE_ROLE_DEPENDS_ON = (
    "CDK's Pipeline construct adds DependsOn its role next to the GetAtt of the role's ARN; the "
    "duplicate ordering is harmless and not ours to remove."
)
