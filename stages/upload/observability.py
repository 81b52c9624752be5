"""What an operator looks at: one dashboard per stage, five alarms, their topic, saved log queries.

Everything here reads the upload stack's resources and changes none of them, except
that the API stage waits for its execution log group (so API Gateway never creates
it first, without retention). The alarms that mean "this version is bad" are also
the ones CodeDeploy watches during a canary deploy (stages/upload/deployment.py).

Periods are one minute where a canary must react within its window (5xx rate,
Lambda errors, p99 latency) and five minutes for capacity signals (throttles).
Missing data never breaches: no traffic is not an incident.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stages import compliance
from stages.compliance import acknowledge
from stages.settings import StageSettings
from stages.upload.dashboard import SecurityEvents, dashboard_widgets
from stages.upload.encryption import KeyAccess, customer_managed_key
from stages.upload.metrics import (
    CAPACITY,
    FAILED_UPLOADS_BY_REASON,
    FAST,
    FIVE_MINUTES,
    LATENCY,
    ONE_MINUTE,
    STORAGE_FAILURES_BY_CAUSE,
    THROTTLED_429_METRIC,
    AlarmWindow,
    UploadAlarms,
    UploadMetrics,
    security_rule_metric,
)
from stages.upload.security_events import security_event_rules

# Where each alarm's description and the dashboard send the operator (tests/docs checks it exists).
RUNBOOK_PAGE, RUNBOOK_SECTION = "docs/operations.md", "Alarms, and what to do"
RUNBOOK = f"{RUNBOOK_PAGE}, '{RUNBOOK_SECTION}'"


class Observability(Construct):
    """Dashboard, alarms, alarm topic, 429 metric filter, saved queries and execution logs of one stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        api: apigw.RestApi,
        api_stage_name: str,
        function: lambda_.Function,
        table: dynamodb.Table,
        function_logs: logs.ILogGroup,
        access_logs: logs.ILogGroup,
        logs_key: kms.IKey,
        retention: logs.RetentionDays,
        metrics_namespace: str,
        service_name: str,
        key_access: KeyAccess | None = None,
        watched_keys: Sequence[kms.IKey] = (),
        upload_bucket: s3.IBucket | None = None,
    ) -> None:
        """`watched_keys` and `upload_bucket`: changes to them are sent to the alarm topic
        (stages/upload/security_events.py); `key_access`: who manages the topic's own key."""
        super().__init__(scope, construct_id)
        self.settings = settings
        self.api = api
        self.stage = api.deployment_stage
        self.function = function
        self.metrics = UploadMetrics(api, api_stage_name, function, table, metrics_namespace, service_name)
        stack = cdk.Stack.of(self)

        self.execution_logs = self._execution_log_group(logs_key, retention, api_stage_name)
        self._log_queries(access_logs, function_logs)
        self.topic = self._alarm_topic(key_access)
        self.alarms = self._alarms()
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms.all:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.security_events = (
            self._security_events([*watched_keys, self.topic_key], upload_bucket)
            if upload_bucket is not None
            else None
        )

        self.dashboard_name = f"{stack.stack_name}-{stack.region}"
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.dashboard_name,
            default_interval=cdk.Duration.hours(3),
            widgets=dashboard_widgets(
                settings=settings,
                metrics=self.metrics,
                alarms=self.alarms,
                function_logs=function_logs,
                runbook=RUNBOOK,
                security=self.security_events,
            ),
        )
        self.dashboard_url = (
            f"https://{stack.region}.console.aws.amazon.com/cloudwatch/home?region={stack.region}"
            f"#dashboards/dashboard/{self.dashboard_name}"
        )

    def _log_queries(self, access_logs: logs.ILogGroup, function_logs: logs.ILogGroup) -> None:
        """The 429 count from the access log, and the saved Logs Insights queries of the function log."""
        stack = cdk.Stack.of(self)
        self.throttled_429_filter = logs.MetricFilter(
            self,
            "Throttled429Filter",
            log_group=access_logs,
            # API Gateway's 4XXError counts 429s with every other 4xx; its access log has the status.
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_namespace=self.metrics.namespace,
            metric_name=THROTTLED_429_METRIC,
            metric_value="1",
            dimensions={"ApiId": "$.apiId"},
            unit=cloudwatch.Unit.COUNT,
        )
        self.failed_uploads_query = logs.QueryDefinition(
            self,
            "FailedUploadsByReason",
            query_definition_name=f"{stack.stack_name}/failed-uploads-by-reason",
            query_string=FAILED_UPLOADS_BY_REASON,
            log_groups=[function_logs],
        )
        self.storage_failures_query = logs.QueryDefinition(
            self,
            "StorageFailuresByCause",
            query_definition_name=f"{stack.stack_name}/storage-failures-by-cause",
            query_string=STORAGE_FAILURES_BY_CAUSE,
            log_groups=[function_logs],
        )

    def _security_events(self, keys: Sequence[kms.IKey], bucket: s3.IBucket) -> SecurityEvents:
        key_rule, bucket_rule = security_event_rules(
            self, stage=self.settings.stage, keys=keys, bucket=bucket, topic=self.topic
        )
        undelivered = self._security_delivery_alarm((key_rule, bucket_rule))
        # Sent to the alarm topic too: a failure of EventBridge's delivery (its key grant, say) leaves
        # CloudWatch's own delivery to the topic working, so someone is told.
        undelivered.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        return SecurityEvents(key_rule, bucket_rule, undelivered)

    # -- alarms ----------------------------------------------------------------------------------

    def _alarms(self) -> UploadAlarms:
        s = self.settings
        at_or_above = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        stage = s.stage
        return UploadAlarms(
            api_5xx_rate=self._alarm(
                "Api5xxRate",
                self.metrics.api_5xx_rate(),
                threshold=s.api_5xx_rate_threshold_percent,
                comparison=above,
                window=FAST,
                description=(
                    f"{stage}: more than {s.api_5xx_rate_threshold_percent:g}% of POST /upload requests "
                    "answered 5xx. Handled storage faults (S3/DynamoDB/KMS) and Lambda crashes both count."
                ),
            ),
            lambda_errors=self._alarm(
                "LambdaErrors",
                self.function.metric_errors(statistic="Sum", period=ONE_MINUTE),
                threshold=s.lambda_errors_threshold,
                comparison=at_or_above,
                window=FAST,
                description=(
                    f"{stage}: the upload function failed (unhandled error, timeout or init failure) "
                    f"{s.lambda_errors_threshold} or more times a minute."
                ),
            ),
            p99_latency=self._alarm(
                "P99Latency",
                self.metrics.api_metric("Latency", "p99", "Latency p99"),
                threshold=s.p99_latency_threshold_ms,
                comparison=above,
                window=LATENCY,
                description=(
                    f"{stage}: p99 latency of POST /upload as clients see it is above "
                    f"{s.p99_latency_threshold_ms} ms."
                ),
            ),
            lambda_throttles=self._alarm(
                "LambdaThrottles",
                self.function.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
                threshold=s.lambda_throttles_threshold,
                comparison=at_or_above,
                window=CAPACITY,
                description=(
                    f"{stage}: Lambda refused {s.lambda_throttles_threshold} or more invocations in "
                    "5 minutes (its reserved concurrency, "
                    f"{s.reserved_concurrency if s.reserved_concurrency is not None else 'none'}, or the "
                    "account's limit); clients got 500, not 429 (docs/capacity.md)."
                ),
            ),
            dynamodb_throttles=self._alarm(
                "DynamoDbThrottles",
                self.metrics.dynamodb_metric("ThrottledRequests", "PutItem throttled"),
                threshold=s.dynamodb_throttles_threshold,
                comparison=at_or_above,
                window=CAPACITY,
                description=(
                    f"{stage}: DynamoDB throttled {s.dynamodb_throttles_threshold} or more PutItem "
                    "requests in 5 minutes; each is an orphaned object and a 503 unless the SDK retry won."
                ),
            ),
        )

    def _security_delivery_alarm(self, rules: Sequence[events.Rule]) -> cloudwatch.Alarm:
        """A security event EventBridge could not hand to the topic (a key or topic policy broke it).

        On the dashboard, and sent to the topic by CloudWatch (whose delivery is separate).
        """
        failed = cloudwatch.MathExpression(
            expression=" + ".join(f"f{i}" for i in range(len(rules))),
            using_metrics={
                f"f{i}": security_rule_metric(rule, "FailedInvocations", "failed")
                for i, rule in enumerate(rules)
            },
            label="Security events not delivered",
            period=FIVE_MINUTES,
        )
        return self._alarm(
            "SecurityEventsUndelivered",
            failed,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            window=CAPACITY,
            description=(
                f"{self.settings.stage}: EventBridge failed to send a key or bucket change event to the "
                "alarm topic; read the rules' targets and the topic key's policy (events.amazonaws.com)."
            ),
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        window: AlarmWindow,
        description: str,
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=window.periods,
            datapoints_to_alarm=window.datapoints,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{description} What to do: {RUNBOOK}.",
        )

    # -- topic -----------------------------------------------------------------------------------

    def _alarm_topic(self, key_access: KeyAccess | None) -> sns.Topic:
        key = customer_managed_key(
            self, "AlarmTopicKey", "Encrypts the upload API's alarm notifications", access=key_access
        )
        self.topic_key = key
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Upload API alarms ({self.settings.stage})",
            master_key=key,
            enforce_ssl=True,
        )
        let_alarms_publish(topic)
        # EventBridge (the security event rules) publishes to the encrypted topic as well. No
        # source conditions here: SNS documents that EventBridge's KMS requests carry none, so they
        # would drop every event; the topic policy names the rules that may publish (security_events.py).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeRulesToPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        if self.settings.alarm_email:
            subscription = topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
            acknowledge(subscription, compliance.ALARM_EMAIL_NO_REDRIVE)
        return topic

    # -- logs ------------------------------------------------------------------------------------

    def _execution_log_group(
        self, key: kms.IKey, retention: logs.RetentionDays, stage_name: str
    ) -> logs.LogGroup:
        """API Gateway's execution log group, made by us so it is encrypted and expires."""
        group = logs.LogGroup(
            self,
            "ApiExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{stage_name}",
            retention=retention,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # The stage starts logging once it exists; the group must be there first.
        self.stage.node.add_dependency(group)
        return group


def let_alarms_publish(topic: sns.Topic) -> None:
    """This account's CloudWatch alarms may publish to the topic: the key lets
    CloudWatch make data keys and the topic policy (which enforce_ssl made, replacing SNS's default)
    lets it publish, both only on behalf of this account's alarms."""
    stack = cdk.Stack.of(topic)
    this_accounts_alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
    conditions = {
        "ArnLike": {"aws:SourceArn": this_accounts_alarms},
        "StringEquals": {"aws:SourceAccount": stack.account},
    }
    if topic.master_key is not None:
        topic.master_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowThisAccountsAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )
