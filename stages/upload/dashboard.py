"""The stage's CloudWatch dashboard, row by row: API, function, handler, storage, security events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs

from stages.settings import StageSettings
from stages.upload.metrics import (
    FAILED_UPLOADS_BY_REASON,
    ONE_MINUTE,
    STORAGE_FAILURES_BY_CAUSE,
    UploadAlarms,
    UploadMetrics,
    security_rule_metric,
)


@dataclass(frozen=True)
class SecurityEvents:
    """The key and bucket change rules, and the alarm for the events they could not deliver."""

    key_rule: events.Rule
    bucket_rule: events.Rule
    undelivered: cloudwatch.Alarm


def dashboard_widgets(
    *,
    settings: StageSettings,
    metrics: UploadMetrics,
    alarms: UploadAlarms,
    function_logs: logs.ILogGroup,
    runbook: str,
    security: SecurityEvents | None,
) -> list[list[cloudwatch.IWidget]]:
    header = cloudwatch.TextWidget(
        markdown=(
            f"# Upload API ({settings.stage})\n"
            "POST /upload: API Gateway → Lambda (alias `live`) → S3 + DynamoDB. Alarms go to the "
            f"stage's SNS topic; what each means and what to do: {runbook}."
        ),
        width=24,
        height=2,
    )
    alarm_status = cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms.all), width=24, height=2)
    rows: list[list[cloudwatch.IWidget]] = [
        [header],
        [alarm_status],
        _api_row(metrics, alarms),
        _lambda_row(metrics, alarms, settings.reserved_concurrency),
        _handler_row(metrics),
        _storage_row(metrics, alarms, function_logs),
    ]
    if security is not None:
        rows.append(_security_row(security))
    return rows


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    right: Sequence[cloudwatch.IMetric] | None = None,
    left_annotations: Sequence[cloudwatch.HorizontalAnnotation] | None = None,
    right_annotations: Sequence[cloudwatch.HorizontalAnnotation] | None = None,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right) if right is not None else None,
        left_annotations=list(left_annotations) if left_annotations is not None else None,
        right_annotations=list(right_annotations) if right_annotations is not None else None,
        width=6,
        height=6,
    )


def _api_row(metrics: UploadMetrics, alarms: UploadAlarms) -> list[cloudwatch.IWidget]:
    api = metrics.api_metrics()

    def percentiles(metric: str, stats: tuple[str, ...]) -> list[cloudwatch.IMetric]:
        return [metrics.api_metric(metric, stat, f"{metric} {stat}") for stat in stats]

    return [
        _graph("API requests", [api["requests"]]),
        _graph(
            "API errors: 4xx, 5xx, 429",
            [api["4xx"], api["5xx"], api["429"]],
            right=[metrics.api_5xx_rate()],
            right_annotations=[alarms.api_5xx_rate.to_annotation()],
        ),
        _graph(
            "API latency (ms): p50, p90, p99",
            percentiles("Latency", ("p50", "p90", "p99")),
            left_annotations=[alarms.p99_latency.to_annotation()],
        ),
        _graph(
            "API integration latency (ms): p50, p90, p99",
            percentiles("IntegrationLatency", ("p50", "p90", "p99")),
        ),
    ]


def _lambda_row(
    metrics: UploadMetrics, alarms: UploadAlarms, reserved_concurrency: int | None
) -> list[cloudwatch.IWidget]:
    function = metrics.function
    return [
        _graph(
            "Lambda invocations, errors, throttles",
            [
                function.metric_invocations(statistic="Sum", period=ONE_MINUTE, label="Invocations"),
                function.metric_errors(statistic="Sum", period=ONE_MINUTE, label="Errors"),
                function.metric_throttles(statistic="Sum", period=ONE_MINUTE, label="Throttles"),
            ],
            left_annotations=[alarms.lambda_errors.to_annotation()],
        ),
        _graph(
            "Lambda duration (ms): p50, p99",
            [
                function.metric_duration(statistic="p50", period=ONE_MINUTE, label="Duration p50"),
                function.metric_duration(statistic="p99", period=ONE_MINUTE, label="Duration p99"),
            ],
        ),
        _graph(
            "Lambda concurrent executions",
            [function.metric("ConcurrentExecutions", statistic="Maximum", period=ONE_MINUTE)],
            # Above this line Lambda throttles and clients get 500 (docs/capacity.md).
            left_annotations=(
                [cloudwatch.HorizontalAnnotation(value=reserved_concurrency, label="Reserved concurrency")]
                if reserved_concurrency is not None
                else None
            ),
        ),
        _graph(
            "Canary: invocations and errors by version",
            [metrics.by_version("Invocations")],
            right=[metrics.by_version("Errors")],
        ),
    ]


def _handler_row(metrics: UploadMetrics) -> list[cloudwatch.IWidget]:
    return [
        _graph(
            "Uploads stored (and orphaned objects)",
            [
                metrics.handler_metric("Uploads", "Uploads"),
                metrics.handler_metric("OrphanedObjects", "Orphaned"),
            ],
        ),
        _graph("Uploaded bytes", [metrics.handler_metric("UploadedBytes", "Bytes")]),
        _graph("Rejections (4xx) by reason", [metrics.by_reason("Rejections")]),
        _graph("Failures (5xx) by reason", [metrics.by_reason("Failures")]),
    ]


def _storage_row(
    metrics: UploadMetrics, alarms: UploadAlarms, function_logs: logs.ILogGroup
) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="DynamoDB PutItem: throttled requests and system errors",
            left=[
                metrics.dynamodb_metric("ThrottledRequests", "Throttled"),
                metrics.dynamodb_metric("SystemErrors", "System errors"),
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


def _security_row(security: SecurityEvents) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="Security events: key and bucket changes sent to the alarm topic",
            left=[
                security_rule_metric(security.key_rule, "TriggeredRules", "Key changes"),
                security_rule_metric(security.bucket_rule, "TriggeredRules", "Bucket changes"),
            ],
            width=16,
            height=6,
        ),
        cloudwatch.AlarmWidget(
            title="Security events not delivered",
            alarm=security.undelivered,
            width=8,
            height=6,
        ),
    ]
