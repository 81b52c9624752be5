"""What the stage's alarms and dashboard read: its metrics, saved log queries and alarm windows.

Nothing here creates a resource; stages/upload/observability.py and stages/upload/dashboard.py
build on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

ONE_MINUTE = cdk.Duration.minutes(1)
FIVE_MINUTES = cdk.Duration.minutes(5)
THROTTLED_429_METRIC = "Throttled429"

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


@dataclass(frozen=True)
class UploadMetrics:
    """The metrics of one stage's API, function, handler and table."""

    api: apigw.RestApi
    api_stage_name: str
    function: lambda_.IFunction
    table: dynamodb.ITable
    namespace: str
    service_name: str

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
                namespace=self.namespace,
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

    def handler_metric(self, name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": self.service_name},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )

    def by_reason(self, name: str) -> cloudwatch.MathExpression:
        """Every `reason` the handler ever reported for `name`, without listing them here."""
        search = f'{{{self.namespace},reason,service}} MetricName="{name}" service="{self.service_name}"'
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', 300)",
            using_metrics={},
            label="",
            period=FIVE_MINUTES,
        )

    def by_version(self, name: str) -> cloudwatch.MathExpression:
        """The live alias's invocations split by the version that ran them: the canary, visibly."""
        search = (
            "{AWS/Lambda,ExecutedVersion,FunctionName,Resource} "
            f'MetricName="{name}" FunctionName="{self.function.function_name}"'
        )
        return cloudwatch.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', 60)", using_metrics={}, label="", period=ONE_MINUTE
        )

    def dynamodb_metric(self, name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=name,
            dimensions_map={"TableName": self.table.table_name, "Operation": "PutItem"},
            statistic="Sum",
            period=FIVE_MINUTES,
            label=label,
        )


def security_rule_metric(rule: events.Rule, name: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name=name,
        dimensions_map={"RuleName": rule.rule_name},
        statistic="Sum",
        period=FIVE_MINUTES,
        label=label,
    )
