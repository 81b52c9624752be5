"""The upload stack: API Gateway -> Lambda -> S3 + DynamoDB, locked down."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages.nag import acknowledge, ignore_cfn_lint, skip_checkov
from stages.settings import SettingsError, StageSettings
from stages.upload.buckets import access_logs_bucket
from stages.upload.bundling import HANDLER_PACKAGE, LAMBDA_DIR, lambda_code
from stages.upload.data_access import allow_table_key_use, protect_upload_bucket
from stages.upload.deployment import AliasDeployment, live_alias
from stages.upload.encryption import KeyAccess, customer_managed_key, log_group_key
from stages.upload.gateway_responses import add_gateway_responses, gateway_model
from stages.upload.malware_scanning import MalwareScanning
from stages.upload.observability import Observability

REQUEST_SCHEMA_PATH = LAMBDA_DIR / HANDLER_PACKAGE / "request_schema.json"
UPLOAD_PREFIX = "uploads/"
METRICS_NAMESPACE = "UploadApi"
SERVICE_NAME = "upload-api"


def api_stage_name(stage: str) -> str:
    """The API Gateway stage of a deployment stage is named after it (`dev`, `prod`): the URL says which
    stage it is (`https://{id}.execute-api.{region}.amazonaws.com/dev/upload`), and a grant written for
    one stage's path can never match the other's."""
    return stage


def pipeline_verify_role_name(stage: str) -> str:
    """The pipeline's verify CodeBuild role for `stage`, in the pipeline account. A fixed name because
    the upload stack must trust it by ARN and a CDK Pipelines stage cannot reference a resource of the
    pipeline stack (the stage is a separate assembly, deployed after the pipeline exists)."""
    return f"UploadApiPipeline-Verify-{stage}"


def verifier_role_name(stack_name: str) -> str:
    """The stage's VerifierRole, in the stage's account: fixed for the same reason, the other way round
    (the pipeline's verify role may assume exactly this ARN, written before the stage exists)."""
    return f"{stack_name}-Verifier"


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


def request_schema() -> dict[str, Any]:
    """The one request schema, as the handler and the local server read it."""
    return json.loads(REQUEST_SCHEMA_PATH.read_text(encoding="utf-8"))


class UploadApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        pipeline_account_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`pipeline_account_id`: the account whose verify CodeBuild role may assume this stage's
        VerifierRole (None: this stack's own account, where an env-agnostic pipeline deploys it)."""
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.pipeline_account_id = pipeline_account_id
        self.api_stage_name = api_stage_name(settings.stage)
        if settings.runtime_deprecation_warning:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:deprecated-runtime", settings.runtime_deprecation_warning
            )
        if settings.reserved_concurrency is None:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:no-reserved-concurrency",
                f'uploadApi.stages.{settings.stage}.reservedConcurrency is "unreserved": the upload function '
                "shares the account's unreserved concurrency, so another function can starve it and "
                "it can starve others. Set a number (docs/capacity.md) once the account's quota allows.",
            )
        retention = _RETENTION[settings.log_retention_days]

        # Every key of this stack: managed by the deploy role (and named administrators), used
        # only by whom each key's statements name (stages/upload/encryption.py, stages/upload/data_access.py).
        self.key_access = KeyAccess(
            deploy_role_arn=self._deploy_role_arn(),
            administrator_arns=settings.key_administrator_arns,
            break_glass_role_arns=settings.break_glass_role_arns,
        )
        logs_key = log_group_key(
            self, "LogsKey", "Encrypts the upload API's CloudWatch log groups", access=self.key_access
        )
        bucket_key = customer_managed_key(
            self,
            "BucketKey",
            "Encrypts uploaded files (S3 SSE-KMS with S3 Bucket Key)",
            access=self.key_access,
        )
        table_key = customer_managed_key(
            self, "TableKey", "Encrypts the product metadata table", access=self.key_access
        )
        self.bucket_key = bucket_key

        access_logs = access_logs_bucket(self, "AccessLogsBucket", retention_days=settings.log_retention_days)
        self.bucket = s3.Bucket(
            self,
            "UploadBucket",
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=bucket_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="upload-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=cdk.Duration.days(
                        settings.noncurrent_version_expiration_days
                    ),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteMultipartUploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        self.table = dynamodb.Table(
            self,
            "ProductTable",
            partition_key=dynamodb.Attribute(name="productId", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="productName", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=table_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        function_logs = logs.LogGroup(
            self,
            "UploadFunctionLogs",
            retention=retention,
            encryption_key=logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = self._function_role(function_logs, bucket_key, table_key)

        runtime = _runtime(settings.lambda_runtime)
        # One asset for the upload and scan-result functions.
        code = lambda_code(runtime, lambda_.Architecture.ARM_64)
        self.function = lambda_.Function(
            self,
            "UploadFunction",
            description="POST /upload: stores the file in S3 and the product metadata in DynamoDB",
            runtime=runtime,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"{HANDLER_PACKAGE}.handler.lambda_handler",
            code=code,
            role=self.role,
            memory_size=settings.lambda_memory_mb,
            timeout=cdk.Duration.seconds(settings.lambda_timeout_seconds),
            # docs/capacity.md: rate limit x p99 duration x attempts (None: "unreserved" in cdk.json).
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment={
                "BUCKET_NAME": self.bucket.bucket_name,
                "TABLE_NAME": self.table.table_name,
                "POWERTOOLS_SERVICE_NAME": service_name(settings.stage),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "ALLOW_ACTIVE_CONTENT": _flag(settings.allow_active_content),
                "MALWARE_SCANNING": _flag(settings.scans_uploads),
            },
            log_group=function_logs,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
        )
        # CDK already orders the function after its role and the role's DefaultPolicy; the inline
        # UploadFunctionPolicy is a separate construct, so the function must wait for it explicitly.
        self.function.node.add_dependency(self.function_policy)
        self._skip_function_scanner_checks()
        # Active tracing adds xray:PutTraceSegments/PutTelemetryRecords to the role's default policy.
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "Added by Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords "
            "support no resource-level permissions, so '*' is the only possible resource; the "
            "statement grants nothing else.",
        )

        if settings.allow_active_content:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:active-content",
                "allowActiveContent is true: HTML, SVG, XML and script uploads are stored as sent. "
                "Serve them only from a separate, cookieless origin, or set it to false.",
            )
        # GuardDuty scans uploads (malwareScanning; on by default in prod). None where it does not.
        self.malware_scanning = (
            MalwareScanning(
                self,
                "MalwareScanning",
                bucket=self.bucket,
                bucket_key=bucket_key,
                table=self.table,
                table_key=table_key,
                object_prefix=UPLOAD_PREFIX,
                code=code,
                runtime=runtime,
                architecture=lambda_.Architecture.ARM_64,
                environment={
                    "BUCKET_NAME": self.bucket.bucket_name,
                    "TABLE_NAME": self.table.table_name,
                    "MALWARE_SCANNING": _flag(True),
                    "POWERTOOLS_SERVICE_NAME": service_name(settings.stage),
                    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                },
                logs_key=logs_key,
                retention=retention,
            )
            if settings.scans_uploads
            else None
        )
        # The data policies, once every role that touches the data exists: GuardDuty's scanner reads
        # and tags objects; the scan-result function updates items with the table key.
        scanning = self.malware_scanning
        self._restrict_bucket_to(
            self.role,
            settings.break_glass_role_arns,
            scanner_role=scanning.scanner_role if scanning is not None else None,
        )
        table_writers: list[iam.IRole] = [self.role]
        if scanning is not None and scanning.function.role is not None:
            table_writers.append(scanning.function.role)
        allow_table_key_use(
            table_key, self.table, writer_roles=table_writers, deploy_role_arn=self._deploy_role_arn()
        )

        # API Gateway calls the alias; CodeDeploy moves it between versions (stages/upload/deployment.py).
        self.alias = live_alias(self, self.function)
        # The role the pipeline's verify step assumes; the API's resource policy always admits it.
        self.verifier_role = iam.Role(
            self,
            "VerifierRole",
            role_name=verifier_role_name(self.stack_name),
            assumed_by=self._verify_codebuild_principal(),
            description=f"Post-deploy verifier of the {settings.stage} stage: POST /upload, its API stage",
            max_session_duration=cdk.Duration.hours(1),
        )
        self.api = self._rest_api(retention, logs_key)
        self._grant_verifier()
        self.observability = Observability(
            self,
            "Observability",
            settings=settings,
            api=self.api,
            api_stage_name=self.api_stage_name,
            function=self.function,
            table=self.table,
            function_logs=function_logs,
            access_logs=self.access_logs,
            logs_key=logs_key,
            retention=retention,
            metrics_namespace=METRICS_NAMESPACE,
            service_name=service_name(settings.stage),
            key_access=self.key_access,
            watched_keys=(logs_key, bucket_key, table_key),
            upload_bucket=self.bucket,
        )
        if self.malware_scanning is not None:
            # A scan verdict that never reached its item pages whoever gets the stage's alarms.
            for alarm in self.malware_scanning.alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.observability.topic))
        self.deployment = AliasDeployment(
            self,
            "Deployment",
            alias=self.alias,
            config_name=settings.deployment_config,
            rollback_alarms=self.observability.alarms.rollback,
        )
        self._outputs()
        self._acknowledge_findings()

    # -- building blocks -------------------------------------------------------------------------

    def _function_role(self, log_group: logs.LogGroup, bucket_key: kms.Key, table_key: kms.Key) -> iam.Role:
        """Exactly what the handler does: put objects, put items, write its logs and traces."""
        role = iam.Role(
            self,
            "UploadFunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Upload Lambda: put objects under uploads/, put items, logs, traces",
        )
        s3_via = {"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}}
        dynamodb_via = {"StringEquals": {"kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"}}
        statements = [
            iam.PolicyStatement(
                sid="PutUploadObjects",
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")],
            ),
            # SSE-KMS PutObject: S3 asks KMS for a data key on the caller's behalf.
            iam.PolicyStatement(
                sid="EncryptUploadObjects",
                actions=["kms:GenerateDataKey"],
                resources=[bucket_key.key_arn],
                conditions=s3_via,
            ),
            iam.PolicyStatement(
                sid="PutProductItems", actions=["dynamodb:PutItem"], resources=[self.table.table_arn]
            ),
            # A customer managed table key is used through DynamoDB by the calling principal.
            iam.PolicyStatement(
                sid="UseTableKeyViaDynamoDB",
                actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[table_key.key_arn],
                conditions=dynamodb_via,
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
        ]
        policy = iam.Policy(self, "UploadFunctionPolicy", statements=statements)
        policy.attach_to_role(role)
        self.function_policy = policy
        bucket_resource = self.bucket.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{self.get_logical_id(bucket_resource)}.Arn>/{UPLOAD_PREFIX}*]",
            "The function writes new objects under uploads/ with server-chosen keys "
            "(uploads/{productId}/{uuid4}/{fileName}); the wildcard is the key space it creates, "
            "PutObject is the only action and the bucket policy denies everyone else.",
        )
        return role

    def _restrict_bucket_to(
        self,
        role: iam.Role,
        break_glass_role_arns: tuple[str, ...],
        scanner_role: iam.IRole | None = None,
    ) -> None:
        """Deny every object action (and listing) to all principals but the function, break-glass
        roles and the malware scanner; bucket changes to the deploy role (stages/upload/data_access.py).

        `scanner_role`: GuardDuty Malware Protection's role; objects are then unreadable until
        tagged clean. Give it its permissions with `add_to_policy` (a separate AWS::IAM::Policy):
        inline policies on the role would reference the key that references the role (a cycle).
        """
        protect_upload_bucket(
            self.bucket,
            key=self.bucket_key,
            writer_role=role,
            deploy_role_arn=self._deploy_role_arn(),
            break_glass_role_arns=break_glass_role_arns,
            scanner_role=scanner_role,
        )

    def _deploy_role_arn(self) -> str:
        """The role CloudFormation deploys this stack with (`cdk bootstrap`'s execution role)."""
        synthesizer = self.synthesizer
        assert isinstance(synthesizer, cdk.DefaultStackSynthesizer)
        return cdk.Fn.sub(synthesizer.cloud_formation_execution_role_arn)

    def _rest_api(self, retention: logs.RetentionDays, logs_key: kms.Key) -> apigw.RestApi:
        settings = self.settings
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=retention,
            encryption_key=logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.access_logs = access_logs
        api = apigw.RestApi(
            self,
            "UploadApi",
            # Unique per stage: API Gateway's metrics are keyed by API name, not id.
            rest_api_name=self.stack_name,
            description="Secure file upload API: POST /upload",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            policy=self._caller_policy(),
            # API Gateway logs only once the account has a CloudWatch role; a fresh account has none.
            cloud_watch_role=settings.create_api_gateway_account_role,
            # CDK rejects a removal policy for a role it is told not to create.
            cloud_watch_role_removal_policy=(
                cdk.RemovalPolicy.RETAIN if settings.create_api_gateway_account_role else None
            ),
            deploy_options=apigw.StageOptions(
                stage_name=self.api_stage_name,
                throttling_rate_limit=settings.throttling_rate_limit,
                throttling_burst_limit=settings.throttling_burst_limit,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # never write request bodies (files) to logs
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=_access_log_format(),
            ),
        )
        self._require_tls_policy(api)
        model = api.add_model(
            "UploadRequestModel",
            content_type="application/json",
            model_name="UploadRequest",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        # The model is derived from the one schema file: its top level (an object, the required
        # fields, no others). Every field rule is the handler's, worded plainly (docs/api.md).
        model_resource = model.node.default_child
        assert isinstance(model_resource, apigw.CfnModel)
        model_resource.add_property_override("Schema", gateway_model(request_schema()))
        # No parameters are declared, so parameter validation costs nothing and keeps it that way.
        validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        auth = apigw.AuthorizationType.IAM if settings.api_auth == "iam" else apigw.AuthorizationType.NONE
        upload = api.root.add_resource("upload")
        self.upload_method = upload.add_method(
            "POST",
            apigw.LambdaIntegration(self.alias, proxy=True, allow_test_invoke=False),
            authorization_type=auth,
            request_validator=validator,
            request_models={"application/json": model},
        )
        # API Gateway's own answers: the handler's headers, 400s whose `errors` name the field, a 413
        # that names the limits.
        add_gateway_responses(api)
        # The issue fixes the stack's outputs to five ids; RestApi adds its own "Endpoint" output,
        # a duplicate of ApiUrl, so drop it.
        api.node.try_remove_child("Endpoint")
        return api

    def _require_tls_policy(self, api: apigw.RestApi) -> None:
        """The stage's TLS security policy on the default endpoint; the L2 RestApi has no property for it.

        Without one a regional REST API accepts TLS 1.0. An enhanced policy (`SecurityPolicy_...`)
        must come with an endpoint access mode: STRICT also refuses requests that reach the API
        through another endpoint type or with a mismatched SNI host name.
        """
        resource = api.node.default_child
        assert isinstance(resource, apigw.CfnRestApi)
        policy = self.settings.api_security_policy
        resource.security_policy = policy
        if policy.startswith("SecurityPolicy_"):
            resource.endpoint_access_mode = "STRICT"

    def _verify_codebuild_principal(self) -> iam.IPrincipal:
        """Only the pipeline's verify role for this stage, by ARN (aws:PrincipalArn), not by its unique
        id: the trust survives that role being recreated, and IAM need not find it at deploy time."""
        account = self.pipeline_account_id or self.account
        verify_role = cdk.Arn.format(
            cdk.ArnComponents(
                service="iam",
                region="",
                account=account,
                resource="role",
                resource_name=pipeline_verify_role_name(self.settings.stage),
            ),
            self,
        )
        self.verify_codebuild_role_arn = verify_role
        return iam.AccountPrincipal(account).with_conditions({"ArnEquals": {"aws:PrincipalArn": verify_role}})

    def _grant_verifier(self) -> None:
        """Exactly this stage's POST /upload, and reading exactly this API stage's configuration."""
        self.verifier_invoke_arn = self.api.arn_for_execute_api("POST", "/upload", self.api_stage_name)
        self.verifier_stage_arn = (
            f"arn:{self.partition}:apigateway:{self.region}::/restapis/{self.api.rest_api_id}"
            f"/stages/{self.api_stage_name}"
        )
        self.verifier_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeThisStagesUpload",
                actions=["execute-api:Invoke"],
                resources=[self.verifier_invoke_arn],
            )
        )
        self.verifier_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadThisStagesThrottling",
                actions=["apigateway:GET"],
                resources=[self.verifier_stage_arn],
            )
        )

    def _caller_policy(self) -> iam.PolicyDocument | None:
        """The API's resource policy: the stage's verifier and `allowedCallers` may call POST /upload;
        an explicit Deny refuses everyone else, whatever their own policies allow (AdministratorAccess
        included). IAM auth only: with apiAuth=none there is no principal to match, and the Deny would
        refuse every caller of the public API."""
        callers = self.settings.allowed_callers
        if self.settings.api_auth != "iam":
            if callers:
                raise SettingsError(
                    f"cdk.json context uploadApi.stages.{self.settings.stage}.allowedCallers needs apiAuth "
                    "'iam': a public API (apiAuth none) has no caller identity to admit or refuse"
                )
            return None
        if not callers:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:verifier-only-callers",
                f"uploadApi.stages.{self.settings.stage}.allowedCallers is empty: only this stage's verifier "
                "role may call POST /upload. Add your clients' IAM role ARNs there (cdk.json) to let them "
                "call it.",
            )
        roots = sorted({arn.split(":")[4] for arn in callers if arn.endswith(":root")})
        principals = [self.verifier_role.role_arn, *(arn for arn in callers if not arn.endswith(":root"))]
        upload = f"execute-api:/{self.api_stage_name}/POST/upload"
        statements = [
            iam.PolicyStatement(
                sid="AllowedCallersInvokeUpload",
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=[upload],
                conditions={"ArnEquals": {"aws:PrincipalArn": principals}},
            )
        ]
        deny_unless: dict[str, Any] = {"ArnNotEquals": {"aws:PrincipalArn": principals}}
        if roots:
            # Named on purpose in allowedCallers: every principal of these accounts (their own IAM
            # policies must still allow execute-api:Invoke).
            statements.append(
                iam.PolicyStatement(
                    sid="AllowedAccountsInvokeUpload",
                    principals=[iam.AccountPrincipal(account) for account in roots],
                    actions=["execute-api:Invoke"],
                    resources=[upload],
                )
            )
            deny_unless["StringNotEquals"] = {"aws:PrincipalAccount": roots}
        statements.append(
            iam.PolicyStatement(
                sid="DenyEveryoneElse",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["execute-api:Invoke"],
                resources=["execute-api:/*"],
                conditions=deny_unless,
            )
        )
        return iam.PolicyDocument(statements=statements)

    def _outputs(self) -> None:
        # Kept as attributes: the pipeline passes these two to its verify steps (env_from_cfn_outputs).
        self.api_url_output = cdk.CfnOutput(
            self, "ApiUrl", value=self.api.url, description="Stage URL of the upload API"
        )
        self.upload_endpoint_output = cdk.CfnOutput(
            self, "UploadEndpoint", value=self.api.url_for_path("/upload"), description="POST here"
        )
        self.verifier_role_output = cdk.CfnOutput(
            self,
            "VerifierRoleArn",
            value=self.verifier_role.role_arn,
            description="The role the pipeline's verify step assumes for this stage",
        )
        cdk.CfnOutput(self, "LambdaFunctionArn", value=self.function.function_arn)
        cdk.CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(
            self,
            "DashboardUrl",
            value=self.observability.dashboard_url,
            description="CloudWatch dashboard of this stage",
        )

    def _acknowledge_findings(self) -> None:
        stage = self.api.deployment_stage
        public = self.settings.api_auth == "none"
        if public:
            auth_note = (
                "the method is public only because cdk.json sets apiAuth=none for this stage (the default is "
                "AWS_IAM); the stage throttles to the configured rate and burst"
            )
        else:
            auth_note = (
                "the method requires SigV4 (IAM) auth, the stage throttles to the configured rate and burst"
            )
        acknowledge(
            stage,
            "AwsSolutions-APIG3",
            f"No WAF web ACL by default (it costs per request and per rule): {auth_note}, and the request "
            "validator rejects malformed bodies before Lambda runs. Stages that set apiAuth=none should "
            "associate a WAFv2 web ACL with the stage.",
        )
        if public:
            acknowledge(
                self.upload_method,
                "AwsSolutions-APIG4",
                "Public on purpose: cdk.json sets apiAuth=none explicitly for this stage (AWS_IAM is the "
                "default). The function can only put new objects under uploads/ and put items; throttling "
                "and the request validator bound and filter what callers can send.",
            )
            skip_checkov(
                self.upload_method,
                "CKV_AWS_59",
                "Public on purpose: cdk.json sets apiAuth=none explicitly for this stage (AWS_IAM is the "
                "default). The function can only put new objects under uploads/ and put items; throttling "
                "and the request validator bound and filter what callers can send.",
            )
        acknowledge(
            self.upload_method,
            "AwsSolutions-COG4",
            "Callers are IAM principals signing with SigV4 (AWS_IAM, the default), not Cognito users, so a "
            "Cognito authorizer would add nothing."
            if not public
            else "apiAuth=none was chosen explicitly in cdk.json for this stage, so no authorizer of any "
            "kind is attached; throttling and the request validator bound and filter the public traffic.",
        )
        if self.settings.create_api_gateway_account_role:
            acknowledge(
                self.api.node.find_child("CloudWatchRole"),
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The account-level API Gateway logging role; AWS documents this managed policy as the "
                "one to attach, it only lets API Gateway write to CloudWatch Logs, and only API "
                "Gateway can assume the role.",
            )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "API Gateway invokes the function synchronously; a DLQ only ever receives failed "
            "asynchronous events. Failures reach the client as 5xx and are counted in the Errors metric.",
        )
        latest = "python3.14"
        runtime = self.settings.lambda_runtime
        if runtime != latest:
            if self.settings.runtime_deprecation_warning:
                reason = (
                    f"{runtime} is chosen explicitly in cdk.json (lambdaRuntime); synth warns with AWS's "
                    "deprecation dates on every run, and the default python3.13 is one setting away."
                )
            else:
                reason = (
                    f"{runtime} is the runtime chosen in cdk.json (lambdaRuntime) and is supported by AWS "
                    f"Lambda; {latest} is one setting away once the team has tested on it."
                )
            functions = [self.function]
            if self.malware_scanning is not None:
                functions.append(self.malware_scanning.function)
            for function in functions:
                acknowledge(function, "AwsSolutions-L1", reason)
                acknowledge(function, "Serverless-LambdaLatestVersion", reason)

        # checkov: the same topics, in checkov's words, on the resources themselves.
        skip_checkov(
            stage,
            "CKV_AWS_120",
            "The stage's only method is POST /upload, a write whose result differs per request; API Gateway "
            "caches only GET methods by default and caching a write would be wrong, so a cache cluster "
            "would cost per hour and serve nothing.",
        )

    def _skip_function_scanner_checks(self) -> None:
        function = self.function
        skip_checkov(
            function,
            "CKV_AWS_116",
            "API Gateway invokes the function synchronously; a DLQ only ever receives failed asynchronous "
            "events. Failures reach the client as 5xx and are counted in the function's Errors metric.",
        )
        skip_checkov(
            function,
            "CKV_AWS_117",
            "The function reaches only AWS public service endpoints (S3, DynamoDB, KMS, CloudWatch Logs, "
            "X-Ray) over TLS with SigV4 and no private network resource; its role allows only PutObject "
            "under uploads/, PutItem on one table, its own logs and traces, and the bucket policy denies "
            "every other principal. "
            "A VPC would add NAT or endpoint cost without narrowing that access.",
        )
        if self.settings.reserved_concurrency is None:
            skip_checkov(
                function,
                "CKV_AWS_115",
                'cdk.json sets reservedConcurrency to "unreserved" for this stage explicitly (an account '
                "whose Lambda concurrency quota is too small to reserve any: Lambda keeps 100 unreserved); "
                "synth warns on every run, and docs/capacity.md gives the number to set.",
            )
        skip_checkov(
            function,
            "CKV_AWS_173",
            "The environment holds only non-secret names: the bucket and table names, which the stack "
            "also publishes as outputs, and the Powertools service name and metrics namespace; Lambda "
            "encrypts it at rest with its AWS managed key. Secrets do not belong in these variables.",
        )
        if self.settings.runtime_deprecation_warning:
            reason = (
                f"{self.settings.lambda_runtime} is chosen explicitly in cdk.json (lambdaRuntime); synth "
                "warns with AWS's deprecation dates on every run, and the default python3.13 is one "
                "setting away."
            )
            skip_checkov(function, "CKV_AWS_363", reason)
            ignore_cfn_lint(function, "W2531", reason)
        # CDK adds DependsOn the role to every Function although Role: GetAtt already orders it.
        ignore_cfn_lint(
            function,
            "W3005",
            "aws-cdk-lib's Function always adds DependsOn on its role next to the Role GetAtt; the "
            "duplicate ordering is harmless and not ours to remove.",
        )


def _flag(value: bool) -> str:
    """A boolean as the handler's settings read it (lambda/upload_api/settings.py)."""
    return "true" if value else "false"


def _runtime(name: str) -> lambda_.Runtime:
    return lambda_.Runtime(name, lambda_.RuntimeFamily.PYTHON, supports_code_guru_profiling=True)


def _access_log_format() -> apigw.AccessLogFormat:
    fields = {
        "requestId": apigw.AccessLogField.context_request_id(),
        # The 429 metric filter (stages/upload/observability.py) keys its metric by API id.
        "apiId": apigw.AccessLogField.context_api_id(),
        "extendedRequestId": apigw.AccessLogField.context_extended_request_id(),
        "requestTime": apigw.AccessLogField.context_request_time(),
        "ip": apigw.AccessLogField.context_identity_source_ip(),
        "caller": apigw.AccessLogField.context_identity_caller(),
        "userArn": apigw.AccessLogField.context_identity_user_arn(),
        "httpMethod": apigw.AccessLogField.context_http_method(),
        "resourcePath": apigw.AccessLogField.context_resource_path(),
        "status": apigw.AccessLogField.context_status(),
        "protocol": apigw.AccessLogField.context_protocol(),
        "responseLength": apigw.AccessLogField.context_response_length(),
        "responseLatency": apigw.AccessLogField.context_response_latency(),
        "integrationLatency": apigw.AccessLogField.context_integration_latency(),
        "integrationStatus": apigw.AccessLogField.context_integration_status(),
        "errorMessage": apigw.AccessLogField.context_error_message(),
        "validationError": apigw.AccessLogField.context_error_validation_error_string(),
        "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
        # What each client negotiated: who would break if the security policy were tightened.
        "tlsVersion": "$context.tlsVersion",
        "cipherSuite": "$context.cipherSuite",
    }
    return apigw.AccessLogFormat.custom(json.dumps(fields))
