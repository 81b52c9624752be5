"""Direct uploads (contract v3): the finalizer that writes a direct upload's item once S3 has it.

The upload bucket sends its events to EventBridge (`EventBridgeConfiguration`, set on the L1
bucket: no BucketNotifications custom-resource function); a rule takes the "Object Created" ones
under uploads/ to the finalizer (lambda/upload_api/finalizer.py). The finalizer never touches S3:
it reads the pending record the upload function wrote (partition key `pending#...`), and writes
the item and deletes that record in one DynamoDB transaction. Its role allows exactly that, the
pending key space only for GetItem and DeleteItem (`dynamodb:LeadingKeys`).

Failed events are retried (EventBridge: 8 times over up to a day; Lambda: twice), then kept in a
dead-letter queue whose depth alarms; so does an object that arrived unlike its announcement.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages import compliance
from stages.compliance import acknowledge
from stages.upload.bundling import HANDLER_PACKAGE
from stages.upload.event_function import EventFunction, EventFunctionSpec, FunctionCode, threshold_alarm

FINALIZER_HANDLER = f"{HANDLER_PACKAGE}.finalizer.lambda_handler"
# lambda/upload_api/direct.py: the pending records' partition keys (no productId can start so).
PENDING_KEYS = "pending#*"
OBJECT_CREATED = "Object Created"
# One GetItem and one transaction each (about 60 ms): 10 at once finalize well over 100 uploads/s,
# and Lambda queues and retries the rest. Reserved where the stage reserves for its upload function.
FINALIZER_CONCURRENCY = 10


def enable_eventbridge(bucket: s3.Bucket) -> None:
    """S3 sends every event of the bucket to the default event bus (free for S3; rules filter)."""
    resource = bucket.node.default_child
    assert isinstance(resource, s3.CfnBucket)
    resource.add_property_override(
        "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
    )


class DirectUploadFinalizer(Construct):
    """The Object Created rule, the finalizer function and its role, log group, DLQ and alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.Bucket,
        table: dynamodb.ITable,
        table_key: kms.IKey,
        object_prefix: str,
        source: FunctionCode,
        logs_key: kms.IKey,
        retention: logs.RetentionDays,
        metrics_namespace: str,
        service_name: str,
        reserved_concurrency: int | None,
    ) -> None:
        """`reserved_concurrency`: the finalizer's reservation (None: unreserved, like dev's function)."""
        super().__init__(scope, construct_id)
        enable_eventbridge(bucket)
        self.finalizer = EventFunction(
            self,
            _finalizer_spec(table, reserved_concurrency),
            source,
            table_key=table_key,
            logs_key=logs_key,
            retention=retention,
        )
        self.dead_letter_queue = self.finalizer.dead_letter_queue
        self.role = self.finalizer.role
        self.function = self.finalizer.function
        self.rule = self._rule(bucket, object_prefix)

        def metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metrics_namespace,
                metric_name=name,
                dimensions_map={"service": service_name},
                statistic="Sum",
                period=cdk.Duration.minutes(5),
            )

        self.announced = metric("DirectUploadsAnnounced")
        self.finalized = metric("DirectUploadsFinalized")
        self.refused = metric("DirectUploadsRefused")
        self.dead_letter_alarm = self.finalizer.dead_letter_alarm(
            self,
            "A direct upload's object arrived but its item could not be written (see the finalizer's DLQ)",
        )
        self.refused_alarm = threshold_alarm(
            self,
            "DirectUploadRefusedAlarm",
            "An object arrived under a direct upload's key unlike its announcement (size or write); "
            "no item was written",
            self.refused,
        )
        self._acknowledge_findings(reserved_concurrency)

    @property
    def alarms(self) -> tuple[cloudwatch.Alarm, ...]:
        return (self.dead_letter_alarm, self.refused_alarm)

    def dashboard_row(self) -> list[cloudwatch.IWidget]:
        """One dashboard row: direct uploads announced, finalized, refused; the finalizer's health."""
        function = self.function
        return [
            cloudwatch.GraphWidget(
                title="Direct uploads (202 -> item)",
                left=[self.announced, self.finalized, self.refused],
                width=8,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title="Finalizer: invocations, errors, throttles",
                left=[function.metric_invocations(), function.metric_errors(), function.metric_throttles()],
                right=[function.metric_duration(statistic="p99")],
                width=8,
                height=6,
            ),
            cloudwatch.AlarmWidget(
                title="Finalizer DLQ depth", alarm=self.dead_letter_alarm, width=8, height=6
            ),
        ]

    def _rule(self, bucket: s3.IBucket, object_prefix: str) -> events.Rule:
        return events.Rule(
            self,
            "ObjectCreatedRule",
            description="New objects under uploads/ in the upload bucket -> the direct-upload finalizer",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": [{"prefix": object_prefix}]},
                },
            ),
            targets=[self.finalizer.rule_target()],
        )

    def _acknowledge_findings(self, reserved_concurrency: int | None) -> None:
        acknowledge(self.role.node.find_child("DefaultPolicy"), compliance.ACTIVE_TRACING_WILDCARD)
        acknowledge(self.dead_letter_queue, compliance.FINALIZER_DEAD_LETTER_QUEUE_ITSELF)
        acknowledge(self.dead_letter_queue, compliance.FINALIZER_DEAD_LETTER_QUEUE_SQS_MANAGED_SSE)
        acknowledge(
            self.function.node.find_child("EventInvokeConfig"), compliance.ASYNC_FAILURES_TO_DEAD_LETTER_QUEUE
        )
        function = self.function
        acknowledge(function, compliance.FINALIZER_FUNCTION_OUTSIDE_VPC)
        if reserved_concurrency is None:
            acknowledge(function, compliance.FINALIZER_CONCURRENCY_UNRESERVED)
        acknowledge(function, compliance.FUNCTION_ENVIRONMENT_NOT_SECRET)
        acknowledge(function, compliance.FUNCTION_DEPENDS_ON_ITS_ROLE)


def _finalizer_spec(table: dynamodb.ITable, reserved_concurrency: int | None) -> EventFunctionSpec:
    pending_only = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [PENDING_KEYS]}}
    return EventFunctionSpec(
        name="Finalizer",
        description="Writes a direct upload's item once its object has arrived as announced",
        role_description="Direct-upload finalizer: read and delete pending records, put items, logs, traces",
        handler=FINALIZER_HANDLER,
        table_statements=[
            iam.PolicyStatement(
                sid="ReadAndDeletePendingRecords",
                actions=["dynamodb:GetItem", "dynamodb:DeleteItem"],
                resources=[table.table_arn],
                conditions=pending_only,
            ),
            iam.PolicyStatement(
                sid="PutProductItems", actions=["dynamodb:PutItem"], resources=[table.table_arn]
            ),
        ],
        reserved_concurrency=reserved_concurrency,
    )
