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
from dataclasses import dataclass

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
from stages.upload.encryption import KeyAccess, customer_managed_key
from stages.upload.security_events import security_event_rules

ONE_MINUTE = cdk.Duration.minutes(1)
FIVE_MINUTES = cdk.Duration.minutes(5)
THROTTLED_429_METRIC = "Throttled429"
# Where each alarm's description and the dashboard send the operator (tests/docs checks it exists).
RUNBOOK_PAGE, RUNBOOK_SECTION = "docs/operations.md", "Alarms, and what to do"
RUNBOOK = f"{RUNBOOK_PAGE}, '{RUNBOOK_SECTION}'"


@dataclass(frozen=True)
class AlarmWindow:
    """How an alarm evaluates: `datapoints` of the last `periods` periods (the metric's) must breach."""

    periods: int
    datapoints: int


# One-minute metrics, fast enough that a bad canary (10 percent for 5 minutes) is caught in its window.
FAST = AlarmWindow(periods=3, datapoints=2)
# One-minute p99 is one slow request in a quiet minute (a cold start): three bad minutes out of five.
LATENCY = AlarmWindow(periods=5, datapoints=3)
# Five-minute throttling sums: a capacity signal, not a code regression; any at all.
CAPACITY = AlarmWindow(periods=1, datapoints=1)

# The Logs Insights queries, saved in the account and shown on the dashboard. The handler writes
# one EMF line per rejected (4xx) or failed (5xx) request with a `reason` field; nothing else
# in the function's log carries `reason`.
FAILED_UPLOADS_BY_REASON = logs.QueryString(
    fields=["@timestamp", "reason", "service"],
    filter_statements=["ispresent(reason)"],
    stats_statements=["count(*) as requests by reason"],
    sort="requests desc",
)
# Why a storage write failed: the handler logs "Upload not stored" with the failing call and AWS code.
STORAGE_FAILURES_BY_CAUSE = logs.QueryString(
    fields=["@timestamp", "stage", "code", "xray_trace_id"],
    filter_statements=['message = "Upload not stored"'],
    stats_statements=["count(*) as failures by stage, code"],
    sort="failures desc",
)


@dataclass(frozen=True)
class UploadAlarms:
    api_5xx_rate: cloudwatch.Alarm
    lambda_errors: cloudwatch.Alarm
    p99_latency: cloudwatch.Alarm
    lambda_throttles: cloudwatch.Alarm
    dynamodb_throttles: cloudwatch.Alarm

    @property
    def all(self) -> tuple[cloudwatch.Alarm, ...]:
        return (
            self.api_5xx_rate,
            self.lambda_errors,
            self.p99_latency,
            self.lambda_throttles,
            self.dynamodb_throttles,
        )

    @property
    def rollback(self) -> tuple[cloudwatch.Alarm, ...]:
        """The error and latency alarms: a new version that trips one of them is rolled back."""
        return (self.lambda_errors, self.p99_latency, self.api_5xx_rate)


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
        self.api_stage_name = api_stage_name
        self.function = function
        self.table = table
        self.metrics_namespace = metrics_namespace
        self.service_name = service_name
        stack = cdk.Stack.of(self)

        self.execution_logs = self._execution_log_group(logs_key, retention, api_stage_name)
        self.throttled_429_filter = logs.MetricFilter(
            self,
            "Throttled429Filter",
            log_group=access_logs,
            # API Gateway's 4XXError counts 429s with every other 4xx; its access log has the status.
            filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
            metric_namespace=metrics_namespace,
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

        self.topic = self._alarm_topic(key_access)
        self.alarms = self._alarms()
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms.all:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.security_rules: tuple[events.Rule, ...] = ()
        self.security_events_undelivered: cloudwatch.Alarm | None = None
        if upload_bucket is not None:
            self.security_rules = security_event_rules(
                self,
                stage=settings.stage,
                keys=[*watched_keys, self.topic_key],
                bucket=upload_bucket,
                topic=self.topic,
            )
            self.security_events_undelivered = self._security_delivery_alarm()

        self.dashboard_name = f"{stack.stack_name}-{stack.region}"
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.dashboard_name,
            default_interval=cdk.Duration.hours(3),
            widgets=self._widgets(function_logs),
        )
        self.dashboard_url = (
            f"https://{stack.region}.console.aws.amazon.com/cloudwatch/home?region={stack.region}"
            f"#dashboards/dashboard/{self.dashboard_name}"
        )

    # -- metrics ---------------------------------------------------------------------------------

    def api_metric(self, name: str, statistic: str, label: str) -> cloudwatch.Metric:
        """An API Gateway stage metric, dimensioned by literal names.

        Not `Stage.metric_*`: those reference the stage resource, and the rollback alarms must
        not depend on the API (the method integrates the alias, whose update waits for the
        deployment group, which waits for the alarms: a reference would close that loop).
        """
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiName": self.api.rest_api_name, "Stage": self.api_stage_name},
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def api_metrics(self) -> dict[str, cloudwatch.IMetric]:
        return {
            "requests": self.api_metric("Count", "Sum", "Requests"),
            "4xx": self.api_metric("4XXError", "Sum", "4xx (incl. 429)"),
            "5xx": self.api_metric("5XXError", "Sum", "5xx"),
            "429": cloudwatch.Metric(
                namespace=self.metrics_namespace,
                metric_name=THROTTLED_429_METRIC,
                dimensions_map={"ApiId": self.api.rest_api_id},
                statistic="Sum",
                period=ONE_MINUTE,
                label="429 (throttled, from the access log)",
            ),
        }

    def api_5xx_rate(self) -> cloudwatch.MathExpression:
        metrics = self.api_metrics()
        return cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"requests": metrics["requests"], "errors": metrics["5xx"]},
            label="5xx rate (%)",
            period=ONE_MINUTE,
        )

    def _handler_metric(self, name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.metrics_namespace,
            metric_name=name,
            dimensions_map={"service": self.service_name},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )

    def _by_reason(self, name: str) -> cloudwatch.MathExpression:
        """Every `reason` the handler ever reported for `name`, without listing them here."""
        search = (
            f'{{{self.metrics_namespace},reason,service}} MetricName="{name}" service="{self.service_name}"'
        )
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', 300)",
            using_metrics={},
            label="",
            period=FIVE_MINUTES,
        )

    def _by_version(self, name: str) -> cloudwatch.MathExpression:
        """The live alias's invocations split by the version that ran them: the canary, visibly."""
        search = (
            "{AWS/Lambda,ExecutedVersion,FunctionName,Resource} "
            f'MetricName="{name}" FunctionName="{self.function.function_name}"'
        )
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', 60)", using_metrics={}, label="", period=ONE_MINUTE
        )

    def _dynamodb_metric(self, name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=name,
            dimensions_map={"TableName": self.table.table_name, "Operation": "PutItem"},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )

    # -- alarms ----------------------------------------------------------------------------------

    def _alarms(self) -> UploadAlarms:
        s = self.settings
        at_or_above = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        stage = s.stage
        return UploadAlarms(
            api_5xx_rate=self._alarm(
                "Api5xxRate",
                self.api_5xx_rate(),
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
                self.api_metric("Latency", "p99", "Latency p99"),
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
                self._dynamodb_metric("ThrottledRequests", "PutItem throttled"),
                threshold=s.dynamodb_throttles_threshold,
                comparison=at_or_above,
                window=CAPACITY,
                description=(
                    f"{stage}: DynamoDB throttled {s.dynamodb_throttles_threshold} or more PutItem "
                    "requests in 5 minutes; each is an orphaned object and a 503 unless the SDK retry won."
                ),
            ),
        )

    def security_rule_metric(self, rule: events.Rule, name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name=name,
            dimensions_map={"RuleName": rule.rule_name},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )

    def _security_delivery_alarm(self) -> cloudwatch.Alarm:
        """A security event EventBridge could not hand to the topic (a key or topic policy broke it).

        Not sent to the topic (whose delivery is what failed): it shows on the dashboard.
        """
        failed = cloudwatch.MathExpression(
            expression=" + ".join(f"f{i}" for i in range(len(self.security_rules))),
            using_metrics={
                f"f{i}": self.security_rule_metric(rule, "FailedInvocations", "failed")
                for i, rule in enumerate(self.security_rules)
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
        stack = cdk.Stack.of(self)
        key = customer_managed_key(
            self, "AlarmTopicKey", "Encrypts the upload API's alarm notifications", access=key_access
        )
        self.topic_key = key
        # CloudWatch publishes to an encrypted topic only if the key lets it make data keys.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        # EventBridge (the security event rules) publishes to the encrypted topic the same way.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeRulesToPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Upload API alarms ({self.settings.stage})",
            master_key=key,
            enforce_ssl=True,
        )
        # The topic policy enforce_ssl creates replaces SNS's default one: allow this account's alarms.
        this_accounts_alarms = f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": this_accounts_alarms},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
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

    # -- dashboard -------------------------------------------------------------------------------

    def _widgets(self, function_logs: logs.ILogGroup) -> list[list[cloudwatch.IWidget]]:
        api = self.api_metrics()
        function = self.function
        alarms = self.alarms
        s = self.settings

        def graph(
            title: str,
            left: list[cloudwatch.IMetric],
            *,
            right: list[cloudwatch.IMetric] | None = None,
            left_annotations: list[cloudwatch.HorizontalAnnotation] | None = None,
            right_annotations: list[cloudwatch.HorizontalAnnotation] | None = None,
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=left,
                right=right,
                left_annotations=left_annotations,
                right_annotations=right_annotations,
                width=6,
                height=6,
            )

        def percentiles(metric: str, stats: tuple[str, ...]) -> list[cloudwatch.IMetric]:
            return [self.api_metric(metric, stat, f"{metric} {stat}") for stat in stats]

        header = cloudwatch.TextWidget(
            markdown=(
                f"# Upload API ({s.stage})\n"
                "POST /upload: API Gateway → Lambda (alias `live`) → S3 + DynamoDB. Alarms go to the "
                f"stage's SNS topic; what each means and what to do: {RUNBOOK}."
            ),
            width=24,
            height=2,
        )
        alarm_status = cloudwatch.AlarmStatusWidget(
            title="Alarms", alarms=list(alarms.all), width=24, height=2
        )
        api_row: list[cloudwatch.IWidget] = [
            graph("API requests", [api["requests"]]),
            graph(
                "API errors: 4xx, 5xx, 429",
                [api["4xx"], api["5xx"], api["429"]],
                right=[self.api_5xx_rate()],
                right_annotations=[alarms.api_5xx_rate.to_annotation()],
            ),
            graph(
                "API latency (ms): p50, p90, p99",
                percentiles("Latency", ("p50", "p90", "p99")),
                left_annotations=[alarms.p99_latency.to_annotation()],
            ),
            graph(
                "API integration latency (ms): p50, p90, p99",
                percentiles("IntegrationLatency", ("p50", "p90", "p99")),
            ),
        ]
        lambda_row: list[cloudwatch.IWidget] = [
            graph(
                "Lambda invocations, errors, throttles",
                [
                    function.metric_invocations(statistic="Sum", period=ONE_MINUTE, label="Invocations"),
                    function.metric_errors(statistic="Sum", period=ONE_MINUTE, label="Errors"),
                    function.metric_throttles(statistic="Sum", period=ONE_MINUTE, label="Throttles"),
                ],
                left_annotations=[alarms.lambda_errors.to_annotation()],
            ),
            graph(
                "Lambda duration (ms): p50, p99",
                [
                    function.metric_duration(statistic="p50", period=ONE_MINUTE, label="Duration p50"),
                    function.metric_duration(statistic="p99", period=ONE_MINUTE, label="Duration p99"),
                ],
            ),
            graph(
                "Lambda concurrent executions",
                [function.metric("ConcurrentExecutions", statistic="Maximum", period=ONE_MINUTE)],
                # Above this line Lambda throttles and clients get 500 (docs/capacity.md).
                left_annotations=(
                    [
                        cloudwatch.HorizontalAnnotation(
                            value=s.reserved_concurrency, label="Reserved concurrency"
                        )
                    ]
                    if s.reserved_concurrency is not None
                    else None
                ),
            ),
            graph(
                "Canary: invocations and errors by version",
                [self._by_version("Invocations")],
                right=[self._by_version("Errors")],
            ),
        ]
        handler_row: list[cloudwatch.IWidget] = [
            graph(
                "Uploads stored (and orphaned objects)",
                [
                    self._handler_metric("Uploads", "Uploads"),
                    self._handler_metric("OrphanedObjects", "Orphaned"),
                ],
            ),
            graph("Uploaded bytes", [self._handler_metric("UploadedBytes", "Bytes")]),
            graph("Rejections (4xx) by reason", [self._by_reason("Rejections")]),
            graph("Failures (5xx) by reason", [self._by_reason("Failures")]),
        ]
        storage_row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="DynamoDB PutItem: throttled requests and system errors",
                left=[
                    self._dynamodb_metric("ThrottledRequests", "Throttled"),
                    self._dynamodb_metric("SystemErrors", "System errors"),
                ],
                left_annotations=[alarms.dynamodb_throttles.to_annotation()],
                width=8,
                height=6,
            ),
            cloudwatch.LogQueryWidget(
                title="Failed uploads by reason (Logs Insights, function log)",
                log_group_names=[function_logs.log_group_name],
                query_string=FAILED_UPLOADS_BY_REASON.to_string(),
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=8,
                height=6,
            ),
            cloudwatch.LogQueryWidget(
                title="Storage failures by cause (Logs Insights, function log)",
                log_group_names=[function_logs.log_group_name],
                query_string=STORAGE_FAILURES_BY_CAUSE.to_string(),
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=8,
                height=6,
            ),
        ]
        rows: list[list[cloudwatch.IWidget]] = [
            [header],
            [alarm_status],
            api_row,
            lambda_row,
            handler_row,
            storage_row,
        ]
        if self.security_rules and self.security_events_undelivered:
            rows.append(self._security_row())
        return rows

    def _security_row(self) -> list[cloudwatch.IWidget]:
        key_rule, bucket_rule = self.security_rules
        assert self.security_events_undelivered is not None
        return [
            cloudwatch.GraphWidget(
                title="Security events: key and bucket changes sent to the alarm topic",
                left=[
                    self.security_rule_metric(key_rule, "TriggeredRules", "Key changes"),
                    self.security_rule_metric(bucket_rule, "TriggeredRules", "Bucket changes"),
                ],
                width=16,
                height=6,
            ),
            cloudwatch.AlarmWidget(
                title="Security events not delivered",
                alarm=self.security_events_undelivered,
                width=8,
                height=6,
            ),
        ]
