"""The upload stack's EventBridge-driven functions: the scan-result recorder and the direct-upload finalizer.

Both take an event about an upload and write its item; both are built the same way: a DLQ, a
KMS-encrypted log group, a role whose one policy holds the function's table statements plus the
table key (through DynamoDB only) and its own log group, the function (JSON logs, tracing, 256 MB,
30 s), and the rule target that retries for a day before the DLQ keeps the event. `name` prefixes
each construct id (`<name>DLQ`, `<name>FunctionLogs`, `<name>FunctionRole`, `<name>FunctionPolicy`,
`<name>Function`, `<name>DLQAlarm`), so each caller's logical ids are its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct


@dataclass(frozen=True)
class FunctionCode:
    """The bundle both functions share, and what it runs on."""

    code: lambda_.Code
    runtime: lambda_.Runtime
    architecture: lambda_.Architecture
    environment: dict[str, str]


@dataclass(frozen=True)
class EventFunctionSpec:
    name: str
    description: str
    role_description: str
    handler: str
    table_statements: list[iam.PolicyStatement]
    reserved_concurrency: int | None


class EventFunction:
    """The pieces, built in `scope` in the order each caller built them (DLQ, logs, role, function)."""

    def __init__(
        self,
        scope: Construct,
        spec: EventFunctionSpec,
        source: FunctionCode,
        *,
        table_key: kms.IKey,
        logs_key: kms.IKey,
        retention: logs.RetentionDays,
    ) -> None:
        self.dead_letter_queue = sqs.Queue(
            scope,
            f"{spec.name}DLQ",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.logs = logs.LogGroup(
            scope,
            f"{spec.name}FunctionLogs",
            retention=retention,
            encryption_key=logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            scope,
            f"{spec.name}FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=spec.role_description,
        )
        region = cdk.Stack.of(scope).region
        self.policy = iam.Policy(
            scope,
            f"{spec.name}FunctionPolicy",
            statements=[
                *spec.table_statements,
                iam.PolicyStatement(
                    sid="UseTableKeyViaDynamoDB",
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[table_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.logs.log_group_arn],
                ),
            ],
        )
        self.policy.attach_to_role(self.role)
        self.function = self._function(scope, spec, source)
        self.dead_letter_alarm_id = f"{spec.name}DLQAlarm"

    def _function(self, scope: Construct, spec: EventFunctionSpec, source: FunctionCode) -> lambda_.Function:
        function = lambda_.Function(
            scope,
            f"{spec.name}Function",
            description=spec.description,
            runtime=source.runtime,
            architecture=source.architecture,
            handler=spec.handler,
            code=source.code,
            role=self.role,
            # One or two DynamoDB calls per event: well under a second at 256 MB.
            memory_size=256,
            timeout=cdk.Duration.seconds(30),
            reserved_concurrent_executions=spec.reserved_concurrency,
            environment=source.environment,
            log_group=self.logs,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            # Asynchronous invokes from EventBridge: Lambda retries twice, then the DLQ keeps the event.
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
        )
        function.node.add_dependency(self.policy)
        return function

    def rule_target(self) -> targets.LambdaFunction:
        """EventBridge retries a failed delivery for a day, then the DLQ keeps the event."""
        return targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=8,
            max_event_age=cdk.Duration.hours(24),
        )

    def dead_letter_alarm(self, scope: Construct, description: str) -> cloudwatch.Alarm:
        """Anything in the DLQ is an event that never reached its item: someone has to look."""
        return threshold_alarm(
            scope,
            self.dead_letter_alarm_id,
            description,
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic="Maximum"
            ),
        )


def threshold_alarm(
    scope: Construct, construct_id: str, description: str, metric: cloudwatch.IMetric
) -> cloudwatch.Alarm:
    """An alarm on one occurrence in one period; no data is no breach."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
