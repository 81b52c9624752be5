"""How each type moto_models.py registers is created in, and deleted from, moto's service backends.

Each create takes the name CloudFormation gave the resource, its properties as CloudFormation
resolved them, the account and the region; it calls the backend method the service's API handler
calls, with the properties in the API's shape, and answers the resource's physical id (its Ref) and
its Fn::GetAtt attributes. Each delete takes the physical id and the same properties.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Created = tuple[str, dict[str, str]]  # physical id (Ref), attributes (Fn::GetAtt)
Create = Callable[[str, dict[str, Any], str, str], Created]  # name, properties, account, region
Delete = Callable[[str, dict[str, Any], str, str], None]  # physical id, properties, account, region


@dataclass(frozen=True)
class ServiceModel:
    create: Create
    delete: Delete
    name_property: str = ""  # the property that names it (else CloudFormation generates the name)
    attributes: tuple[str, ...] = ()


def _camel(value: Any, depth: int) -> Any:
    """CloudFormation's PascalCase keys as the API's camelCase, `depth` levels down."""
    if isinstance(value, Mapping) and depth > 0:
        return {k[:1].lower() + k[1:]: _camel(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v, depth) for v in value]
    return value


def _short_id() -> str:
    return uuid.uuid4().hex[:10]


# -- API Gateway -----------------------------------------------------------------------------------


def _apigateway(account: str, region: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account][region]


def _account(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    role = props.get("CloudWatchRoleArn")
    if role:
        _apigateway(account, region).update_account(
            [{"op": "replace", "path": "/cloudwatchRoleArn", "value": str(role)}]
        )
    return _short_id(), {}


def _gateway_response(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    _apigateway(account, region).put_gateway_response(
        props["RestApiId"],
        props["ResponseType"],
        status_code=props.get("StatusCode"),
        response_parameters=props.get("ResponseParameters"),
        response_templates=props.get("ResponseTemplates"),
    )
    return _short_id(), {}


def _model(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    schema = props.get("Schema")
    _apigateway(account, region).create_model(
        props["RestApiId"],
        name,
        props.get("ContentType", "application/json"),
        props.get("Description", ""),
        json.dumps(schema) if isinstance(schema, Mapping) else schema,
    )
    return name, {}


def _request_validator(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    validator = _apigateway(account, region).create_request_validator(
        props["RestApiId"],
        props.get("Name", name),
        props.get("ValidateRequestBody", False),
        props.get("ValidateRequestParameters", False),
    )
    return validator.id, {"RequestValidatorId": validator.id}


def _method_settings_path(setting: Mapping[str, Any]) -> str:
    """UpdateStage's path of a method setting: ~1-escaped resource path, then the method."""
    path = str(setting.get("ResourcePath", "/*"))
    resource = "*" if path == "/*" else path.replace("/", "~1")
    return f"/{resource}/{setting.get('HttpMethod', '*')}"


def _patch_value(value: Any) -> str:
    """A patch operation's value: text, booleans as `true`/`false`."""
    return str(value).lower() if isinstance(value, bool) else str(value)


_METHOD_SETTINGS = {
    "MetricsEnabled": "metrics/enabled",
    "LoggingLevel": "logging/loglevel",
    "DataTraceEnabled": "logging/dataTrace",
    "ThrottlingBurstLimit": "throttling/burstLimit",
    "ThrottlingRateLimit": "throttling/rateLimit",
    "CachingEnabled": "caching/enabled",
    "CacheTtlInSeconds": "caching/ttlInSeconds",
    "CacheDataEncrypted": "caching/dataEncrypted",
}


def _stage(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    backend = _apigateway(account, region)
    tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
    backend.create_stage(
        props["RestApiId"],
        name,
        props["DeploymentId"],
        variables=props.get("Variables"),
        description=props.get("Description", ""),
        cacheClusterEnabled=props.get("CacheClusterEnabled"),
        cacheClusterSize=props.get("CacheClusterSize"),
        tags=tags or None,
        tracing_enabled=props.get("TracingEnabled"),
    )
    operations = [
        {"op": "replace", "path": f"/accessLogSettings/{key[:1].lower() + key[1:]}", "value": str(value)}
        for key, value in (props.get("AccessLogSetting") or {}).items()
    ]
    for setting in props.get("MethodSettings", []):
        prefix = _method_settings_path(setting)
        operations += [
            {"op": "replace", "path": f"{prefix}/{path}", "value": _patch_value(setting[key])}
            for key, path in _METHOD_SETTINGS.items()
            if key in setting
        ]
    if operations:
        backend.update_stage(props["RestApiId"], name, operations)
    return name, {}


def _delete_stage(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _apigateway(account, region).delete_stage(props["RestApiId"], physical)


# -- CloudWatch, Logs ------------------------------------------------------------------------------


def _metric_queries(metrics: list[Mapping[str, Any]]) -> list[Any] | None:
    """The alarm's Metrics as PutMetricAlarm's handler builds them."""
    from moto.cloudwatch import models

    # The handler's types: what the request gives (moto's signatures say str where None is allowed).
    Dimension, Metric, MetricStat = models.Dimension, models.Metric, models.MetricStat
    MetricDataQuery: Any = models.MetricDataQuery

    queries = []
    for metric in metrics:
        stat = metric.get("MetricStat")
        metric_stat = None
        if stat:
            inner = stat["Metric"]
            dimensions = [Dimension(d.get("Name"), d.get("Value")) for d in inner.get("Dimensions", [])]
            metric_stat = MetricStat(
                Metric(inner["MetricName"], inner["Namespace"], dimensions),
                stat.get("Period"),
                stat.get("Stat"),
                stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                metric.get("Id"),
                metric.get("Label"),
                metric.get("Period"),
                metric.get("ReturnData"),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries or None


def _alarm(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    from moto.cloudwatch.models import cloudwatch_backends

    threshold = props.get("Threshold")
    backend: Any = cloudwatch_backends[account][region]  # PutMetricAlarm's handler passes None too
    alarm = backend.put_metric_alarm(
        name=name,
        namespace=props.get("Namespace"),
        metric_name=props.get("MetricName"),
        metric_data_queries=_metric_queries(props.get("Metrics", [])),
        comparison_operator=props["ComparisonOperator"],
        evaluation_periods=props["EvaluationPeriods"],
        datapoints_to_alarm=props.get("DatapointsToAlarm"),
        period=props.get("Period"),
        threshold=float(threshold) if threshold is not None else None,
        statistic=props.get("Statistic"),
        extended_statistic=props.get("ExtendedStatistic"),
        description=props.get("AlarmDescription"),
        dimensions=props.get("Dimensions", []),
        alarm_actions=props.get("AlarmActions", []),
        ok_actions=props.get("OKActions", []),
        insufficient_data_actions=props.get("InsufficientDataActions", []),
        unit=props.get("Unit"),
        actions_enabled=props.get("ActionsEnabled", True),
        treat_missing_data=props.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=props.get("ThresholdMetricId"),
        tags=props.get("Tags", []),
    )
    return name, {"Arn": alarm.alarm_arn}


def _delete_alarm(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account][region].delete_alarms([physical])


def _logs(account: str, region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account][region]


def _metric_filter(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    transformations = []
    for transformation in props["MetricTransformations"]:
        api = _camel(transformation, 1)
        if "dimensions" in api:  # Key/Value pairs in CloudFormation, a map in the API
            api["dimensions"] = {d["Key"]: d["Value"] for d in api["dimensions"]}
        transformations.append(api)
    _logs(account, region).put_metric_filter(
        name, props.get("FilterPattern", ""), props["LogGroupName"], transformations
    )
    return name, {}


def _delete_metric_filter(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _logs(account, region).delete_metric_filter(physical, props.get("LogGroupName"))


# -- Resource policies -----------------------------------------------------------------------------


def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _bucket_policy(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    from moto.s3.models import s3_backends

    s3_backends[account]["aws"].put_bucket_policy(
        props["Bucket"], _policy_text(props["PolicyDocument"]).encode()
    )
    return _short_id(), {}


def _delete_bucket_policy(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    from moto.s3.models import s3_backends

    s3_backends[account]["aws"].delete_bucket_policy(props["Bucket"])


def _topic_policy(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    from moto.sns.models import sns_backends

    for topic in props["Topics"]:
        sns_backends[account][region].set_topic_attribute(
            topic, "policy", _policy_text(props["PolicyDocument"])
        )
    physical = _short_id()
    return physical, {"Id": physical}


def _delete_topic_policy(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    """As on AWS, a topic whose policy is deleted gets its default policy back."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account][region]
    for arn in props.get("Topics", []):
        topic = backend.get_topic(arn)
        topic._policy_json = topic._create_default_topic_policy(region, account, topic.name)


def _queue_names(props: Mapping[str, Any]) -> list[str]:
    return [str(url).rsplit("/", 1)[-1] for url in props.get("Queues", [])]  # Ref of a queue: its URL


def _queue_policy(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    from moto.sqs.models import sqs_backends

    for queue in _queue_names(props):
        sqs_backends[account][region].set_queue_attributes(
            queue, {"Policy": _policy_text(props["PolicyDocument"])}
        )
    physical = _short_id()
    return physical, {"Id": physical}


def _delete_queue_policy(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    from moto.sqs.models import sqs_backends

    for queue in _queue_names(props):
        sqs_backends[account][region].set_queue_attributes(queue, {"Policy": ""})


# -- Lambda, CodeDeploy ----------------------------------------------------------------------------


def _event_invoke_config(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    from moto.awslambda.models import lambda_backends

    config = {k: v for k, v in props.items() if k not in ("FunctionName", "Qualifier")}
    function = str(props["FunctionName"])
    qualifier = str(props.get("Qualifier", "$LATEST"))
    target = function if qualifier == "$LATEST" else f"{function}:{qualifier}"
    lambda_backends[account][region].put_function_event_invoke_config(target, config)
    return _short_id(), {}


def _delete_event_invoke_config(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    from moto.awslambda.models import lambda_backends

    lambda_backends[account][region].delete_function_event_invoke_config(str(props["FunctionName"]))


def _codedeploy(account: str, region: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[account][region]


def _application(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    _codedeploy(account, region).create_application(
        name, props.get("ComputePlatform", "Server"), props.get("Tags", [])
    )
    return name, {}


def _delete_application(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    backend = _codedeploy(account, region)
    backend.applications.pop(physical, None)  # moto's CodeDeploy has no DeleteApplication
    backend.deployment_groups.pop(physical, None)


_DEPLOYMENT_GROUP_KEYS = {  # CloudFormation property -> CreateDeploymentGroup's parameter
    "DeploymentConfigName": "deployment_config_name",
    "ServiceRoleArn": "service_role_arn",
    "AlarmConfiguration": "alarm_configuration",
    "AutoRollbackConfiguration": "auto_rollback_configuration",
    "DeploymentStyle": "deployment_style",
    "BlueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
    "LoadBalancerInfo": "load_balancer_info",
    "OutdatedInstancesStrategy": "outdated_instances_strategy",
    "AutoScalingGroups": "auto_scaling_groups",
    "TriggerConfigurations": "trigger_configurations",
    "ECSServices": "ecs_services",
    "TerminationHookEnabled": "termination_hook_enabled",
}


def _deployment_group(name: str, props: dict[str, Any], account: str, region: str) -> Created:
    unknown = set(props) - set(_DEPLOYMENT_GROUP_KEYS) - {"ApplicationName", "DeploymentGroupName", "Tags"}
    if unknown:
        raise ValueError(
            f"AWS::CodeDeploy::DeploymentGroup: properties the rehearsal does not pass: {unknown}"
        )
    arguments = {
        parameter: _camel(props[key], 3) for key, parameter in _DEPLOYMENT_GROUP_KEYS.items() if key in props
    }
    for key in ("deployment_config_name", "service_role_arn", "outdated_instances_strategy"):
        if key in arguments:
            arguments[key] = str(arguments[key])
    _codedeploy(account, region).create_deployment_group(
        application_name=props["ApplicationName"],
        deployment_group_name=name,
        ec2_tag_filters=None,
        on_premises_instance_tag_filters=None,
        tags=props.get("Tags", []),
        **{"service_role_arn": "", "deployment_config_name": None, "auto_scaling_groups": None, **arguments},
    )
    return name, {}


def _delete_deployment_group(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _codedeploy(account, region).deployment_groups.get(props.get("ApplicationName"), {}).pop(physical, None)


def _nothing(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    """Deleting it leaves what it set (the API Gateway account's role, as CloudFormation does)."""


def _delete_gateway_response(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _apigateway(account, region).delete_gateway_response(props["RestApiId"], props["ResponseType"])


def _delete_model(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _apigateway(account, region).delete_model(props["RestApiId"], physical)


def _delete_request_validator(physical: str, props: dict[str, Any], account: str, region: str) -> None:
    _apigateway(account, region).delete_request_validator(props["RestApiId"], physical)


MODELS: dict[str, ServiceModel] = {
    "AWS::ApiGateway::Account": ServiceModel(_account, _nothing),
    "AWS::ApiGateway::GatewayResponse": ServiceModel(_gateway_response, _delete_gateway_response),
    "AWS::ApiGateway::Model": ServiceModel(_model, _delete_model, name_property="Name"),
    "AWS::ApiGateway::RequestValidator": ServiceModel(
        _request_validator, _delete_request_validator, attributes=("RequestValidatorId",)
    ),
    "AWS::ApiGateway::Stage": ServiceModel(_stage, _delete_stage, name_property="StageName"),
    "AWS::CloudWatch::Alarm": ServiceModel(
        _alarm, _delete_alarm, name_property="AlarmName", attributes=("Arn",)
    ),
    "AWS::Logs::MetricFilter": ServiceModel(
        _metric_filter, _delete_metric_filter, name_property="FilterName"
    ),
    "AWS::S3::BucketPolicy": ServiceModel(_bucket_policy, _delete_bucket_policy),
    "AWS::SNS::TopicPolicy": ServiceModel(_topic_policy, _delete_topic_policy, attributes=("Id",)),
    "AWS::SQS::QueuePolicy": ServiceModel(_queue_policy, _delete_queue_policy, attributes=("Id",)),
    "AWS::Lambda::EventInvokeConfig": ServiceModel(_event_invoke_config, _delete_event_invoke_config),
    "AWS::CodeDeploy::Application": ServiceModel(
        _application, _delete_application, name_property="ApplicationName"
    ),
    "AWS::CodeDeploy::DeploymentGroup": ServiceModel(
        _deployment_group, _delete_deployment_group, name_property="DeploymentGroupName"
    ),
}
