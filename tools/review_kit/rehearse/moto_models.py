"""CloudFormation models for the types moto 5.2.5's CloudFormation lacks but its services hold.

moto's services answer these resources through their APIs, but its CloudFormation has no model for
them (a template's resource of such a type would be skipped). Each model registered here creates the
resource through the same backend method the service's API handler calls (service_models.py), with
the template's properties in the API's shape, so a later API read (deploy.py's check, the read-backs
of fidelity.py and service_readers.py) answers it as any other created resource, and deletes it
the same way:

- AWS::ApiGateway::Account (UpdateAccount's cloudwatchRoleArn: a later stage's Preflight reads it),
  GatewayResponse (PutGatewayResponse), Model (CreateModel), RequestValidator
  (CreateRequestValidator), Stage (CreateStage, then UpdateStage's patch operations for the access
  log setting and the method settings, as CloudFormation applies them);
- AWS::CloudWatch::Alarm (PutMetricAlarm, metric math included);
- AWS::Logs::MetricFilter (PutMetricFilter);
- AWS::S3::BucketPolicy (PutBucketPolicy: the policy is then in force, iam_enforcement.py evaluates
  it), AWS::SNS::TopicPolicy (SetTopicAttributes Policy), AWS::SQS::QueuePolicy
  (SetQueueAttributes Policy);
- AWS::Lambda::EventInvokeConfig (PutFunctionEventInvokeConfig);
- AWS::CodeDeploy::Application and DeploymentGroup (CreateApplication, CreateDeploymentGroup).

And two mends of what moto answers:
- AWS::ApiGateway::Method: moto's model drops RequestModels and RequestValidatorId; its create is
  wrapped to set both on the method, as PutMethod does (GetMethod then answers them).
- GetDeploymentGroup answers an empty alarmConfiguration whatever the group holds (moto's TODO): it
  answers the stored one, in the API's documented shape.

The types no moto service holds stay modelled (emulator.py EMULATED_TYPES).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.review_kit.rehearse import cfn_hooks
from tools.review_kit.rehearse.service_models import MODELS, Delete, ServiceModel


@dataclass
class _Instance:
    """What moto's resource map holds: the Ref and Fn::GetAtt answers, and what made it."""

    physical_resource_id: str
    attributes: dict[str, str]
    properties: dict[str, Any] = field(default_factory=dict)  # as CloudFormation resolved them
    deleter: Delete | None = None

    def get_cfn_attribute(self, attribute: str) -> str:
        return self.attributes[attribute]

    def delete(self, account_id: str, region_name: str) -> None:
        """What moto's stack deletion calls (with the resolved properties, which its fallback lacks)."""
        if self.deleter is None:
            return
        try:
            self.deleter(self.physical_resource_id, self.properties, account_id, region_name)
        except Exception as error:
            # moto deletes a stack's resources in no dependency order: a policy, a stage or a filter
            # whose bucket, API or log group went first went with it, as on AWS.
            if not _PARENT_GONE.search(type(error).__name__):
                raise

    def is_created(self) -> bool:
        return True


_PARENT_GONE = re.compile("NotFound|Missing|NoSuch|DoesNotExist|DoesntExist")


# -- Registration ----------------------------------------------------------------------------------


def _model_type(spec: ServiceModel) -> cfn_hooks.ModelType:
    """`spec` as moto's CloudFormation calls it: an update replaces the resource, as CloudFormation
    does for these types (the old one deleted, the new one created)."""

    def create(
        resource_name: str, properties: dict[str, Any], account_id: str, region: str, _: Mapping[str, Any]
    ) -> _Instance:
        physical, attributes = spec.create(resource_name, properties, account_id, region)
        return _Instance(physical, attributes, properties, spec.delete)

    def update(
        old: _Instance, resource_name: str, properties: dict[str, Any], account_id: str, region: str
    ) -> _Instance:
        spec.delete(old.physical_resource_id, old.properties, account_id, region)
        return create(resource_name, properties, account_id, region, {})

    return cfn_hooks.ModelType(create, spec.delete, spec.name_property, spec.attributes, update)


def install(models: Mapping[str, ServiceModel] = MODELS) -> None:
    """Register each model with moto's CloudFormation (idempotent), and mend Method's create."""
    cfn_hooks.register_models("Rehearsal", {name: _model_type(spec) for name, spec in models.items()})
    _patch_method_request_models()
    _patch_deployment_group_alarms()


def _apply_method(method: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
    if "RequestModels" in properties:
        method.request_models = dict(properties["RequestModels"])
    if "RequestValidatorId" in properties:
        method.request_validator_id = str(properties["RequestValidatorId"])


def _patch_method_request_models() -> None:
    """AWS::ApiGateway::Method: moto's model drops RequestModels and RequestValidatorId."""
    from moto.apigateway import models

    cfn_hooks.around_create(models.Method, _apply_method)


def _patch_deployment_group_alarms() -> None:
    """GetDeploymentGroup answers `alarmConfiguration: {}` whatever the group holds (moto's TODO):
    answer the stored one, in the API's shape (CodeDeploy API Reference, AlarmConfiguration:
    enabled, ignorePollAlarmFailure, alarms [{name}])."""
    from moto.codedeploy import responses as codedeploy_responses

    responses: Any = codedeploy_responses
    original: Any = responses._deployment_group_info
    if getattr(original, "_rehearsal_patched", False):
        return

    def info(group: Any) -> dict[str, Any]:
        answer = dict(original(group))
        config = group.alarm_configuration
        if config is not None and not isinstance(config, Mapping):  # moto's AlarmConfiguration
            config = {
                "alarms": config.alarms,
                "enabled": config.enabled,
                "ignorePollAlarmFailure": config.ignore_poll_alarm_failure,
            }
        if config:
            answer["alarmConfiguration"] = {"enabled": False, "ignorePollAlarmFailure": False, **config}
        return answer

    info._rehearsal_patched = True  # type: ignore[attr-defined]
    responses._deployment_group_info = info
