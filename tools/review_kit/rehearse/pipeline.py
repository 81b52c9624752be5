"""The synthesized pipeline, read as CodePipeline reads it: stages, actions in run order, projects.

Nothing here is re-typed from stages/pipeline/stack.py: every command, buildspec, role, template
path and environment variable comes from cdk.out/UploadApiPipeline.template.json, with the few
intrinsic functions CDK writes there (Ref, Fn::GetAtt, Fn::Join, Fn::Sub) resolved for one
account and region.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PIPELINE_TEMPLATE = "UploadApiPipeline.template.json"


@dataclass(frozen=True)
class Environment:
    account: str
    region: str
    partition: str = "aws"


@dataclass(frozen=True)
class Action:
    stage: str
    name: str
    provider: str  # CodeStarSourceConnection, CodeCommit, CodeBuild, CloudFormation, Manual
    run_order: int
    configuration: Mapping[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    role_arn: str | None
    namespace: str | None

    @property
    def label(self) -> str:
        return f"{self.stage}/{self.name}"


@dataclass(frozen=True)
class Project:
    """An AWS::CodeBuild::Project as CodeBuild would run it."""

    logical_id: str
    compute_type: str
    image: str
    buildspec: str  # inline YAML/JSON text, or a file name in the primary input artifact
    environment: Mapping[str, str]
    cache: Mapping[str, Any] = field(default_factory=dict)

    def load_buildspec(self, source_dir: Path) -> dict[str, Any]:
        """The buildspec object; a file name is read from the source directory, as CodeBuild does."""
        text = self.buildspec
        if "\n" not in text and text.strip().endswith((".yml", ".yaml", ".json")):
            path = source_dir / text.strip()
            if not path.is_file():
                raise FileNotFoundError(f"buildspec file {text.strip()} is not in the input artifact")
            text = path.read_text(encoding="utf-8")
        spec = yaml.safe_load(text)
        if not isinstance(spec, dict) or str(spec.get("version")) != "0.2":
            raise ValueError(f"project {self.logical_id}: buildspec is not a version 0.2 mapping")
        return spec


class Resolver:
    """Ref / Fn::GetAtt / Fn::Join / Fn::Sub for one environment; unknown refs keep their logical id."""

    def __init__(self, template: Mapping[str, Any], env: Environment, physical: Mapping[str, str]) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.env = env
        self.physical = physical

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.env.account,
            "AWS::Region": self.env.region,
            "AWS::Partition": self.env.partition,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        return self.pseudo(name) or self.physical.get(name, name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.resources.get(logical_id, {}).get("Type", "")
        name = self.ref(logical_id)
        if attribute == "Arn" and resource_type == "AWS::IAM::Role":
            return f"arn:{self.env.partition}:iam::{self.env.account}:role/{name}"
        if attribute == "Arn" and resource_type == "AWS::Lambda::Function":
            return f"arn:{self.env.partition}:lambda:{self.env.region}:{self.env.account}:function:{name}"
        if attribute == "Arn" and resource_type == "AWS::CodeBuild::ReportGroup":
            return (
                f"arn:{self.env.partition}:codebuild:{self.env.region}:{self.env.account}:report-group/{name}"
            )
        return f"{name}.{attribute}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                resolved = {key: str(self.resolve(item)) for key, item in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in resolved:
                        return resolved[name]
                    if "." in name:
                        return self.get_att(*name.split(".", 1))
                    return self.ref(name)

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        return {key: self.resolve(item) for key, item in value.items()}


@dataclass
class Pipeline:
    template: dict[str, Any]
    resolver: Resolver
    actions: list[Action]

    @classmethod
    def load(cls, cdk_out: Path, env: Environment, physical: Mapping[str, str] | None = None) -> Pipeline:
        template = json.loads((cdk_out / PIPELINE_TEMPLATE).read_text(encoding="utf-8"))
        return cls.from_template(template, env, physical or {})

    @classmethod
    def from_template(
        cls, template: dict[str, Any], env: Environment, physical: Mapping[str, str]
    ) -> Pipeline:
        resolver = Resolver(template, env, physical)
        pipelines = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
        if len(pipelines) != 1:
            raise ValueError(f"expected one AWS::CodePipeline::Pipeline, found {len(pipelines)}")
        actions: list[Action] = []
        for stage in pipelines[0]["Properties"]["Stages"]:
            ordered = sorted(stage["Actions"], key=lambda action: int(action.get("RunOrder", 1)))
            for raw in ordered:
                actions.append(
                    Action(
                        stage=stage["Name"],
                        name=raw["Name"],
                        provider=raw["ActionTypeId"]["Provider"],
                        run_order=int(raw.get("RunOrder", 1)),
                        configuration=resolver.resolve(raw.get("Configuration", {})),
                        inputs=tuple(a["Name"] for a in raw.get("InputArtifacts", [])),
                        outputs=tuple(a["Name"] for a in raw.get("OutputArtifacts", [])),
                        role_arn=resolver.resolve(raw["RoleArn"]) if "RoleArn" in raw else None,
                        namespace=raw.get("Namespace"),
                    )
                )
        return cls(template, resolver, actions)

    def project(self, action: Action) -> Project:
        """The CodeBuild project a CodeBuild action names (by Ref to its logical id)."""
        raw_name = self._raw_configuration(action)["ProjectName"]
        if not (isinstance(raw_name, dict) and "Ref" in raw_name):
            raise ValueError(f"{action.label}: ProjectName is not a Ref to a project in this template")
        logical_id = raw_name["Ref"]
        properties = self.template["Resources"][logical_id]["Properties"]
        environment = properties["Environment"]
        variables = {
            item["Name"]: str(self.resolver.resolve(item["Value"]))
            for item in environment.get("EnvironmentVariables", [])
        }
        return Project(
            logical_id=logical_id,
            compute_type=environment["ComputeType"],
            image=environment["Image"],
            buildspec=str(self.resolver.resolve(properties["Source"]["BuildSpec"])),
            environment=variables,
            cache=self.resolver.resolve(properties.get("Cache", {})),
        )

    def is_synth(self, action: Action) -> bool:
        """The synth action: the one whose input is the source and whose output the others deploy."""
        return action.stage == self.actions[1].stage and action.provider == "CodeBuild"

    def projects(self) -> dict[str, Project]:
        return {
            self.project(action).logical_id: self.project(action)
            for action in self.actions
            if action.provider == "CodeBuild"
        }

    def _raw_configuration(self, action: Action) -> Mapping[str, Any]:
        for resource in self.template["Resources"].values():
            if resource["Type"] != "AWS::CodePipeline::Pipeline":
                continue
            for stage in resource["Properties"]["Stages"]:
                for raw in stage["Actions"]:
                    if stage["Name"] == action.stage and raw["Name"] == action.name:
                        return raw.get("Configuration", {})
        raise KeyError(action.label)


def action_variables(action: Action) -> list[dict[str, str]]:
    """The action's EnvironmentVariables (a JSON string in CodePipeline's configuration)."""
    text = action.configuration.get("EnvironmentVariables")
    return json.loads(text) if text else []
