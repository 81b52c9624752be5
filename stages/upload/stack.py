"""The upload stack: API Gateway -> Lambda -> S3 + DynamoDB, locked down.

A short composition of the parts in this package. Storage, function and API are built straight
into the stack (plain classes, not constructs): their resources keep the construct paths, and so
the logical ids, they are deployed under; a construct level would make CloudFormation replace the
retained bucket, table and keys. Observability, malware scanning and the deployment group are
constructs of their own.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stages.settings import StageSettings
from stages.upload.api import (
    REQUEST_SCHEMA_PATH,
    UploadRestApi,
    api_stage_name,
    pipeline_verify_role_name,
    request_schema,
    verifier_role_name,
)
from stages.upload.data_access import allow_table_key_use, protect_upload_bucket
from stages.upload.deployment import AliasDeployment, live_alias
from stages.upload.direct_upload import FINALIZER_CONCURRENCY, DirectUploadFinalizer
from stages.upload.encryption import KeyAccess
from stages.upload.event_function import FunctionCode
from stages.upload.function import (
    ARCHITECTURE,
    METRICS_NAMESPACE,
    UPLOAD_PREFIX,
    UploadFunction,
    acknowledge_runtime,
    flag,
    log_retention,
    service_name,
    warn_about_function_settings,
)
from stages.upload.malware_scanning import MalwareScanning
from stages.upload.observability import Observability
from stages.upload.storage import UploadStorage

# What other modules and the tests import from here (the stack's names, wherever they are defined).
__all__ = [
    "METRICS_NAMESPACE",
    "REQUEST_SCHEMA_PATH",
    "UPLOAD_PREFIX",
    "UploadApiStack",
    "api_stage_name",
    "pipeline_verify_role_name",
    "request_schema",
    "service_name",
    "verifier_role_name",
]


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
        self.api_stage_name = api_stage_name(settings.stage)
        warn_about_function_settings(self, settings)
        retention = log_retention(settings.log_retention_days)
        self.key_access = KeyAccess(
            deploy_role_arn=self._deploy_role_arn(),
            administrator_arns=settings.key_administrator_arns,
            break_glass_role_arns=settings.break_glass_role_arns,
        )
        self.storage = UploadStorage(self, settings=settings, key_access=self.key_access)
        self.bucket, self.bucket_key, self.table = (
            self.storage.bucket,
            self.storage.bucket_key,
            self.storage.table,
        )

        self.upload_function = UploadFunction(
            self, settings=settings, storage=self.storage, retention=retention
        )
        self.role, self.function = self.upload_function.role, self.upload_function.function
        # GuardDuty scans uploads (malwareScanning; on by default in prod). None where it does not.
        self.malware_scanning = self._malware_scanning(retention) if settings.scans_uploads else None
        # Direct uploads' items (contract v3), written when S3 reports their objects.
        self.finalizer = self._direct_upload_finalizer(retention)
        self._protect_data()

        # API Gateway calls the alias; CodeDeploy moves it between versions (stages/upload/deployment.py).
        self.alias = live_alias(self, self.function)
        self.rest_api = UploadRestApi(
            self,
            settings=settings,
            handler=self.alias,
            retention=retention,
            logs_key=self.storage.logs_key,
            pipeline_account_id=pipeline_account_id,
        )
        self.api, self.verifier_role = self.rest_api.api, self.rest_api.verifier_role

        self.observability = self._observability(retention)
        self.deployment = AliasDeployment(
            self,
            "Deployment",
            alias=self.alias,
            config_name=settings.deployment_config,
            rollback_alarms=self.observability.alarms.rollback,
        )
        self._outputs()

    def _malware_scanning(self, retention: logs.RetentionDays) -> MalwareScanning:
        storage = self.storage
        scanning = MalwareScanning(
            self,
            "MalwareScanning",
            bucket=storage.bucket,
            bucket_key=storage.bucket_key,
            table=storage.table,
            table_key=storage.table_key,
            object_prefix=UPLOAD_PREFIX,
            source=self._event_function_code(),
            logs_key=storage.logs_key,
            retention=retention,
        )
        # The scan-result function runs the upload function's runtime, for the same reason.
        acknowledge_runtime(scanning.function, self.settings, only=("nag",))
        return scanning

    def _event_function_code(self) -> FunctionCode:
        """What the scan-result function and the finalizer run: the upload function's bundle and runtime."""
        storage = self.storage
        return FunctionCode(
            code=self.upload_function.code,
            runtime=self.upload_function.runtime,
            architecture=ARCHITECTURE,
            environment={
                "BUCKET_NAME": storage.bucket.bucket_name,
                "TABLE_NAME": storage.table.table_name,
                "MALWARE_SCANNING": flag(self.settings.scans_uploads),
                "POWERTOOLS_SERVICE_NAME": service_name(self.settings.stage),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )

    def _direct_upload_finalizer(self, retention: logs.RetentionDays) -> DirectUploadFinalizer:
        storage, stage = self.storage, self.settings.stage
        finalizer = DirectUploadFinalizer(
            self,
            "DirectUploads",
            bucket=storage.bucket,
            table=storage.table,
            table_key=storage.table_key,
            object_prefix=UPLOAD_PREFIX,
            source=self._event_function_code(),
            logs_key=storage.logs_key,
            retention=retention,
            metrics_namespace=METRICS_NAMESPACE,
            service_name=service_name(stage),
            reserved_concurrency=FINALIZER_CONCURRENCY
            if self.settings.reserved_concurrency is not None
            else None,
        )
        # The finalizer runs the upload function's runtime, for the same reason, seen by every scanner.
        acknowledge_runtime(finalizer.function, self.settings)
        return finalizer

    def _protect_data(self) -> None:
        """The data policies, once every role that touches the data exists: GuardDuty's scanner reads
        and tags objects; the scan-result function updates items with the table key."""
        scanning = self.malware_scanning
        self._restrict_bucket_to(
            self.role,
            self.settings.break_glass_role_arns,
            scanner_role=scanning.scanner_role if scanning is not None else None,
        )
        table_writers: list[iam.IRole] = [self.role, self.finalizer.role]
        if scanning is not None and scanning.function.role is not None:
            table_writers.append(scanning.function.role)
        allow_table_key_use(
            self.storage.table_key,
            self.table,
            writer_roles=table_writers,
            deploy_role_arn=self._deploy_role_arn(),
        )

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
        """The role CloudFormation deploys this stack with (`cdk bootstrap`'s execution role), as the
        stack synthesizer names it: the stage's own bootstrap qualifier (stages/upload_stage.py)."""
        return cdk.Fn.sub(
            cdk.DefaultStackSynthesizer.DEFAULT_CLOUDFORMATION_ROLE_ARN.replace(
                "${Qualifier}", self.settings.qualifier
            )
        )

    def _observability(self, retention: logs.RetentionDays) -> Observability:
        observability = Observability(
            self,
            "Observability",
            settings=self.settings,
            api=self.api,
            api_stage_name=self.api_stage_name,
            function=self.function,
            table=self.table,
            function_logs=self.upload_function.logs,
            access_logs=self.rest_api.access_logs,
            logs_key=self.storage.logs_key,
            retention=retention,
            metrics_namespace=METRICS_NAMESPACE,
            service_name=service_name(self.settings.stage),
            key_access=self.key_access,
            watched_keys=self.storage.keys,
            upload_bucket=self.bucket,
        )
        if self.malware_scanning is not None:
            # A scan verdict that never reached its item pages whoever gets the stage's alarms.
            for alarm in self.malware_scanning.alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(observability.topic))
        # So does a direct upload whose item could not be written, or an object unlike its announcement.
        for alarm in self.finalizer.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(observability.topic))
        observability.dashboard.add_widgets(*self.finalizer.dashboard_row())
        return observability

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
