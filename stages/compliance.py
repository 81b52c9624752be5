"""Scanner acknowledgements: every reason written once, in one table, applied next to its resource.

A `Reason` is the text a reviewer reads (what compensates for a rule not holding here) and the
rule ids of each scanner it answers: cdk-nag, checkov and cfn-lint see the same words.
`acknowledge(construct, REASON)` records it on the one resource it is about:

- cdk-nag 3 through CDK's own Validations API, with the exact finding id it prints (a bare rule
  id matches nothing: `AwsSolutions-IAM5[Resource::...]` names the resource);
- checkov in the resource's `Metadata.checkov.skip`, with the reason as `comment`;
- cfn-lint in `Metadata.cfn-lint.config.ignore_checks`, with the reason next to it in
  `ignore_reasons` (cfn-lint reads only `config`), so the template says why.

A reason or finding id with a dynamic part names it as a `{field}` listed in `fields`; the call site
fills exactly those (`acknowledge(policy, REASON, objects="<Bucket.Arn>/uploads/*")`); other braces: text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aws_cdk as cdk
from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

Scanner = Literal["nag", "checkov", "cfn-lint"]
ALL_SCANNERS: tuple[Scanner, ...] = ("nag", "checkov", "cfn-lint")
MIN_REASON_WORDS = 8
_CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
_CFN_LINT_ID = re.compile(r"[EWI]\d{4}")


def add_nag_packs(scope: IConstruct, *, serverless: bool = True) -> None:
    """AwsSolutions everywhere below `scope`, plus the Serverless pack for the upload stacks."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))
    if serverless:
        Validations.of(scope).add_plugins(ServerlessChecks(scope))


@dataclass(frozen=True)
class Reason:
    """Why the listed rules do not hold for a resource, and what compensates; one table entry."""

    text: str
    nag: tuple[str, ...] = ()
    checkov: tuple[str, ...] = ()
    cfn_lint: tuple[str, ...] = ()
    # `{name}` placeholders of `text` and the ids, filled at the call site.
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.nag or self.checkov or self.cfn_lint):
            raise ValueError(f"a reason that acknowledges no rule: {self.text!r}")
        for field in self.fields:
            placeholder = "{" + field + "}"
            if placeholder not in self.text and not any(placeholder in i for i in self.nag):
                raise ValueError(f"field {field!r} is used nowhere in {self.text!r}")
        _require_reason(", ".join(self.rule_ids), self.text)
        for check_id in self.checkov:
            if not _CHECKOV_ID.fullmatch(check_id):
                raise ValueError(f"not a checkov check id: {check_id!r}")
        for rule_id in self.cfn_lint:
            if not _CFN_LINT_ID.fullmatch(rule_id):
                raise ValueError(f"not a cfn-lint rule id: {rule_id!r}")

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return (*self.nag, *self.checkov, *self.cfn_lint)

    def filled(self, values: Mapping[str, str]) -> Reason:
        """This reason with its fields filled: every declared field, and nothing else."""
        if set(values) != set(self.fields):
            raise ValueError(f"{self.rule_ids} needs fields {sorted(self.fields)}, got {sorted(values)}")

        def fill(template: str) -> str:
            for name, value in values.items():
                template = template.replace("{" + name + "}", value)
            return template

        return Reason(fill(self.text), tuple(fill(i) for i in self.nag), self.checkov, self.cfn_lint)


def acknowledge(
    construct: IConstruct,
    reason: Reason,
    *,
    only: tuple[Scanner, ...] = ALL_SCANNERS,
    **values: str,
) -> None:
    """Record `reason` on `construct` for every scanner it names (`only`: a subset of them)."""
    filled = reason.filled(values)
    if "nag" in only:
        for finding_id in filled.nag:
            acknowledge_nag(construct, finding_id, filled.text)
    if "checkov" in only:
        for check_id in filled.checkov:
            skip_checkov(construct, check_id, filled.text)
    if "cfn-lint" in only:
        for rule_id in filled.cfn_lint:
            ignore_cfn_lint(construct, rule_id, filled.text)


# -- one scanner at a time (what `acknowledge` does; call sites use `acknowledge` with a Reason) --


def acknowledge_nag(construct: IConstruct, finding_id: str, reason: str) -> None:
    if "[" not in finding_id and not finding_id.count("-") == 1:
        raise ValueError(f"not a cdk-nag finding id: {finding_id!r}")
    _require_reason(finding_id, reason)
    Validations.of(construct).acknowledge(Acknowledgment(id=finding_id, reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a checkov skip in the resource's CloudFormation metadata (`checkov.skip`)."""
    _require_reason(check_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)


def ignore_cfn_lint(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Ignore one cfn-lint rule for one resource (`Metadata.cfn-lint.config.ignore_checks`)."""
    _require_reason(rule_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}, "ignore_reasons": {}}
    metadata["config"]["ignore_checks"] = [*metadata["config"]["ignore_checks"], rule_id]
    metadata["ignore_reasons"] = {**metadata["ignore_reasons"], rule_id: reason}
    resource.add_metadata("cfn-lint", metadata)


def _cfn_resource(construct: IConstruct) -> cdk.CfnResource:
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    return resource


def _require_reason(rule_id: str, reason: str) -> None:
    if len(reason.split()) < MIN_REASON_WORDS:
        raise ValueError(f"{rule_id} needs a reason that says what compensates ({MIN_REASON_WORDS}+ words)")


def table() -> dict[str, Reason]:
    """Every entry of the table below, by name."""
    return {name: value for name, value in globals().items() if isinstance(value, Reason)}


# == The table ====================================================================================
# One entry per reason; the names say what it is about. Grouped by who applies it.

# -- shared by several functions ------------------------------------------------------------------

ACTIVE_TRACING_WILDCARD = Reason(
    "Added by Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords "
    "support no resource-level permissions, so '*' is the only possible resource; the "
    "statement grants nothing else.",
    nag=("AwsSolutions-IAM5[Resource::*]",),
)
FUNCTION_DEPENDS_ON_ITS_ROLE = Reason(
    "aws-cdk-lib's Function always adds DependsOn on its role next to the Role GetAtt; the "
    "duplicate ordering is harmless and not ours to remove.",
    cfn_lint=("W3005",),
)
FUNCTION_ENVIRONMENT_NOT_SECRET = Reason(
    "The environment holds only non-secret names: the bucket and table names, which the stack "
    "also publishes as outputs, the bucket key's ARN, the upload URL lifetime, and the Powertools "
    "service name and metrics namespace; Lambda "
    "encrypts it at rest with its AWS managed key. Secrets do not belong in these variables.",
    checkov=("CKV_AWS_173",),
)
# `{runtime}`: cdk.json's lambdaRuntime, with its deprecation warning.
DEPRECATED_RUNTIME_CHOSEN = Reason(
    "{runtime} is chosen explicitly in cdk.json (lambdaRuntime); synth warns with AWS's "
    "deprecation dates on every run, and the default python3.13 is one setting away.",
    nag=("AwsSolutions-L1", "Serverless-LambdaLatestVersion"),
    checkov=("CKV_AWS_363",),
    cfn_lint=("W2531",),
    fields=("runtime",),
)
# `{runtime}`: cdk.json's lambdaRuntime, supported but not `{latest}`.
OLDER_RUNTIME_CHOSEN = Reason(
    "{runtime} is the runtime chosen in cdk.json (lambdaRuntime) and is supported by AWS "
    "Lambda; {latest} is one setting away once the team has tested on it.",
    nag=("AwsSolutions-L1", "Serverless-LambdaLatestVersion"),
    fields=("runtime", "latest"),
)

# -- the upload stack: storage and the upload function (stages/upload/) ----------------------------

# `{objects}`: the bucket's uploads/ key space as cdk-nag prints it (`<UploadBucket....Arn>/uploads/*`).
UPLOAD_KEY_SPACE = Reason(
    "The function writes new objects under uploads/ with server-chosen keys "
    "(uploads/{productId}/{uuid4}/{fileName}); the wildcard is the key space it creates, "
    "PutObject is the only action and the bucket policy denies everyone else.",
    nag=("AwsSolutions-IAM5[Resource::{objects}]",),
    fields=("objects",),
)
ACCESS_LOG_DESTINATION_NOT_LOGGED = Reason(
    "This is a server access log destination: logging it into itself adds a log object for each "
    "delivery, and into another bucket only moves the gap one bucket on. It blocks public access, "
    "denies non-TLS requests, is versioned, and the only Allow in its bucket policy is for "
    "logging.s3.amazonaws.com.",
    checkov=("CKV_AWS_18",),
)
SYNCHRONOUS_INVOKE_NO_DLQ = Reason(
    "API Gateway invokes the function synchronously; a DLQ only ever receives failed asynchronous "
    "events. Failures reach the client as 5xx and are counted in the function's Errors metric.",
    nag=("Serverless-LambdaDLQ",),
    checkov=("CKV_AWS_116",),
)
UPLOAD_FUNCTION_OUTSIDE_VPC = Reason(
    "The function reaches only AWS public service endpoints (S3, DynamoDB, KMS, CloudWatch Logs, "
    "X-Ray) over TLS with SigV4 and no private network resource; its role allows only PutObject "
    "under uploads/, PutItem on one table, its own logs and traces, and the bucket policy denies "
    "every other principal. A VPC would add NAT or endpoint cost without narrowing that access.",
    checkov=("CKV_AWS_117",),
)
UNRESERVED_CONCURRENCY_CHOSEN = Reason(
    'cdk.json sets reservedConcurrency to "unreserved" for this stage explicitly (an account '
    "whose Lambda concurrency quota is too small to reserve any: Lambda keeps 100 unreserved); "
    "synth warns on every run, and docs/capacity.md gives the number to set.",
    checkov=("CKV_AWS_115",),
)

# -- the upload stack: the REST API ----------------------------------------------------------------

# `{auth_note}`: one of API_AUTH_NOTES, by the stage's apiAuth.
NO_WAF_BY_DEFAULT = Reason(
    "No WAF web ACL by default (it costs per request and per rule): {auth_note}, and the request "
    "validator rejects malformed bodies before Lambda runs. Stages that set apiAuth=none should "
    "associate a WAFv2 web ACL with the stage.",
    nag=("AwsSolutions-APIG3",),
    fields=("auth_note",),
)
API_AUTH_NOTES = {
    "iam": "the method requires SigV4 (IAM) auth, the stage throttles to the configured rate and burst",
    "none": "the method is public only because cdk.json sets apiAuth=none for this stage (the default is "
    "AWS_IAM); the stage throttles to the configured rate and burst",
}
PUBLIC_API_CHOSEN = Reason(
    "Public on purpose: cdk.json sets apiAuth=none explicitly for this stage (AWS_IAM is the "
    "default). The function can only put new objects under uploads/ and put items; throttling "
    "and the request validator bound and filter what callers can send.",
    nag=("AwsSolutions-APIG4",),
    checkov=("CKV_AWS_59",),
)
IAM_CALLERS_NOT_COGNITO = Reason(
    "Callers are IAM principals signing with SigV4 (AWS_IAM, the default), not Cognito users, so a "
    "Cognito authorizer would add nothing.",
    nag=("AwsSolutions-COG4",),
)
PUBLIC_API_NO_AUTHORIZER = Reason(
    "apiAuth=none was chosen explicitly in cdk.json for this stage, so no authorizer of any "
    "kind is attached; throttling and the request validator bound and filter the public traffic.",
    nag=("AwsSolutions-COG4",),
)
API_GATEWAY_LOGGING_ROLE = Reason(
    "The account-level API Gateway logging role; AWS documents this managed policy as the "
    "one to attach, it only lets API Gateway write to CloudWatch Logs, and only API "
    "Gateway can assume the role.",
    nag=(
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
    ),
)
WRITE_ONLY_API_NOT_CACHED = Reason(
    "The stage's only method is POST /upload, a write whose result differs per request; API Gateway "
    "caches only GET methods by default and caching a write would be wrong, so a cache cluster "
    "would cost per hour and serve nothing.",
    checkov=("CKV_AWS_120",),
)

# -- the upload stack: observability and security events -------------------------------------------

ALARM_EMAIL_NO_REDRIVE = Reason(
    "An e-mail notification that cannot be delivered has nobody to redrive it to: the alarm "
    "itself stays in ALARM in CloudWatch, on the stage dashboard's alarm status widget and in "
    "its history, so a lost e-mail loses no information; a dead-letter queue nobody reads "
    "would add a queue and a key without adding an alert.",
    nag=("Serverless-SNSRedrivePolicy",),
)
SECURITY_EVENT_NO_DLQ = Reason(
    "A security event the topic refuses is counted in the rule's FailedInvocations metric, which "
    "the SecurityEventsUndelivered alarm watches on the dashboard; the event itself stays in "
    "CloudTrail's trail (the record this rule only forwards), so a dead-letter queue would hold "
    "a second copy of what the trail already keeps.",
    nag=("Serverless-EventBusDLQ",),
)

# -- the upload stack: malware scanning (stages/upload/malware_scanning.py) ------------------------

# `{objects}`: the scanned key space as cdk-nag prints it.
SCANNED_KEY_SPACE = Reason(
    "GuardDuty reads and tags every new object under the scanned prefix, whose keys the upload "
    "function chooses per upload; the wildcard is exactly the scanned key space, and only "
    "the GuardDuty malware-protection-plan service can assume this role.",
    nag=("AwsSolutions-IAM5[Resource::{objects}]",),
    fields=("objects",),
)
# `{rules}`: GuardDuty's managed EventBridge rules as cdk-nag prints them.
GUARDDUTY_MANAGED_RULE = Reason(
    "GuardDuty names its managed EventBridge rule itself with this documented prefix; the "
    "write actions also require events:ManagedBy to be the GuardDuty malware protection service.",
    nag=("AwsSolutions-IAM5[Resource::{rules}]",),
    fields=("rules",),
)
DEAD_LETTER_QUEUE_ITSELF = Reason(
    "This queue is itself the dead-letter queue of the scan-result rule and function; a DLQ "
    "of a DLQ would only move the problem, and its depth alarm asks a person to look.",
    nag=("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
)
DEAD_LETTER_QUEUE_SQS_MANAGED_SSE = Reason(
    "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which this check does not "
    "recognise; a customer managed key would have to admit EventBridge in its key policy, for "
    "messages that hold only an object key, a version id and a scan verdict.",
    checkov=("CKV_AWS_27",),
)
ASYNC_FAILURES_TO_DEAD_LETTER_QUEUE = Reason(
    "Failed asynchronous invokes go to the function's dead-letter queue (DeadLetterConfig), the "
    "same queue the EventBridge target uses; a failure destination as well would deliver each "
    "failure twice.",
    nag=("Serverless-LambdaAsyncFailureDestination",),
)
SCAN_RESULT_FUNCTION_OUTSIDE_VPC = Reason(
    "The function reaches only AWS public service endpoints (DynamoDB, CloudWatch Logs, X-Ray, "
    "SQS) over TLS with SigV4; its role allows Query and UpdateItem on one table, its logs and "
    "traces. A VPC would add NAT or endpoint cost without narrowing that access.",
    checkov=("CKV_AWS_117",),
)
SCAN_RESULT_CONCURRENCY_BOUNDED = Reason(
    "Invoked asynchronously by one EventBridge rule, once per scanned upload, so its "
    "concurrency follows the upload rate that the API stage throttle already bounds.",
    checkov=("CKV_AWS_115",),
)

FINALIZER_DEAD_LETTER_QUEUE_ITSELF = Reason(
    "This queue is itself the dead-letter queue of the direct-upload finalizer's rule and "
    "function; a DLQ of a DLQ would only move the problem, and its depth alarm asks a person to look.",
    nag=("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
)
FINALIZER_DEAD_LETTER_QUEUE_SQS_MANAGED_SSE = Reason(
    "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled), which this check does not "
    "recognise; a customer managed key would have to admit EventBridge in its key policy, for "
    "messages that hold only S3's Object Created event: a bucket name, object key, size and version id.",
    checkov=("CKV_AWS_27",),
)
FINALIZER_FUNCTION_OUTSIDE_VPC = Reason(
    "The function reaches only AWS public service endpoints (DynamoDB, CloudWatch Logs, X-Ray, "
    "SQS) over TLS with SigV4; its role allows GetItem and DeleteItem on pending records only, "
    "PutItem on one table, its logs and traces. A VPC would add NAT or endpoint cost without "
    "narrowing that access.",
    checkov=("CKV_AWS_117",),
)
FINALIZER_CONCURRENCY_UNRESERVED = Reason(
    'Unreserved only where cdk.json sets the stage\'s reservedConcurrency to "unreserved" (an '
    "account whose quota allows no reservation); invoked asynchronously once per object under "
    "uploads/, so a throttled invoke is retried by Lambda and EventBridge, never lost.",
    checkov=("CKV_AWS_115",),
)

# == The pipeline stack (stages/pipeline/, applied in stages/pipeline/patches/acknowledgements.py) ==
# Most are AwsSolutions-IAM5 findings on grants CDK Pipelines generates, on several roles each.
# `{grant}`: the part of the finding id in brackets as cdk-nag prints it, `Action::s3:GetObject*`
# or `Resource::<ArtifactBucket7410C9EF.Arn>/*`; the call site names which grants each role has.
_PIPELINE_GRANT = ("AwsSolutions-IAM5[{grant}]",)

PIPELINE_ARTIFACTS = Reason(
    "CDK Pipelines grants pipeline roles access to this pipeline's own artifact bucket; object keys "
    "are generated per execution, so the object wildcard is the bucket's content, which only pipeline "
    "artifacts occupy (KMS-encrypted, TLS-only, public access blocked).",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
PIPELINE_ARTIFACT_KEY = Reason(
    "KMS data-key and re-encrypt operations on the pipeline's own artifact key only (the resource is "
    "that key's ARN); S3 needs them to read and write SSE-KMS artifacts.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
CODEBUILD_OWN_LOGS = Reason(
    "CodeBuild's default grant to a project: its own /aws/codebuild/<project> log streams and report "
    "groups named after the project; the wildcard covers stream and report names CodeBuild generates.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
APPROVAL_TOPIC_KEY = Reason(
    "Publishing to the approval topic, which is encrypted with its own customer managed key, needs "
    "kms:GenerateDataKey* on that key only (the resource is that key's ARN, not a wildcard).",
    nag=("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",),
)
SELF_MUTATION_BOOTSTRAP_ROLES = Reason(
    "Self-mutation may only assume roles tagged as CDK bootstrap roles (condition "
    "iam:ResourceTag/aws-cdk:bootstrap-role: deploy, file-publishing, image-publishing) in this account.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
SELF_MUTATION_LOOKUPS = Reason(
    "cloudformation:DescribeStacks and s3:ListBucket, read-only calls the CDK CLI makes before "
    "assuming the bootstrap deploy role; DescribeStacks supports no narrower resource for a lookup "
    "by name.",
    nag=("AwsSolutions-IAM5[Resource::*]",),
)
PERMISSIONS_CHECK_DIFF = Reason(
    "cdk diff --security-only --method=template assumes only roles tagged aws-cdk:bootstrap-role=lookup "
    "(the stages' read-only lookup roles; CDK's grant named the deploy roles, which can execute change "
    "sets), in whichever stage account trusts this pipeline; it reads the deployed template and creates "
    "no change set.",
    nag=("AwsSolutions-IAM5[Resource::*]",),
)
PERMISSIONS_CHECK_INVOKE = Reason(
    "The permission check may invoke only CDK Pipelines' auto-approve function of this pipeline (the "
    "function and its versions); that function may approve only the permission-check actions.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
AUTO_APPROVE_ACTIONS = Reason(
    "CDK Pipelines' auto-approver may approve only the permission-check actions (<Stage>PermissionsCheck."
    "Confirm), never PromoteToProd; the pipeline name is a wildcard because the pipeline already depends on "
    "this function (a reference back is circular), and CDK's aws:ResourceTag/SECURITY_CHECK condition limits "
    "it to pipelines tagged for the check.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
AUTO_APPROVE_STATE = Reason(
    "codepipeline:GetPipelineState, read-only, for the auto-approver to find the approval's token; the "
    "pipeline name is a wildcard (a reference to this pipeline would be circular) and CDK's "
    "aws:ResourceTag/SECURITY_CHECK condition limits it to pipelines tagged for the check.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
AUTO_APPROVE_BASIC_EXECUTION = Reason(
    "AWSLambdaBasicExecutionRole lets CDK Pipelines' auto-approve function write CloudWatch Logs only "
    "(CreateLogGroup, CreateLogStream, PutLogEvents); it grants no data or control-plane access.",
    nag=(
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
    ),
)
AUTO_APPROVE_NO_DLQ = Reason(
    "The permission check invokes the auto-approver asynchronously; a failed invocation leaves the "
    "Confirm approval waiting for a person, which is the safe outcome, so a dead-letter queue adds nothing.",
    nag=("Serverless-LambdaDLQ",),
    checkov=("CKV_AWS_116",),
)
AUTO_APPROVE_OUTSIDE_VPC = Reason(
    "CDK Pipelines' auto-approve function calls only CodePipeline (PutApprovalResult, GetPipelineState) and "
    "reaches no private resource; a VPC would add NAT or endpoint cost without narrowing that access.",
    checkov=("CKV_AWS_117",),
)
AUTO_APPROVE_UNRESERVED_CONCURRENCY = Reason(
    "Invoked only by this pipeline's permission check, once per stage per pipeline run; reserving "
    "concurrency would take from the account's shared pool for a function that runs seconds a day.",
    checkov=("CKV_AWS_115",),
)
AUTO_APPROVE_NOT_TRACED = Reason(
    "CDK Pipelines' auto-approve function makes one PutApprovalResult call per check; its CloudWatch log "
    "and the pipeline's execution history record it, so X-Ray tracing would add cost without insight.",
    nag=("Serverless-LambdaTracing",),
)
PIPELINE_CHANGE_GATE_READS_ITS_STACK = Reason(
    "The self-mutation gate reads the template of the pipeline's own stack only (cloudformation:GetTemplate "
    "on stack/<pipeline stack name>/*): the wildcard is the stack id CloudFormation generates when it "
    "creates the stack, which a stack ARN must end in.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
PIPELINE_DEPENDS_ON_ITS_ROLE = Reason(
    "CDK's Pipeline construct adds DependsOn its role next to the GetAtt of the role's ARN; the duplicate "
    "ordering is harmless and not ours to remove.",
    cfn_lint=("W3005",),
)
CODECOMMIT_SOURCE_RULE_NO_DLQ = Reason(
    "The CodeCommit source's rule: its one target is this pipeline, EventBridge retries starting it for 24 "
    "hours, and the next push or a manual release recovers a start that still fails (no dead-letter queue).",
    nag=("Serverless-EventBusDLQ",),
)
APPROVAL_EMAIL_NO_REDRIVE = Reason(
    "An e-mail subscription of the approval topic: SNS retries delivery, and the approval waits in "
    "CodePipeline whether or not the e-mail arrives: a dead-letter queue would keep a notice nobody reads.",
    nag=("Serverless-SNSRedrivePolicy",),
)
APPROVAL_RECORD_NO_DLQ = Reason(
    "A refused event counts in FailedInvocations; each approval stays in pipeline history and CloudTrail.",
    nag=("Serverless-EventBusDLQ",),
)
APPROVER_READS = Reason(  # `{grant}`: the build logs' streams, or an upload stack's id
    "The approver role reads its build log group and the two upload stacks' change sets, named exactly: the "
    "wildcard is the log streams CodeBuild names, or the stack id CloudFormation generates for a stack ARN.",
    nag=_PIPELINE_GRANT,
    fields=("grant",),
)
APPROVER_TRUST = Reason(
    "The approver role trusts the approvers' account roots only when aws:PrincipalArn is a named approver "
    "(uploadApi.pipeline.approvers); checkov reads the principal, not the condition (test_approvals.py).",
    checkov=("CKV_AWS_61",),
)
