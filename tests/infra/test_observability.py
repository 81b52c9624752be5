"""Observability: the stage's dashboard, its five alarms and their topic, the 429 metric, saved queries, logs.

Thresholds come from cdk.json (uploadApi.defaults / stages.<stage>); each test reads the
value it expects from there, so changing cdk.json never needs a test edit.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from stages.settings import CONTEXT_KEY, SettingsError, StageSettings, load_stage_settings
from stages.upload.observability import FAILED_UPLOADS_BY_REASON, STORAGE_FAILURES_BY_CAUSE
from stages.upload.stack import METRICS_NAMESPACE, api_stage_name, service_name

from .conftest import Synthesized, as_text, cdk_json_setting, context_with, synth_stage

pytestmark = pytest.mark.synth

STAGES = ["dev", "prod"]
STACK_NAMES = {"dev": "Dev-UploadApi", "prod": "Prod-UploadApi"}
ALARMS = ("Api5xxRate", "LambdaErrors", "P99Latency", "LambdaThrottles", "DynamoDbThrottles")
# alarm -> (threshold setting, comparison, period s, evaluation periods, datapoints to alarm)
ALARM_RULES = {
    "Api5xxRate": ("api5xxRateThresholdPercent", "GreaterThanThreshold", 60, 3, 2),
    "LambdaErrors": ("lambdaErrorsThreshold", "GreaterThanOrEqualToThreshold", 60, 3, 2),
    "P99Latency": ("p99LatencyThresholdMs", "GreaterThanThreshold", 60, 5, 3),
    "LambdaThrottles": ("lambdaThrottlesThreshold", "GreaterThanOrEqualToThreshold", 300, 1, 1),
    "DynamoDbThrottles": ("dynamodbThrottlesThreshold", "GreaterThanOrEqualToThreshold", 300, 1, 1),
}


# -- helpers ---------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A string-valued template expression with every token replaced by a placeholder.

    Ref X -> <Ref:X>, GetAtt X.Y -> <GetAtt:X.Y>; placeholders hold no quote or backslash,
    so a JSON document built by Fn::Join (the dashboard body) still parses.
    """
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    if function == "Fn::Join":
        separator, parts = argument
        return separator.join(_text(part) for part in parts)
    if function == "Ref":
        return f"<Ref:{argument}>"
    if function == "Fn::GetAtt":
        return f"<GetAtt:{argument[0]}.{argument[1]}>"
    raise TypeError(f"unexpected intrinsic in a string: {value!r}")


def _by_path(stage: Synthesized, resource_type: str, path_suffix: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type whose construct path ends with `path_suffix`."""
    matches = [
        (logical_id, resource)
        for logical_id, resource in stage.of_type(resource_type).items()
        if resource["Metadata"]["aws:cdk:path"].endswith(path_suffix)
    ]
    assert len(matches) == 1, (resource_type, path_suffix, matches)
    return matches[0]


def _alarm(stage: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    logical_id, alarm = _by_path(stage, "AWS::CloudWatch::Alarm", f"/Observability/{name}/Resource")
    return logical_id, alarm["Properties"]


def _dashboard(stage: Synthesized) -> dict[str, Any]:
    ((_, dashboard),) = stage.of_type("AWS::CloudWatch::Dashboard").items()
    return json.loads(_text(dashboard["Properties"]["DashboardBody"]))


def _widget(stage: Synthesized, title: str) -> dict[str, Any]:
    matches = [w["properties"] for w in _dashboard(stage)["widgets"] if w["properties"].get("title") == title]
    assert len(matches) == 1, (title, [w["properties"].get("title") for w in _dashboard(stage)["widgets"]])
    return matches[0]


def _metric_rows(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, metric name, dimensions, options) of each plain metric of a graph widget."""
    rows = []
    for row in widget["metrics"]:
        options = row[-1] if isinstance(row[-1], dict) else {}
        fields = row[:-1] if options else row
        if not fields:
            continue  # a math or SEARCH expression: only the options object
        namespace, name, *dimensions = fields
        rows.append((namespace, name, dict(zip(dimensions[::2], dimensions[1::2], strict=True)), options))
    return rows


def _expressions(widget: dict[str, Any]) -> list[str]:
    return [row[0]["expression"] for row in widget["metrics"] if len(row) == 1 and "expression" in row[0]]


def _setting(stage: str, name: str) -> Any:
    return cdk_json_setting(stage, name)


# -- dashboard -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_one_dashboard_and_its_url_is_an_output(synth, stage):
    # GIVEN a stage as cdk.json configures it
    built = synth(stage)
    # WHEN synthesized
    # THEN it has one dashboard, named after the stack and region (dashboards are account-global)
    ((_, dashboard),) = built.of_type("AWS::CloudWatch::Dashboard").items()
    name = _text(dashboard["Properties"]["DashboardName"])
    assert name == f"{STACK_NAMES[stage]}-<Ref:AWS::Region>"
    # AND the DashboardUrl output opens exactly that dashboard in the stage's region
    url = _text(built.template.find_outputs("DashboardUrl")["DashboardUrl"]["Value"])
    assert url == (
        "https://<Ref:AWS::Region>.console.aws.amazon.com/cloudwatch/home?region=<Ref:AWS::Region>"
        f"#dashboards/dashboard/{name}"
    )


# Every widget an operator sees, with the metrics (namespace, name, statistic) it must graph.
API = "AWS/ApiGateway"
LAMBDA = "AWS/Lambda"
DYNAMODB = "AWS/DynamoDB"
WIDGET_METRICS = {
    "API requests": {(API, "Count", "Sum")},
    "API errors: 4xx, 5xx, 429": {
        (API, "4XXError", "Sum"),
        (API, "5XXError", "Sum"),
        (API, "Count", "Sum"),  # hidden: the 5xx rate's denominator
        (METRICS_NAMESPACE, "Throttled429", "Sum"),
    },
    "API latency (ms): p50, p90, p99": {(API, "Latency", p) for p in ("p50", "p90", "p99")},
    "API integration latency (ms): p50, p90, p99": {
        (API, "IntegrationLatency", p) for p in ("p50", "p90", "p99")
    },
    "Lambda invocations, errors, throttles": {
        (LAMBDA, "Invocations", "Sum"),
        (LAMBDA, "Errors", "Sum"),
        (LAMBDA, "Throttles", "Sum"),
    },
    "Lambda duration (ms): p50, p99": {(LAMBDA, "Duration", "p50"), (LAMBDA, "Duration", "p99")},
    "Lambda concurrent executions": {(LAMBDA, "ConcurrentExecutions", "Maximum")},
    "Uploads stored (and orphaned objects)": {
        (METRICS_NAMESPACE, "Uploads", "Sum"),
        (METRICS_NAMESPACE, "OrphanedObjects", "Sum"),
    },
    "Uploaded bytes": {(METRICS_NAMESPACE, "UploadedBytes", "Sum")},
    "DynamoDB PutItem: throttled requests and system errors": {
        (DYNAMODB, "ThrottledRequests", "Sum"),
        (DYNAMODB, "SystemErrors", "Sum"),
    },
}


def test_the_dashboard_has_every_widget_in_reading_order(dev):
    # GIVEN the dev stage
    # WHEN its dashboard body is read
    widgets = _dashboard(dev)["widgets"]
    # THEN a header, the alarm status, then API, Lambda, handler, storage, security and direct-upload
    # rows, top to bottom
    assert [w["type"] for w in widgets[:2]] == ["text", "alarm"]
    assert "# Upload API (dev)" in widgets[0]["properties"]["markdown"]
    titles = [w["properties"].get("title") for w in widgets[2:]]
    assert titles == [
        "API requests",
        "API errors: 4xx, 5xx, 429",
        "API latency (ms): p50, p90, p99",
        "API integration latency (ms): p50, p90, p99",
        "Lambda invocations, errors, throttles",
        "Lambda duration (ms): p50, p99",
        "Lambda concurrent executions",
        "Canary: invocations and errors by version",
        "Uploads stored (and orphaned objects)",
        "Uploaded bytes",
        "Rejections (4xx) by reason",
        "Failures (5xx) by reason",
        "DynamoDB PutItem: throttled requests and system errors",
        "Failed uploads by reason (Logs Insights, function log)",
        "Storage failures by cause (Logs Insights, function log)",
        "Security events: key and bucket changes sent to the alarm topic",
        "Security events not delivered",
        "Direct uploads (202 -> item)",
        "Finalizer: invocations, errors, throttles",
        "Finalizer DLQ depth",
    ]
    # AND the rows tile the 24-column grid without overlapping
    cells = set()
    for widget in widgets:
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells
                cells.add((x, y))
        assert widget["x"] + widget["width"] <= 24


@pytest.mark.parametrize("title", list(WIDGET_METRICS))
def test_each_graph_widget_shows_its_metrics(dev, title):
    # GIVEN the dev stage's dashboard
    # WHEN the widget is read
    rows = _metric_rows(_widget(dev, title))
    # THEN it graphs exactly the expected metrics with the expected statistics
    assert {(namespace, name, options["stat"]) for namespace, name, _, options in rows} == WIDGET_METRICS[
        title
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_api_widgets_show_this_stages_api_only(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    # WHEN the API widgets are read
    # THEN every API Gateway metric is keyed by this stack's API name and its own API stage (dev, prod)
    (api_id, api) = next(iter(built.of_type("AWS::ApiGateway::RestApi").items()))
    assert api["Properties"]["Name"] == STACK_NAMES[stage]  # unique per stage: metrics are keyed by name
    for title in WIDGET_METRICS:
        for namespace, name, dimensions, _ in _metric_rows(_widget(built, title)):
            if namespace == API:
                assert dimensions == {"ApiName": STACK_NAMES[stage], "Stage": api_stage_name(stage)}, (
                    title,
                    name,
                )
            if name == "Throttled429":
                assert dimensions == {"ApiId": f"<Ref:{api_id}>"}
            if namespace == LAMBDA:
                assert dimensions == {"FunctionName": f"<Ref:{built.function_id}>"}
            if namespace == DYNAMODB:
                assert dimensions == {"TableName": f"<Ref:{built.table_id}>", "Operation": "PutItem"}
            if namespace == METRICS_NAMESPACE and name != "Throttled429":
                # per stage, so dev and prod in one account do not add up
                assert dimensions == {"service": f"upload-api-{stage}"}


def test_the_errors_widget_plots_the_5xx_rate_against_its_alarm(dev):
    # GIVEN the dev stage's "API errors" widget
    widget = _widget(dev, "API errors: 4xx, 5xx, 429")
    # WHEN its expressions and annotations are read
    # THEN the 5xx rate (percent of requests) is on the right axis with the alarm threshold line
    assert _expressions(widget) == ["IF(requests > 0, 100 * errors / requests, 0)"]
    (line,) = widget["annotations"]["horizontal"]
    assert line["yAxis"] == "right"
    assert line["value"] == _setting("dev", "api5xxRateThresholdPercent")


@pytest.mark.parametrize("metric", ["Rejections", "Failures"])
def test_rejections_and_failures_are_graphed_for_every_reason_by_search(dev, metric):
    # GIVEN the dev stage's handler row
    title = {"Rejections": "Rejections (4xx) by reason", "Failures": "Failures (5xx) by reason"}[metric]
    # WHEN the widget is read
    (expression,) = _expressions(_widget(dev, title))
    # THEN one SEARCH graphs every reason the handler emits (EMF dimensions [reason, service])
    assert expression == (
        f'SEARCH(\'{{{METRICS_NAMESPACE},reason,service}} MetricName="{metric}" '
        f"service=\"{service_name('dev')}\"', 'Sum', 300)"
    )


def test_the_canary_widget_splits_the_functions_traffic_by_executed_version(dev):
    # GIVEN the dev stage's Lambda row
    widget = _widget(dev, "Canary: invocations and errors by version")
    # WHEN its expressions are read
    # THEN invocations and errors are searched per ExecutedVersion of this function
    function = f"<Ref:{dev.function_id}>"
    assert _expressions(widget) == [
        "SEARCH('{AWS/Lambda,ExecutedVersion,FunctionName,Resource} "
        f'MetricName="{name}" FunctionName="{function}"\', \'Sum\', 60)'
        for name in ("Invocations", "Errors")
    ]


@pytest.mark.parametrize(
    ("title", "alarm"),
    [
        ("API latency (ms): p50, p90, p99", "P99Latency"),
        ("Lambda invocations, errors, throttles", "LambdaErrors"),
        ("DynamoDB PutItem: throttled requests and system errors", "DynamoDbThrottles"),
    ],
)
def test_graphs_draw_their_alarms_threshold(dev, title, alarm):
    # GIVEN a graph whose metric an alarm watches
    # WHEN its annotations are read
    (line,) = _widget(dev, title)["annotations"]["horizontal"]
    # THEN the alarm's threshold is drawn on it
    assert line["value"] == _alarm(dev, alarm)[1]["Threshold"]


def test_the_alarm_status_widget_lists_all_five_alarms(dev):
    # GIVEN the dev stage's dashboard
    (status,) = [w for w in _dashboard(dev)["widgets"] if w["type"] == "alarm"]
    # WHEN read
    # THEN it shows the five alarms
    assert status["properties"]["alarms"] == [f"<GetAtt:{_alarm(dev, name)[0]}.Arn>" for name in ALARMS]


def test_the_log_widgets_run_the_saved_queries_on_the_function_log(dev):
    # GIVEN the dev stage's last row
    source = f"SOURCE '<Ref:{dev.function_log_group_id}>' | "
    # WHEN the log widgets are read
    # THEN they run the same queries as the saved ones, on the function's log group
    failed = _widget(dev, "Failed uploads by reason (Logs Insights, function log)")
    storage = _widget(dev, "Storage failures by cause (Logs Insights, function log)")
    assert failed["query"] == source + FAILED_UPLOADS_BY_REASON.to_string()
    assert storage["query"] == source + STORAGE_FAILURES_BY_CAUSE.to_string()


# -- 429s ------------------------------------------------------------------------------------------


def test_429s_are_counted_from_the_access_log_by_a_metric_filter(dev, template):
    # GIVEN the dev stage (API Gateway's 4XXError counts 429 with every other 4xx)
    # WHEN synthesized
    ((_, metric_filter),) = dev.of_type("AWS::Logs::MetricFilter").items()
    stage = next(iter(dev.of_type("AWS::ApiGateway::Stage").values()))["Properties"]
    # THEN a metric filter on the access log group counts lines whose status is 429
    props = metric_filter["Properties"]
    assert props["FilterPattern"] == '{ $.status = "429" }'
    assert props["LogGroupName"] == {
        "Ref": stage["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1][-1]["Ref"]
    }
    assert props["MetricTransformations"] == [
        {
            "MetricNamespace": METRICS_NAMESPACE,
            "MetricName": "Throttled429",
            "MetricValue": "1",
            "Unit": "Count",
            "Dimensions": [{"Key": "ApiId", "Value": "$.apiId"}],
        }
    ]
    # AND the access log line carries the API id and the status the filter reads
    fields = json.loads(stage["AccessLogSetting"]["Format"])
    assert fields["apiId"] == "$context.apiId"
    assert fields["status"] == "$context.status"


# -- alarms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("name", ALARMS)
def test_each_alarm_has_its_threshold_from_settings(synth, stage, name):
    # GIVEN a stage and the alarm's threshold setting in cdk.json
    setting, comparison, period, periods, datapoints = ALARM_RULES[name]
    # WHEN synthesized
    _, alarm = _alarm(synth(stage), name)
    # THEN the alarm compares with that threshold over its window, and no data is not an incident
    assert alarm["Threshold"] == _setting(stage, setting)
    assert alarm["ComparisonOperator"] == comparison
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (periods, datapoints)
    assert alarm["TreatMissingData"] == "notBreaching"
    periods_seen = [alarm.get("Period")] + [
        m["MetricStat"]["Period"] for m in alarm.get("Metrics", []) if "MetricStat" in m
    ]
    assert {p for p in periods_seen if p is not None} == {period}
    # AND the description says what it means and where the runbook is
    assert alarm["AlarmDescription"].startswith(f"{stage}: ")
    assert "docs/operations.md, 'Alarms, and what to do'" in alarm["AlarmDescription"]


@pytest.mark.parametrize("name", ALARMS)
def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(dev, name):
    # GIVEN the dev stage
    ((topic_id, _),) = dev.of_type("AWS::SNS::Topic").items()
    # WHEN an alarm is read
    _, alarm = _alarm(dev, name)
    # THEN both ALARM and OK go to the alarm topic
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_a_changed_threshold_setting_changes_only_its_alarm(synth):
    # GIVEN prod with every threshold changed
    changed = {
        "api5xxRateThresholdPercent": 2.5,
        "lambdaErrorsThreshold": 7,
        "p99LatencyThresholdMs": 1500,
        "lambdaThrottlesThreshold": 3,
        "dynamodbThrottlesThreshold": 9,
    }
    built = synth("prod", **changed)
    # WHEN synthesized
    # THEN each alarm has its new threshold
    for name in ALARMS:
        setting = ALARM_RULES[name][0]
        assert _alarm(built, name)[1]["Threshold"] == changed[setting], name


def test_the_5xx_rate_alarm_is_a_percentage_of_this_stages_requests(dev):
    # GIVEN the dev stage
    _, alarm = _alarm(dev, "Api5xxRate")
    # WHEN its metrics are read
    by_id = {m["Id"]: m for m in alarm["Metrics"]}
    # THEN it alarms on 100 * 5XXError / Count (0 when there are no requests), per minute
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert expression["ReturnData"] is True
    for metric_id, name in (("requests", "Count"), ("errors", "5XXError")):
        stat = by_id[metric_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == name
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Stat"] == "Sum"
        assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
            "ApiName": STACK_NAMES["dev"],
            "Stage": api_stage_name("dev"),
        }


@pytest.mark.parametrize(
    ("name", "namespace", "metric", "statistic", "dimensions"),
    [
        ("LambdaErrors", "AWS/Lambda", "Errors", "Sum", {"FunctionName": "function"}),
        (
            "P99Latency",
            "AWS/ApiGateway",
            "Latency",
            "p99",
            {"ApiName": "Dev-UploadApi", "Stage": api_stage_name("dev")},
        ),
        ("LambdaThrottles", "AWS/Lambda", "Throttles", "Sum", {"FunctionName": "function"}),
        (
            "DynamoDbThrottles",
            "AWS/DynamoDB",
            "ThrottledRequests",
            "Sum",
            {"TableName": "table", "Operation": "PutItem"},
        ),
    ],
)
def test_each_alarm_watches_its_metric(dev, name, namespace, metric, statistic, dimensions):
    # GIVEN the dev stage
    _, alarm = _alarm(dev, name)
    # WHEN the watched metric is read (single metric, or the one metric of a Metrics list)
    if "MetricName" in alarm:
        found = (
            alarm["Namespace"],
            alarm["MetricName"],
            alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
        )
        found_dimensions = alarm["Dimensions"]
    else:
        (stat,) = [m["MetricStat"] for m in alarm["Metrics"]]
        found = (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"])
        found_dimensions = stat["Metric"]["Dimensions"]
    # THEN it is the metric the alarm is named after, on this stage's resources
    assert found == (namespace, metric, statistic)
    refs = {"function": {"Ref": dev.function_id}, "table": {"Ref": dev.table_id}}
    assert {d["Name"]: d["Value"] for d in found_dimensions} == {
        key: refs.get(value, value) for key, value in dimensions.items()
    }


# -- topic -----------------------------------------------------------------------------------------


def test_the_alarm_topic_is_kms_encrypted_and_tls_only(dev, template):
    # GIVEN the dev stage
    ((topic_id, topic),) = dev.of_type("AWS::SNS::Topic").items()
    # WHEN synthesized
    # THEN the topic is encrypted with a customer managed key that rotates
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = dev.resources[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    # AND CloudWatch may use that key to publish, only on behalf of this account's alarms
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s.get("Sid") == "AllowCloudWatchAlarmsToPublish"]
    condition = cloudwatch.pop("Condition")
    assert cloudwatch == {
        "Sid": "AllowCloudWatchAlarmsToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
    rendered = {test: {key: as_text(v) for key, v in keys.items()} for test, keys in condition.items()}
    alarms = "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
    assert rendered == {
        "ArnLike": {"aws:SourceArn": alarms},
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
    }
    # AND the topic policy denies publishing without TLS and lets only this account's alarms publish
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Principal": "*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Sid": "AllowThisAccountsAlarmsToPublish",
                                "Effect": "Allow",
                                "Action": "sns:Publish",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": Match.any_value()},
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                },
                            }
                        ),
                    ]
                )
            },
        },
    )
    policy = next(iter(dev.of_type("AWS::SNS::TopicPolicy").values()))
    allow = policy["Properties"]["PolicyDocument"]["Statement"][1]
    assert _text(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
        "arn:<Ref:AWS::Partition>:cloudwatch:<Ref:AWS::Region>:<Ref:AWS::AccountId>:alarm:*"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_no_email_subscription_without_alarm_email(synth, stage):
    # GIVEN cdk.json's alarmEmail: null
    assert _setting(stage, "alarmEmail") is None
    # WHEN synthesized
    # THEN the topic has no subscription (alarms still show on the dashboard and in the console)
    synth(stage).template.resource_count_is("AWS::SNS::Subscription", 0)


def test_alarm_email_subscribes_that_address(synth):
    # GIVEN prod with alarmEmail set
    built = synth("prod", alarmEmail="oncall@example.com")
    ((topic_id, _),) = built.of_type("AWS::SNS::Topic").items()
    # WHEN synthesized
    # THEN the topic has exactly one e-mail subscription, to that address
    built.template.resource_count_is("AWS::SNS::Subscription", 1)
    built.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": topic_id}},
    )


def test_alarm_email_passes_nag(tmp_path):
    # GIVEN prod with an alarm e-mail subscription (the one resource only this setting adds;
    # tests/infra/test_scanners.py runs cfn-lint and checkov on this variant)
    stage = synth_stage("prod", outdir=tmp_path, alarmEmail="oncall@example.com")
    # WHEN synthesized with the nag packs (raises on any unacknowledged error)
    stage.app.synth()
    # THEN the validation report lists nothing but the default allowedCallers warning
    report = json.loads((tmp_path / "validation-report.json").read_text(encoding="utf-8"))
    assert [
        v
        for plugin in report.get("pluginReports", [])
        for v in plugin.get("violations", [])
        if v["ruleName"] != "Annotation::upload-api:verifier-only-callers"
    ] == []


# -- saved queries and logs ------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_saved_queries_read_the_function_log(synth, stage):
    # GIVEN a stage
    built = synth(stage)
    # WHEN synthesized
    queries = {
        q["Properties"]["Name"]: q["Properties"] for q in built.of_type("AWS::Logs::QueryDefinition").values()
    }
    # THEN "failed uploads by reason" and "storage failures by cause" are saved under the stack's name
    prefix = STACK_NAMES[stage]
    assert set(queries) == {f"{prefix}/failed-uploads-by-reason", f"{prefix}/storage-failures-by-cause"}
    failed = queries[f"{prefix}/failed-uploads-by-reason"]
    assert failed["LogGroupNames"] == [{"Ref": built.function_log_group_id}]
    assert failed["QueryString"] == (
        "fields @timestamp, reason, service\n"
        "| filter ispresent(reason)\n"
        "| stats count(*) as requests by reason\n"
        "| sort requests desc"
    )
    storage = queries[f"{prefix}/storage-failures-by-cause"]
    assert storage["LogGroupNames"] == [{"Ref": built.function_log_group_id}]
    assert 'filter message = "Upload not stored"' in storage["QueryString"]
    assert "stats count(*) as failures by stage, code" in storage["QueryString"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_log_group_is_encrypted_and_expires_after_the_setting(synth, stage):
    # GIVEN a stage and its logRetentionDays
    built = synth(stage)
    retention = _setting(stage, "logRetentionDays")
    # WHEN synthesized
    groups = built.of_type("AWS::Logs::LogGroup")
    # THEN the function, finalizer, access and API execution log groups (and the scan-result
    # function's, where the stage scans uploads) all keep logs that many days, KMS-encrypted
    assert len(groups) == (5 if built.stack.malware_scanning is not None else 4)
    for logical_id, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == retention, logical_id
        assert "KmsKeyId" in group["Properties"], logical_id
        assert group["DeletionPolicy"] == "Retain", logical_id


def test_the_api_execution_log_group_exists_before_the_stage_logs(dev):
    # GIVEN the dev stage (API Gateway would otherwise create this group itself, unencrypted, forever)
    logical_id, group = _by_path(dev, "AWS::Logs::LogGroup", "/Observability/ApiExecutionLogs/Resource")
    ((api_id, _),) = dev.of_type("AWS::ApiGateway::RestApi").items()
    ((_, stage),) = dev.of_type("AWS::ApiGateway::Stage").items()
    # WHEN synthesized
    # THEN it is the group API Gateway writes execution logs to, and the stage waits for it
    assert (
        _text(group["Properties"]["LogGroupName"])
        == f"API-Gateway-Execution-Logs_<Ref:{api_id}>/{api_stage_name('dev')}"
    )
    assert logical_id in stage["DependsOn"]


# -- settings --------------------------------------------------------------------------------------


def test_cdk_json_alarm_settings_load_typed():
    # GIVEN cdk.json's uploadApi context
    upload_api = context_with("prod")[CONTEXT_KEY]
    # WHEN prod's settings are loaded
    settings = load_stage_settings(upload_api, "prod")
    # THEN the alarm settings are cdk.json's defaults, typed
    defaults = upload_api["defaults"]
    assert settings.alarm_email is None
    assert settings.api_5xx_rate_threshold_percent == float(defaults["api5xxRateThresholdPercent"])
    assert isinstance(settings.api_5xx_rate_threshold_percent, float)
    assert settings.lambda_errors_threshold == defaults["lambdaErrorsThreshold"]
    assert settings.p99_latency_threshold_ms == defaults["p99LatencyThresholdMs"]
    assert settings.lambda_throttles_threshold == defaults["lambdaThrottlesThreshold"]
    assert settings.dynamodb_throttles_threshold == defaults["dynamodbThrottlesThreshold"]


def test_the_dataclass_defaults_match_cdk_json_defaults():
    # GIVEN StageSettings' own defaults and cdk.json's uploadApi.defaults
    defaults = context_with("dev")[CONTEXT_KEY]["defaults"]
    own = StageSettings(stage="dev")
    # WHEN compared
    # THEN the alarm settings agree, so removing one from cdk.json changes nothing
    assert own.alarm_email == defaults["alarmEmail"]
    assert own.api_5xx_rate_threshold_percent == defaults["api5xxRateThresholdPercent"]
    assert own.lambda_errors_threshold == defaults["lambdaErrorsThreshold"]
    assert own.p99_latency_threshold_ms == defaults["p99LatencyThresholdMs"]
    assert own.lambda_throttles_threshold == defaults["lambdaThrottlesThreshold"]
    assert own.dynamodb_throttles_threshold == defaults["dynamodbThrottlesThreshold"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("alarmEmail", "on-call team", id="email without @"),
        pytest.param("alarmEmail", ["a@example.com"], id="email list"),
        pytest.param("alarmEmail", "", id="email empty"),
        pytest.param("api5xxRateThresholdPercent", 0, id="rate zero"),
        pytest.param("api5xxRateThresholdPercent", 101, id="rate over 100"),
        pytest.param("api5xxRateThresholdPercent", "1", id="rate string"),
        pytest.param("api5xxRateThresholdPercent", True, id="rate bool"),
        pytest.param("lambdaErrorsThreshold", 0, id="errors zero"),
        pytest.param("lambdaErrorsThreshold", 1.5, id="errors fraction"),
        pytest.param("p99LatencyThresholdMs", 29_000, id="latency at the gateway timeout"),
        pytest.param("p99LatencyThresholdMs", 10, id="latency too low"),
        pytest.param("lambdaThrottlesThreshold", -1, id="lambda throttles negative"),
        pytest.param("dynamodbThrottlesThreshold", None, id="dynamodb throttles null"),
    ],
)
def test_a_wrong_alarm_setting_is_named_by_its_path(key, value):
    # GIVEN cdk.json with one wrong alarm setting for prod
    upload_api = context_with("prod", **{key: value})[CONTEXT_KEY]
    # WHEN prod's settings are loaded
    # THEN SettingsError names the setting's full path
    with pytest.raises(SettingsError, match=re.escape(f"uploadApi.stages.prod.{key}")):
        load_stage_settings(upload_api, "prod")


def test_a_fractional_rate_threshold_is_accepted():
    # GIVEN a 0.5 percent 5xx-rate threshold
    upload_api = context_with("prod", api5xxRateThresholdPercent=0.5)[CONTEXT_KEY]
    # WHEN loaded
    # THEN it is kept as a float
    assert load_stage_settings(upload_api, "prod").api_5xx_rate_threshold_percent == 0.5
