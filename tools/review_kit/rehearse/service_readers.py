"""Read-backs of the types moto's CloudFormation lacks (moto_models.py creates them in moto's
services), and of the properties fidelity.py's READERS do not read (API Gateway methods, resources and
deployments, CloudWatch dashboards, EventBridge rules): each reads the resource back through its own
service and answers its properties in CloudFormation's shape, as fidelity.py's READERS do; one that
cannot be read raises (the resource is not there as declared). deploy.py uses them with fidelity.py's;
emulator_coverage.py too, for another emulator.

attributes(): the Fn::GetAtt values a template's properties use that are not built from a physical
id alone (a REST API's root resource id, an alarm's or a rule's ARN), read from the services, so a
property naming one is compared rather than left unproven.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from tools.review_kit.rehearse import fidelity
from tools.review_kit.rehearse.fidelity import MISSING


def _pascal(value: Any, depth: int = 1) -> Any:
    """An API's camelCase answer with CloudFormation's PascalCase keys, `depth` levels down (below
    that, keys are data: header names, content types); integral numbers as integers (1.0 is 1)."""
    if isinstance(value, Mapping):
        return {(k[:1].upper() + k[1:] if depth > 0 else k): _pascal(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v, depth) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _stage(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    stage = s.client("apigateway").get_stage(restApiId=props["RestApiId"], stageName=name)
    settings = []
    for key, setting in (stage.get("methodSettings") or {}).items():  # "{path ~1-escaped}/{method}"
        path, _, method = key.rpartition("/")
        settings.append({"ResourcePath": "/" + path.replace("~1", "/").lstrip("/"), "HttpMethod": method})
        settings[-1].update(_pascal(setting))
    read = _pascal({k: v for k, v in stage.items() if k not in ("methodSettings", "tags")}, depth=2)
    return {
        **read,
        "RestApiId": props["RestApiId"],  # asked by it
        "AccessLogSetting": read.get("AccessLogSettings") or MISSING,
        "MethodSettings": settings,
        "Tags": fidelity._tags(stage.get("tags") or {}),
    }


def rest_api_policy_unescaped(s: Any, api_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The rehearsal's read-back, with the policy as API Gateway documents it: a JSON string whose
    quotes may come escaped (\\"), which is the same policy."""
    read = fidelity.READERS["AWS::ApiGateway::RestApi"](s, api_id, props)
    if isinstance(read.get("Policy"), str):
        read["Policy"] = read["Policy"].replace('\\"', '"')
    return read


def _model(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    model = s.client("apigateway").get_model(restApiId=props["RestApiId"], modelName=name)
    return {**_pascal(model), "RestApiId": props["RestApiId"]}


def _request_validator(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    answer = s.client("apigateway").get_request_validator(
        restApiId=props["RestApiId"], requestValidatorId=physical
    )
    return {**_pascal(answer), "RestApiId": props["RestApiId"]}


def _gateway_response(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    answer = s.client("apigateway").get_gateway_response(
        restApiId=props["RestApiId"], responseType=props["ResponseType"]
    )
    return {**_pascal(answer), "RestApiId": props["RestApiId"]}


def _account(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    return {"CloudWatchRoleArn": s.client("apigateway").get_account().get("cloudwatchRoleArn", MISSING)}


def _alarm(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    cloudwatch = s.client("cloudwatch")
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    tags = fidelity._call(lambda: cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"])
    return {**_pascal(alarm, depth=0), "Tags": tags}


def _metric_filter(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    found = s.client("logs").describe_metric_filters(
        logGroupName=props["LogGroupName"], filterNamePrefix=name
    )["metricFilters"]
    (one,) = [f for f in found if f["filterName"] == name]
    for transformation in one.get("metricTransformations") or []:  # a map in the API, Key/Value in CFN
        transformation["dimensions"] = fidelity._tags(transformation.get("dimensions") or {})
    return _pascal(one, depth=3)


def _event_invoke_config(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    answer = s.client("lambda").get_function_event_invoke_config(
        FunctionName=props["FunctionName"], Qualifier=props["Qualifier"]
    )
    return {**answer, "FunctionName": props["FunctionName"], "Qualifier": props["Qualifier"]}


def _bucket_policy(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    policy = s.client("s3").get_bucket_policy(Bucket=props["Bucket"])["Policy"]
    return {"Bucket": props["Bucket"], "PolicyDocument": policy}


def _topic_policy(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    sns = s.client("sns")
    policies = [sns.get_topic_attributes(TopicArn=t)["Attributes"]["Policy"] for t in props["Topics"]]
    return {"Topics": props["Topics"], "PolicyDocument": policies[0]}


def _queue_policy(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    sqs = s.client("sqs")
    policies = [
        sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["Policy"])["Attributes"]["Policy"]
        for q in props["Queues"]
    ]
    return {"Queues": props["Queues"], "PolicyDocument": policies[0]}


def _method(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    method = s.client("apigateway").get_method(
        restApiId=props["RestApiId"], resourceId=props["ResourceId"], httpMethod=props["HttpMethod"]
    )
    integration = method.get("methodIntegration") or {}
    read = _pascal({k: v for k, v in method.items() if k != "methodIntegration"})
    read["Integration"] = (
        {
            **_pascal({k: v for k, v in integration.items() if k != "httpMethod"}),
            "IntegrationHttpMethod": integration.get("httpMethod", MISSING),
        }
        if integration
        else MISSING
    )
    return {**read, "RestApiId": props["RestApiId"], "ResourceId": props["ResourceId"]}  # asked by them


def _resource(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    resource = s.client("apigateway").get_resource(restApiId=props["RestApiId"], resourceId=physical)
    return {**_pascal(resource), "RestApiId": props["RestApiId"]}


def _deployment(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    deployment = s.client("apigateway").get_deployment(restApiId=props["RestApiId"], deploymentId=physical)
    return {**_pascal(deployment), "RestApiId": props["RestApiId"]}


def _dashboard(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    return _pascal(s.client("cloudwatch").get_dashboard(DashboardName=name), depth=0)


def _rule(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    events = s.client("events")
    rule = events.describe_rule(Name=name)
    targets = events.list_targets_by_rule(Rule=name)["Targets"]
    tags = fidelity._call(lambda: events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"])
    return {**_pascal(rule, depth=0), "Targets": targets, "Tags": tags}


def _application(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    codedeploy = s.client("codedeploy")
    application = codedeploy.get_application(applicationName=name)["application"]
    arn = f"arn:aws:codedeploy:{s.region_name}:{_account_id(s)}:application:{name}"
    tags = fidelity._call(lambda: codedeploy.list_tags_for_resource(ResourceArn=arn)["Tags"])
    return {**_pascal(application), "Tags": tags}


def _deployment_group(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    codedeploy = s.client("codedeploy")
    application = props["ApplicationName"]
    group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=name)[
        "deploymentGroupInfo"
    ]
    arn = f"arn:aws:codedeploy:{s.region_name}:{_account_id(s)}:deploymentgroup:{application}/{name}"
    tags = fidelity._call(lambda: codedeploy.list_tags_for_resource(ResourceArn=arn)["Tags"])
    return {**_pascal(group, depth=3), "Tags": tags}


def _account_id(s: Any) -> str:
    return str(s.client("sts").get_caller_identity()["Account"])


READERS: dict[str, fidelity.Reader] = {
    "AWS::ApiGateway::Stage": _stage,
    "AWS::ApiGateway::Model": _model,
    "AWS::ApiGateway::RequestValidator": _request_validator,
    "AWS::ApiGateway::GatewayResponse": _gateway_response,
    "AWS::ApiGateway::Account": _account,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Logs::MetricFilter": _metric_filter,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_config,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::CodeDeploy::Application": _application,
    "AWS::CodeDeploy::DeploymentGroup": _deployment_group,
    "AWS::ApiGateway::Method": _method,
    "AWS::ApiGateway::Resource": _resource,
    "AWS::ApiGateway::Deployment": _deployment,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::Events::Rule": _rule,
}


def _exists(reader: fidelity.Reader) -> Callable[[Any, str, Mapping[str, Any]], None]:
    def check(s: Any, physical: str, props: Mapping[str, Any]) -> None:
        reader(s, physical, props)  # raises when the service does not hold the resource

    return check


# Existence checks (deploy.CHECKERS' shape): the read-back itself.
CHECKERS = {resource_type: _exists(reader) for resource_type, reader in READERS.items()}


def attributes(
    session: Any, template: Mapping[str, Any], physical: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """The Fn::GetAtt values the template uses that the services answer (a resource's own read)."""
    wanted = {
        tuple(value["Fn::GetAtt"])
        for value in _get_atts(template.get("Resources", {}))
        if isinstance(value.get("Fn::GetAtt"), list)
    }
    types = {logical: resource["Type"] for logical, resource in template.get("Resources", {}).items()}
    found: dict[tuple[str, str], str] = {}
    for logical_id, attribute in sorted(wanted):
        read = _ATTRIBUTES.get((types.get(logical_id, ""), attribute))
        if read is not None and logical_id in physical:
            value = fidelity._call(partial(read, session, physical[logical_id]), None)
            if value is not None:
                found[logical_id, attribute] = str(value)
    return found


def _get_atts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        nested = [found for item in value.values() for found in _get_atts(item)]
        return [value, *nested] if "Fn::GetAtt" in value else nested
    if isinstance(value, list):
        return [found for item in value for found in _get_atts(item)]
    return []


_ATTRIBUTES: dict[tuple[str, str], Callable[[Any, str], Any]] = {
    ("AWS::ApiGateway::RestApi", "RootResourceId"): lambda s, api_id: s.client("apigateway").get_rest_api(
        restApiId=api_id
    )["rootResourceId"],
    ("AWS::CloudWatch::Alarm", "Arn"): lambda s, name: s.client("cloudwatch").describe_alarms(
        AlarmNames=[name]
    )["MetricAlarms"][0]["AlarmArn"],
    ("AWS::Events::Rule", "Arn"): lambda s, name: s.client("events").describe_rule(Name=name)["Arn"],
    ("AWS::SQS::Queue", "QueueName"): lambda s, url: (
        s.client("sqs")
        .get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        .rsplit(":", 1)[-1]
    ),
}
