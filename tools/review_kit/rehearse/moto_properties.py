"""Properties moto 5.2.5's CloudFormation drops on types it creates, applied through moto's own backends.

moto's CloudFormation creates these types in their services but passes only some of the template's
properties. install() wraps each type's CloudFormation create (and update, where moto has one) so
that the rest reach the service through the backend method moto's own API handler calls for them;
a later API read (fidelity.py) then answers them, or, where none of this applies, still does not.

- AWS::S3::Bucket (create, update): moto applies BucketEncryption without BucketKeyEnabled, and
  Tags. Applied: BucketEncryption (with BucketKeyEnabled: put_bucket_encryption),
  LifecycleConfiguration (put_bucket_lifecycle_configuration), LoggingConfiguration
  (put_bucket_logging), OwnershipControls (put_bucket_ownership_controls),
  PublicAccessBlockConfiguration (put_public_access_block) and NotificationConfiguration's
  EventBridgeConfiguration (put_bucket_notification_configuration), each converted from
  CloudFormation's shape to the one moto's S3 handler parses. moto refuses logging into a target
  bucket whose policy does not let `logging.s3.amazonaws.com` write: such a bucket's logging is
  applied when that policy is put (put_bucket_policy), and stays unapplied (read back as lost)
  until then. Lifecycle filters other than a prefix, and topic, queue and function notifications,
  are not converted (read back as lost).
- AWS::Lambda::Function (create, update): moto ignores Architectures, TracingConfig, LoggingConfig,
  DeadLetterConfig and Tags. Applied as its CreateFunction and UpdateFunctionConfiguration do
  (the function's architectures, update_configuration, tag_resource).
- AWS::ApiGateway::RestApi (create): moto passes the name, description and EndpointConfiguration
  (in CloudFormation's `Types`, which its API answers under `endpointConfiguration.types` as
  missing). It is created with create_rest_api as CreateRestApi's handler calls it: endpoint
  configuration in the API's shape, Policy as the JSON string the API keeps, Tags as a map,
  ApiKeySourceType, MinimumCompressionSize, DisableExecuteApiEndpoint, SecurityPolicy and
  EndpointAccessMode.
- AWS::IAM::Role (create, update): moto stores each of Policies' documents as the object the
  template holds, which GetRolePolicy answers as its Python text (not JSON). Each is put again
  as JSON with put_role_policy (validated, as PutRolePolicy's handler does).
- AWS::SNS::Topic (create; moto's update re-creates): Tags (tag_resource).
- AWS::DynamoDB::Table (create): TimeToLiveSpecification (update_time_to_live).

moto's models lack three fields AWS documents; each is stored and answered in AWS's shape:
- Lambda's function configuration (GetFunction, GetFunctionConfiguration): `LoggingConfig`
  (LogFormat, ApplicationLogLevel, SystemLogLevel, LogGroup; Lambda's defaults, `Text` to the log
  group `/aws/lambda/<function name>`, where none is given) and `DeadLetterConfig` (TargetArn),
  from CreateFunction's and UpdateFunctionConfiguration's fields of those names.
- API Gateway's RestApi (GetRestApi): `securityPolicy` and `endpointAccessMode`, when set (only
  the CloudFormation create above sets them: moto's CreateRestApi handler does not read them).
- S3's GetBucketNotificationConfiguration: `EventBridgeConfiguration` (an empty structure) when
  EventBridge is enabled; moto stores it (and sends object events to EventBridge) but answered
  without it.

Not applied, because no service field holds it: AWS::CodePipeline::Pipeline's
RestartExecutionOnUpdate (CloudFormation's own instruction to start an execution after an update:
CodePipeline's API has no such field, so it reads back as not proven). A property removed from a
template on an update is not removed from the resource here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tools.review_kit.rehearse.cfn_hooks import around_create, moto_create

_FLAG = "_rehearsal_properties"  # a model or backend extended here
_REPLACED = "_rehearsal_cloudformation_create_replaced"  # a type whose CloudFormation create is ours


def install() -> None:
    """Every patch of this module, once per process."""
    _patch_buckets()
    _patch_functions()
    _patch_rest_apis()
    _patch_roles()
    _patch_topics()
    _patch_tables()
    _patch_keys()


# -- S3 -------------------------------------------------------------------------------------------


def s3_encryption(written: Mapping[str, Any]) -> dict[str, Any]:
    """BucketEncryption as moto's PutBucketEncryption handler parses it (its first rule: S3 keeps one)."""
    (rule, *_) = written["ServerSideEncryptionConfiguration"]
    parsed: dict[str, Any] = {
        "ApplyServerSideEncryptionByDefault": dict(rule["ServerSideEncryptionByDefault"])
    }
    if "BucketKeyEnabled" in rule:
        parsed["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower()
    return {"Rule": parsed}


_LIFECYCLE_SAME = ("Status", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")


def s3_lifecycle_rules(written: Mapping[str, Any]) -> list[dict[str, Any]]:
    """LifecycleConfiguration's rules as moto's PutBucketLifecycleConfiguration handler parses them."""
    rules = []
    for rule in written.get("Rules", []):
        parsed: dict[str, Any] = {key: rule[key] for key in _LIFECYCLE_SAME if key in rule}
        parsed["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {}
        if "Id" in rule:
            parsed["ID"] = rule["Id"]
        expiration = {
            api: rule[cfn]
            for cfn, api in (
                ("ExpirationInDays", "Days"),
                ("ExpirationDate", "Date"),
                ("ExpiredObjectDeleteMarker", "ExpiredObjectDeleteMarker"),
            )
            if cfn in rule
        }
        if expiration:
            parsed["Expiration"] = expiration
        if "NoncurrentVersionExpirationInDays" in rule:
            parsed["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]
            }
        transitions = [
            {
                "StorageClass": t["StorageClass"],
                "Days": t.get("TransitionInDays"),
                "Date": t.get("TransitionDate"),
            }
            for t in rule.get("Transitions", [])
        ]
        if transitions:
            parsed["Transition"] = transitions
        rules.append(parsed)
    return rules


_PENDING = "_rehearsal_pending_logging"  # on an S3 backend: target bucket -> [(bucket, logging config)]


def _pending(backend: Any) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """The logging configurations waiting for their target's policy, kept on the backend (a reset
    of moto's backends drops them with it)."""
    found: dict[str, list[tuple[str, dict[str, str]]]] = backend.__dict__.setdefault(_PENDING, {})
    return found


def _apply_bucket(bucket: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    from moto.s3.exceptions import InvalidTargetBucketForLogging
    from moto.s3.models import s3_backends

    backend, name = s3_backends[account_id][bucket.partition], bucket.name
    if properties.get("BucketEncryption"):
        backend.put_bucket_encryption(name, s3_encryption(properties["BucketEncryption"]))
    if properties.get("LifecycleConfiguration"):
        backend.put_bucket_lifecycle_configuration(
            name, s3_lifecycle_rules(properties["LifecycleConfiguration"])
        )
    ownership = (properties.get("OwnershipControls") or {}).get("Rules") or []
    if ownership:
        backend.put_bucket_ownership_controls(name, ownership=ownership[0]["ObjectOwnership"])
    if properties.get("PublicAccessBlockConfiguration"):
        backend.put_public_access_block(name, dict(properties["PublicAccessBlockConfiguration"]))
    notification = properties.get("NotificationConfiguration") or {}
    if (notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in (True, "true"):
        backend.put_bucket_notification_configuration(name, {"EventBridgeConfiguration": {}})
    logging = properties.get("LoggingConfiguration")
    if logging and logging.get("DestinationBucketName"):
        config = {
            "TargetBucket": logging["DestinationBucketName"],
            "TargetPrefix": logging.get("LogFilePrefix", ""),
        }
        try:
            backend.put_bucket_logging(name, config)
        except InvalidTargetBucketForLogging:  # the target's policy is not there yet
            _pending(backend).setdefault(config["TargetBucket"], []).append((name, config))


def _patch_bucket_policy_retries_logging() -> None:
    from moto.s3.exceptions import InvalidTargetBucketForLogging, MissingBucket
    from moto.s3.models import S3Backend

    backend_class: Any = S3Backend
    if backend_class.__dict__.get(_FLAG):
        return
    original = backend_class.put_bucket_policy

    def put_bucket_policy(self: Any, bucket_name: str, policy: bytes) -> None:
        original(self, bucket_name, policy)
        for source, config in _pending(self).pop(bucket_name, []):
            try:
                self.put_bucket_logging(source, config)
            except InvalidTargetBucketForLogging:  # this policy does not let S3's logging write either
                _pending(self).setdefault(bucket_name, []).append((source, config))
            except MissingBucket:  # the logged bucket is gone: nothing to apply
                pass

    backend_class.put_bucket_policy = put_bucket_policy
    setattr(backend_class, _FLAG, True)


def _patch_notification_answer() -> None:
    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    response_class: Any = S3Response
    original = response_class.get_bucket_notification
    if getattr(original, _FLAG, False):
        return

    def get_bucket_notification(self: Any) -> Any:
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        serialized = self.serialized

        def with_event_bridge(result: Any) -> Any:
            if config is not None and config.event_bridge is not None and isinstance(result, ActionResult):
                answer = result.result
                if isinstance(answer, dict):
                    answer["EventBridgeConfiguration"] = {}
            return serialized(result)

        self.serialized = with_event_bridge
        try:
            return original(self)
        finally:
            del self.serialized

    setattr(get_bucket_notification, _FLAG, True)
    response_class.get_bucket_notification = get_bucket_notification


def _patch_buckets() -> None:
    from moto.s3.models import FakeBucket

    around_create(FakeBucket, _apply_bucket, update=True)
    _patch_bucket_policy_retries_logging()
    _patch_notification_answer()


# -- Lambda ---------------------------------------------------------------------------------------

_CONFIGURATION = ("TracingConfig", "LoggingConfig", "DeadLetterConfig")


def _logging_config(function_name: str, written: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function_name}", **(written or {})}


def _extend_function_model() -> None:
    from moto.awslambda.models import LambdaFunction

    function_class: Any = LambdaFunction
    if function_class.__dict__.get(_FLAG):
        return
    init, configuration, update = (
        function_class.__init__,
        function_class.get_configuration,
        function_class.update_configuration,
    )

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        init(self, account_id, spec, *args, **kwargs)
        self.logging_config = _logging_config(self.function_name, spec.get("LoggingConfig"))
        self.dead_letter_config = spec.get("DeadLetterConfig")

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = configuration(self, *args, **kwargs)
        config["LoggingConfig"] = getattr(self, "logging_config", None) or _logging_config(
            self.function_name, None
        )
        if getattr(self, "dead_letter_config", None):
            config["DeadLetterConfig"] = self.dead_letter_config
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "TracingConfig" in config_updates:
            self.tracing_config = config_updates["TracingConfig"]
        if "LoggingConfig" in config_updates:
            self.logging_config = _logging_config(self.function_name, config_updates["LoggingConfig"])
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"] or None
        return dict(update(self, config_updates))

    function_class.__init__ = __init__
    function_class.get_configuration = get_configuration
    function_class.update_configuration = update_configuration
    setattr(function_class, _FLAG, True)


def _apply_function(function: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    from moto.awslambda.models import lambda_backends

    updated = function.code_or_config_updated  # CreateFunction's configuration is not an update
    function.update_configuration({key: properties[key] for key in _CONFIGURATION if key in properties})
    function.code_or_config_updated = updated
    if properties.get("Architectures"):
        function.architectures = list(properties["Architectures"])
    tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
    if tags:
        lambda_backends[account_id][region].tag_resource(function.function_arn, tags)


def _patch_functions() -> None:
    from moto.awslambda.models import LambdaFunction

    _extend_function_model()
    around_create(LambdaFunction, _apply_function, update=True)


# -- API Gateway ----------------------------------------------------------------------------------


def _extend_rest_api_model() -> None:
    from moto.apigateway.models import APIGatewayBackend, RestAPI

    api_class: Any = RestAPI
    if api_class.__dict__.get(_FLAG):
        return
    to_dict, create = api_class.to_dict, APIGatewayBackend.create_rest_api

    def as_dict(self: Any) -> dict[str, Any]:
        answer: dict[str, Any] = to_dict(self)
        for key in ("securityPolicy", "endpointAccessMode"):
            if getattr(self, key, None):
                answer[key] = getattr(self, key)
        return answer

    def create_rest_api(
        self: Any,
        *args: Any,
        security_policy: str | None = None,
        endpoint_access_mode: str | None = None,
        **kwargs: Any,
    ) -> Any:
        api: Any = create(self, *args, **kwargs)
        api.securityPolicy, api.endpointAccessMode = security_policy, endpoint_access_mode
        return api

    api_class.to_dict = as_dict
    APIGatewayBackend.create_rest_api = create_rest_api  # type: ignore[method-assign]
    setattr(api_class, _FLAG, True)


def _create_rest_api(
    resource_name: str, properties: dict[str, Any], account_id: str, region_name: str, _: Mapping[str, Any]
) -> Any:
    from moto.apigateway.models import apigateway_backends

    endpoint = properties.get("EndpointConfiguration")
    policy = properties.get("Policy")
    backend: Any = apigateway_backends[account_id][region_name]  # create_rest_api as extended above
    return backend.create_rest_api(
        name=properties["Name"],
        description=properties.get("Description", ""),
        api_key_source=properties.get("ApiKeySourceType"),
        endpoint_configuration={
            "types": endpoint.get("Types", []),
            "vpcEndpointIds": endpoint.get("VpcEndpointIds", []),
        }
        if endpoint
        else None,
        tags={tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])} or None,
        policy=json.dumps(policy) if isinstance(policy, Mapping) else policy,
        minimum_compression_size=properties.get("MinimumCompressionSize"),
        disable_execute_api_endpoint=properties.get("DisableExecuteApiEndpoint"),
        security_policy=properties.get("SecurityPolicy"),
        endpoint_access_mode=properties.get("EndpointAccessMode"),
    )


def _patch_rest_apis() -> None:
    from moto.apigateway.models import RestAPI

    _extend_rest_api_model()
    api_class: Any = RestAPI
    if not api_class.__dict__.get(_REPLACED):
        api_class.create_from_cloudformation_json = moto_create(_create_rest_api)
        setattr(api_class, _REPLACED, True)


# -- IAM, SNS, DynamoDB ---------------------------------------------------------------------------


def _apply_role(role: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account_id][get_partition(region)]
    for policy in properties.get("Policies", []):
        document = policy["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        backend.put_role_policy(role.name, policy["PolicyName"], text)


def _patch_roles() -> None:
    from moto.iam.models import Role

    around_create(Role, _apply_role, update=True)


def _apply_topic(topic: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    from moto.sns.models import sns_backends

    tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
    if tags:
        sns_backends[account_id][region].tag_resource(topic.arn, tags)


def _patch_topics() -> None:
    from moto.sns.models import Topic

    around_create(Topic, _apply_topic)


def _apply_table(table: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_backends[account_id][region].update_time_to_live(table.name, dict(ttl))


def _patch_tables() -> None:
    from moto.dynamodb.models.table import Table

    around_create(Table, _apply_table)


# -- KMS ------------------------------------------------------------------------------------------


def _apply_key(key: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    period = properties.get("RotationPeriodInDays")
    if period is not None:
        key.rotation_period_in_days = int(period)


def _patch_keys() -> None:
    """RotationPeriodInDays: moto's key has no period; GetKeyRotationStatus answers it while rotation is
    on (KMS API reference: GetKeyRotationStatus returns RotationPeriodInDays for automatic rotation)."""
    from moto.kms.models import Key
    from moto.kms.responses import KmsResponse

    around_create(Key, _apply_key)
    if KmsResponse.__dict__.get(_FLAG):
        return
    original = KmsResponse.get_key_rotation_status

    def get_key_rotation_status(self: Any) -> str:
        answer = json.loads(original(self))
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        period = getattr(key, "rotation_period_in_days", None)
        if answer.get("KeyRotationEnabled") and period is not None:
            answer["RotationPeriodInDays"] = period
        return json.dumps(answer)

    setattr(KmsResponse, "get_key_rotation_status", get_key_rotation_status)  # noqa: B010 - a method replaced
    setattr(KmsResponse, _FLAG, True)
