"""POST /upload on API Gateway: the REST API, its request model and validator, who may call it, and
the verifier role the pipeline's verify step assumes."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stages import compliance
from stages.compliance import acknowledge
from stages.settings import SettingsError, StageSettings
from stages.upload.bundling import HANDLER_PACKAGE, LAMBDA_DIR
from stages.upload.gateway_responses import add_gateway_responses, gateway_model

REQUEST_SCHEMA_PATH = LAMBDA_DIR / HANDLER_PACKAGE / "request_schema.json"


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


def request_schema() -> dict[str, Any]:
    """The one request schema, as the handler and the local server read it."""
    return json.loads(REQUEST_SCHEMA_PATH.read_text(encoding="utf-8"))


class UploadRestApi:
    """The REST API and the verifier role, created in `scope` itself (not a construct level of its
    own, so the logical ids stay: stages/upload/stack.py).

    `pipeline_account_id`: the account whose verify CodeBuild role may assume the verifier role
    (None: this stack's own account, where an env-agnostic pipeline deploys it).
    """

    def __init__(
        self,
        scope: Construct,
        *,
        settings: StageSettings,
        handler: lambda_.IFunction,
        retention: logs.RetentionDays,
        logs_key: kms.IKey,
        pipeline_account_id: str | None,
    ) -> None:
        self.settings = settings
        self.stage_name = api_stage_name(settings.stage)
        self._stack = cdk.Stack.of(scope)
        # The role the pipeline's verify step assumes; the API's resource policy always admits it.
        self.verifier_role = iam.Role(
            scope,
            "VerifierRole",
            role_name=verifier_role_name(self._stack.stack_name),
            assumed_by=self._verify_codebuild_principal(pipeline_account_id),
            description=f"Post-deploy verifier of the {settings.stage} stage: POST /upload, its API stage",
            max_session_duration=cdk.Duration.hours(1),
        )
        self.access_logs = logs.LogGroup(
            scope,
            "ApiAccessLogs",
            retention=retention,
            encryption_key=logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.api = self._rest_api(scope)
        self.upload_method = self._upload_method(handler)
        self._grant_verifier()
        self._acknowledge_findings()

    def _rest_api(self, scope: Construct) -> apigw.RestApi:
        settings = self.settings
        api = apigw.RestApi(
            scope,
            "UploadApi",
            # Unique per stage: API Gateway's metrics are keyed by API name, not id.
            rest_api_name=self._stack.stack_name,
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
                stage_name=self.stage_name,
                throttling_rate_limit=settings.throttling_rate_limit,
                throttling_burst_limit=settings.throttling_burst_limit,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # never write request bodies (files) to logs
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=_access_log_format(),
            ),
        )
        self._require_tls_policy(api)
        return api

    def _upload_method(self, handler: lambda_.IFunction) -> apigw.Method:
        """POST /upload, its body validated against the request schema before the handler runs."""
        api = self.api
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
        iam_auth = self.settings.api_auth == "iam"
        method = api.root.add_resource("upload").add_method(
            "POST",
            apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False),
            authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
            request_validator=validator,
            request_models={"application/json": model},
        )
        # API Gateway's own answers: the handler's headers, 400s whose `errors` name the field, a 413
        # that names the limits.
        add_gateway_responses(api)
        # The issue fixes the stack's outputs to five ids; RestApi adds its own "Endpoint" output,
        # a duplicate of ApiUrl, so drop it.
        api.node.try_remove_child("Endpoint")
        return method

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

    def _verify_codebuild_principal(self, pipeline_account_id: str | None) -> iam.IPrincipal:
        """Only the pipeline's verify role for this stage, by ARN (aws:PrincipalArn), not by its unique
        id: the trust survives that role being recreated, and IAM need not find it at deploy time."""
        account = pipeline_account_id or self._stack.account
        verify_role = cdk.Arn.format(
            cdk.ArnComponents(
                service="iam",
                region="",
                account=account,
                resource="role",
                resource_name=pipeline_verify_role_name(self.settings.stage),
            ),
            self._stack,
        )
        self.verify_codebuild_role_arn = verify_role
        return iam.AccountPrincipal(account).with_conditions({"ArnEquals": {"aws:PrincipalArn": verify_role}})

    def _grant_verifier(self) -> None:
        """Exactly this stage's POST /upload, and reading exactly this API stage's configuration."""
        stack = self._stack
        self.verifier_invoke_arn = self.api.arn_for_execute_api("POST", "/upload", self.stage_name)
        self.verifier_stage_arn = (
            f"arn:{stack.partition}:apigateway:{stack.region}::/restapis/{self.api.rest_api_id}"
            f"/stages/{self.stage_name}"
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
            cdk.Annotations.of(self._stack).add_warning_v2(
                "upload-api:verifier-only-callers",
                f"uploadApi.stages.{self.settings.stage}.allowedCallers is empty: only this stage's verifier "
                "role may call POST /upload. Add your clients' IAM role ARNs there (cdk.json) to let them "
                "call it.",
            )
        roots = sorted({arn.split(":")[4] for arn in callers if arn.endswith(":root")})
        principals = [self.verifier_role.role_arn, *(arn for arn in callers if not arn.endswith(":root"))]
        upload = f"execute-api:/{self.stage_name}/POST/upload"
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

    def _acknowledge_findings(self) -> None:
        stage = self.api.deployment_stage
        public = self.settings.api_auth == "none"
        auth_note = compliance.API_AUTH_NOTES[self.settings.api_auth]
        acknowledge(stage, compliance.NO_WAF_BY_DEFAULT, auth_note=auth_note)
        acknowledge(stage, compliance.WRITE_ONLY_API_NOT_CACHED)
        if public:
            acknowledge(self.upload_method, compliance.PUBLIC_API_CHOSEN)
        acknowledge(
            self.upload_method,
            compliance.PUBLIC_API_NO_AUTHORIZER if public else compliance.IAM_CALLERS_NOT_COGNITO,
        )
        if self.settings.create_api_gateway_account_role:
            acknowledge(self.api.node.find_child("CloudWatchRole"), compliance.API_GATEWAY_LOGGING_ROLE)


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
