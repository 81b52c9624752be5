"""The upload function: its log group, a role with exactly what the handler does, and the function."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages import compliance
from stages.compliance import ALL_SCANNERS, Scanner, acknowledge
from stages.settings import StageSettings
from stages.upload.bundling import HANDLER_PACKAGE, lambda_code
from stages.upload.storage import UploadStorage

UPLOAD_PREFIX = "uploads/"
METRICS_NAMESPACE = "UploadApi"
SERVICE_NAME = "upload-api"
LATEST_RUNTIME = "python3.14"
ARCHITECTURE = lambda_.Architecture.ARM_64
# A direct upload's presigned PUT is valid this long (the contract's most: 15 minutes).
UPLOAD_URL_SECONDS = 900


def service_name(stage: str) -> str:
    """Powertools' service name, the `service` dimension of the handler's metrics: per stage, so
    dev and prod sharing an account and region do not add up on one dashboard."""
    return f"{SERVICE_NAME}-{stage}"


_R = logs.RetentionDays
_RETENTION = {
    1: _R.ONE_DAY,
    3: _R.THREE_DAYS,
    5: _R.FIVE_DAYS,
    7: _R.ONE_WEEK,
    14: _R.TWO_WEEKS,
    30: _R.ONE_MONTH,
    60: _R.TWO_MONTHS,
    90: _R.THREE_MONTHS,
    120: _R.FOUR_MONTHS,
    150: _R.FIVE_MONTHS,
    180: _R.SIX_MONTHS,
    365: _R.ONE_YEAR,
    400: _R.THIRTEEN_MONTHS,
    545: _R.EIGHTEEN_MONTHS,
    731: _R.TWO_YEARS,
    1096: _R.THREE_YEARS,
    1827: _R.FIVE_YEARS,
    2192: _R.SIX_YEARS,
    2557: _R.SEVEN_YEARS,
    2922: _R.EIGHT_YEARS,
    3288: _R.NINE_YEARS,
    3653: _R.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """`logRetentionDays` (validated in stages/settings.py) as CloudWatch Logs' retention."""
    return _RETENTION[days]


def flag(value: bool) -> str:
    """A boolean as the handler's settings read it (lambda/upload_api/settings.py)."""
    return "true" if value else "false"


def warn_about_function_settings(scope: Construct, settings: StageSettings) -> None:
    """Synth warnings for the function's settings that trade safety for something on purpose."""
    if settings.runtime_deprecation_warning:
        cdk.Annotations.of(scope).add_warning_v2(
            "upload-api:deprecated-runtime", settings.runtime_deprecation_warning
        )
    if settings.reserved_concurrency is None:
        cdk.Annotations.of(scope).add_warning_v2(
            "upload-api:no-reserved-concurrency",
            f'uploadApi.stages.{settings.stage}.reservedConcurrency is "unreserved": the upload function '
            "shares the account's unreserved concurrency, so another function can starve it and "
            "it can starve others. Set a number (docs/capacity.md) once the account's quota allows.",
        )
    if settings.allow_active_content:
        cdk.Annotations.of(scope).add_warning_v2(
            "upload-api:active-content",
            "allowActiveContent is true: HTML, SVG, XML and script uploads are stored as sent. "
            "Serve them only from a separate, cookieless origin, or set it to false.",
        )


def acknowledge_runtime(
    function: lambda_.IFunction, settings: StageSettings, *, only: tuple[Scanner, ...] = ALL_SCANNERS
) -> None:
    """Why the function may run cdk.json's runtime although it is not the latest (or is deprecated)."""
    runtime = settings.lambda_runtime
    if settings.runtime_deprecation_warning:
        acknowledge(function, compliance.DEPRECATED_RUNTIME_CHOSEN, only=only, runtime=runtime)
    elif runtime != LATEST_RUNTIME:
        acknowledge(
            function, compliance.OLDER_RUNTIME_CHOSEN, only=only, runtime=runtime, latest=LATEST_RUNTIME
        )


class UploadFunction:
    """POST /upload's function, its log group and its role, created in `scope` itself (not a
    construct level of its own, so the logical ids stay: stages/upload/stack.py)."""

    def __init__(
        self,
        scope: Construct,
        *,
        settings: StageSettings,
        storage: UploadStorage,
        retention: logs.RetentionDays,
    ) -> None:
        self.logs = logs.LogGroup(
            scope,
            "UploadFunctionLogs",
            retention=retention,
            encryption_key=storage.logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            scope,
            "UploadFunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Upload Lambda: put objects under uploads/, put items, logs, traces",
        )
        self.policy = self._role_policy(scope, storage)
        self.runtime = lambda_.Runtime(
            settings.lambda_runtime, lambda_.RuntimeFamily.PYTHON, supports_code_guru_profiling=True
        )
        # One asset for the upload and scan-result functions.
        self.code = lambda_code(self.runtime, ARCHITECTURE)
        self.function = lambda_.Function(
            scope,
            "UploadFunction",
            description="POST /upload: stores the file in S3 and the product metadata in DynamoDB",
            runtime=self.runtime,
            architecture=ARCHITECTURE,
            handler=f"{HANDLER_PACKAGE}.handler.lambda_handler",
            code=self.code,
            role=self.role,
            memory_size=settings.lambda_memory_mb,
            timeout=cdk.Duration.seconds(settings.lambda_timeout_seconds),
            # docs/capacity.md: rate limit x p99 duration x attempts (None: "unreserved" in cdk.json).
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment={
                "BUCKET_NAME": storage.bucket.bucket_name,
                "TABLE_NAME": storage.table.table_name,
                "POWERTOOLS_SERVICE_NAME": service_name(settings.stage),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "ALLOW_ACTIVE_CONTENT": flag(settings.allow_active_content),
                "MALWARE_SCANNING": flag(settings.scans_uploads),
                # Direct uploads (contract v3): the key their URLs sign, and how long those live.
                "BUCKET_KEY_ARN": storage.bucket_key.key_arn,
                "UPLOAD_URL_SECONDS": str(UPLOAD_URL_SECONDS),
            },
            log_group=self.logs,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
        )
        # CDK already orders the function after its role and the role's DefaultPolicy; the inline
        # UploadFunctionPolicy is a separate construct, so the function must wait for it explicitly.
        self.function.node.add_dependency(self.policy)
        self._acknowledge_findings(settings)

    def _role_policy(self, scope: Construct, storage: UploadStorage) -> iam.Policy:
        """Exactly what the handler does: put objects, put items, write its logs and traces."""
        region = cdk.Stack.of(scope).region
        s3_via = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
        dynamodb_via = {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}}
        statements = [
            iam.PolicyStatement(
                sid="PutUploadObjects",
                actions=["s3:PutObject"],
                resources=[storage.bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")],
            ),
            # SSE-KMS PutObject: S3 asks KMS for a data key on the caller's behalf.
            iam.PolicyStatement(
                sid="EncryptUploadObjects",
                actions=["kms:GenerateDataKey"],
                resources=[storage.bucket_key.key_arn],
                conditions=s3_via,
            ),
            iam.PolicyStatement(
                sid="PutProductItems", actions=["dynamodb:PutItem"], resources=[storage.table.table_arn]
            ),
            # A customer managed table key is used through DynamoDB by the calling principal.
            iam.PolicyStatement(
                sid="UseTableKeyViaDynamoDB",
                actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[storage.table_key.key_arn],
                conditions=dynamodb_via,
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.logs.log_group_arn],
            ),
        ]
        policy = iam.Policy(scope, "UploadFunctionPolicy", statements=statements)
        policy.attach_to_role(self.role)
        bucket_resource = storage.bucket.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        objects = f"<{cdk.Stack.of(scope).get_logical_id(bucket_resource)}.Arn>/{UPLOAD_PREFIX}*"
        acknowledge(policy, compliance.UPLOAD_KEY_SPACE, objects=objects)
        return policy

    def _acknowledge_findings(self, settings: StageSettings) -> None:
        function = self.function
        acknowledge(function, compliance.SYNCHRONOUS_INVOKE_NO_DLQ)
        acknowledge(function, compliance.UPLOAD_FUNCTION_OUTSIDE_VPC)
        if settings.reserved_concurrency is None:
            acknowledge(function, compliance.UNRESERVED_CONCURRENCY_CHOSEN)
        acknowledge(function, compliance.FUNCTION_ENVIRONMENT_NOT_SECRET)
        acknowledge_runtime(function, settings)
        # CDK adds DependsOn the role to every Function although Role: GetAtt already orders it.
        acknowledge(function, compliance.FUNCTION_DEPENDS_ON_ITS_ROLE)
        # Active tracing adds xray:PutTraceSegments/PutTelemetryRecords to the role's default policy.
        acknowledge(self.role.node.find_child("DefaultPolicy"), compliance.ACTIVE_TRACING_WILDCARD)
