"""The pipeline stack's CodePipeline pipeline and CodeBuild projects, created in moto's own services.

moto 5.2.5 has a CodePipeline API (CreatePipeline, GetPipeline) and a CodeBuild API (CreateProject,
BatchGetProjects), but its CloudFormation has no model for AWS::CodePipeline::Pipeline or
AWS::CodeBuild::Project. install() adds the two models, which do what CloudFormation's handlers do:
call the service's create (update, delete) with the template's properties in the API's shape. The
pipeline the SelfMutate action deploys is then read back through GetPipeline and BatchGetProjects
(readback.py) and compared with the synthesized template, as any created resource is (fidelity.py).

What the services keep is theirs: moto's CodePipeline refuses a role CodePipeline may not assume
(its trust policy) and a pipeline of fewer than two stages, as AWS does. The template's
RestartExecutionOnUpdate has no field in CodePipeline's API and is not passed (its read-back says
"not proven").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.review_kit.rehearse import cfn_hooks

PIPELINE = "AWS::CodePipeline::Pipeline"
PROJECT = "AWS::CodeBuild::Project"
_CFN_ONLY = {PIPELINE: ("Name", "Tags", "RestartExecutionOnUpdate"), PROJECT: ("Name", "Tags")}
_API_KEYS = {"BuildSpec": "buildspec"}  # where the API's name is not the camelCase of CloudFormation's


def api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase keys as the API's camelCase; an action's Configuration map is
    kept (CodePipeline's configuration keys are the same in both), its values as strings."""
    if isinstance(value, list):
        return [api_shape(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    shaped: dict[str, Any] = {}
    for key, item in value.items():
        if key == "Configuration":
            shaped["configuration"] = {name: _string(setting) for name, setting in item.items()}
        else:
            shaped[_API_KEYS.get(key, key[:1].lower() + key[1:])] = api_shape(item)
    return shaped


def cfn_shape(value: Any) -> Any:
    """The API's answer with CloudFormation's key names, to compare with the template."""
    if isinstance(value, list):
        return [cfn_shape(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    to_cfn = {api: cfn for cfn, api in _API_KEYS.items()}
    return {
        to_cfn.get(key, key[:1].upper() + key[1:]): (
            dict(item) if key == "configuration" else cfn_shape(item)
        )
        for key, item in value.items()
    }


def _string(value: Any) -> str:
    """A configuration value as CodePipeline stores it (CloudFormation writes `true` as "true")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"key": t["Key"], "value": str(t["Value"])} for t in properties.get("Tags", [])]


class _Created:
    """What moto's resource map holds: the physical id (the name) and the attributes."""

    def __init__(self, name: str, arn: str, version: int = 1) -> None:
        self.name, self.arn, self.version = name, arn, version

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute: str) -> str:
        return str(self.version) if attribute == "Version" else self.arn

    def is_created(self) -> bool:
        return True


def _pipeline_request(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    request = api_shape({k: v for k, v in properties.items() if k not in _CFN_ONLY[PIPELINE]})
    return {"name": name, **request}


def _create_pipeline(name: str, properties: Mapping[str, Any], account: str, region: str) -> _Created:
    from moto.codepipeline.models import codepipeline_backends

    backend = codepipeline_backends[account][region]
    backend.create_pipeline(_pipeline_request(name, properties), _tags(properties))
    return _Created(name, backend.pipelines[name].metadata["pipelineArn"])


def _update_pipeline(name: str, properties: Mapping[str, Any], account: str, region: str) -> _Created:
    from moto.codepipeline.models import codepipeline_backends

    backend = codepipeline_backends[account][region]
    updated = backend.update_pipeline(_pipeline_request(name, properties))
    return _Created(name, backend.pipelines[name].metadata["pipelineArn"], int(updated["version"]))


def _delete_pipeline(name: str, account: str, region: str) -> None:
    from moto.codepipeline.models import codepipeline_backends

    codepipeline_backends[account][region].delete_pipeline(name)


def _create_project(name: str, properties: Mapping[str, Any], account: str, region: str) -> _Created:
    """CreateProject; an update creates it again under its name, as CloudFormation's UpdateProject
    leaves it (moto's CodeBuild has no UpdateProject)."""
    from moto.codebuild.models import codebuild_backends

    request = api_shape({k: v for k, v in properties.items() if k not in _CFN_ONLY[PROJECT]})
    created = codebuild_backends[account][region].create_project(
        project_name=name,
        description=request.get("description"),
        project_source=request["source"],
        artifacts=request["artifacts"],
        environment=request["environment"],
        service_role=request["serviceRole"],
        tags=_tags(properties) or None,
        cache=request.get("cache"),
        timeout=request.get("timeoutInMinutes"),
        queued_timeout=request.get("queuedTimeoutInMinutes"),
        source_version=request.get("sourceVersion"),
        logs_config=request.get("logsConfig"),
        vpc_config=request.get("vpcConfig"),
    )
    if "encryptionKey" in request:  # CreateProject takes it; moto's backend drops the argument
        created["encryptionKey"] = request["encryptionKey"]
    return _Created(name, created["arn"])


def _delete_project(name: str, account: str, region: str) -> None:
    from moto.codebuild.models import codebuild_backends

    codebuild_backends[account][region].delete_project(name)


_HANDLERS = {
    PIPELINE: (_create_pipeline, _update_pipeline, _delete_pipeline, ("Version",)),
    PROJECT: (_create_project, _create_project, _delete_project, ("Arn",)),
}


def install() -> None:
    """Register the two CloudFormation models with moto (idempotent)."""
    cfn_hooks.register_models(
        "Rehearsal", {type_name: _model_type(*handlers) for type_name, handlers in _HANDLERS.items()}
    )


def _model_type(create: Any, update: Any, delete: Any, attributes: tuple[str, ...]) -> cfn_hooks.ModelType:
    def created(
        resource_name: str, properties: dict[str, Any], account_id: str, region: str, _: Mapping[str, Any]
    ) -> _Created:
        return create(resource_name, properties, account_id, region)  # type: ignore[no-any-return]

    def updated(
        original: _Created, resource_name: str, properties: dict[str, Any], account_id: str, region: str
    ) -> _Created:
        # moto draws a new generated name on every update; CloudFormation keeps the physical name
        # unless the template names it otherwise (a replacement).
        if properties.get("Name", original.name) != original.name:
            delete(original.name, account_id, region)
            return create(resource_name, properties, account_id, region)  # type: ignore[no-any-return]
        return update(original.name, properties, account_id, region)  # type: ignore[no-any-return]

    def deleted(resource_name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        delete(resource_name, account_id, region)

    return cfn_hooks.ModelType(created, deleted, "Name", attributes, updated)
