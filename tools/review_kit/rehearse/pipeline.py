"""The synthesized pipeline, read as CodePipeline reads it: stages, actions in run order, projects.

Nothing here is re-typed from stages/pipeline/stack.py: every command, buildspec, role, template
path and environment variable comes from cdk.out/UploadApiPipeline.template.json, with the few
intrinsic functions CDK writes there resolved for one account and region (tools/common/intrinsics.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.common import assembly, intrinsics
from tools.common.intrinsics import TemplateValue

# Where the rehearsal deploys: account, region, partition (the pseudo parameters' values).
Environment = intrinsics.Account


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

    @property
    def buildspec_is_a_file(self) -> bool:
        """A file name (read from the input artifact at build time), not an inline buildspec."""
        text = self.buildspec
        return "\n" not in text and text.strip().endswith((".yml", ".yaml", ".json"))

    def load_buildspec(self, source_dir: Path) -> dict[str, Any]:
        """The buildspec object; a file name is read from the source directory, as CodeBuild does."""
        text = self.buildspec
        if self.buildspec_is_a_file:
            path = source_dir / text.strip()
            if not path.is_file():
                raise FileNotFoundError(f"buildspec file {text.strip()} is not in the input artifact")
            text = path.read_text(encoding="utf-8")
        spec = yaml.safe_load(text)
        if not isinstance(spec, dict) or str(spec.get("version")) != "0.2":
            raise ValueError(f"project {self.logical_id}: buildspec is not a version 0.2 mapping")
        return spec


@dataclass
class Pipeline:
    template: dict[str, Any]
    policy: intrinsics.Deployed  # names from the emulator's physical ids
    actions: list[Action]

    def resolve(self, value: TemplateValue) -> TemplateValue:
        return intrinsics.resolve_tree(value, self.policy)

    @classmethod
    def load(cls, cdk_out: Path, env: Environment, physical: Mapping[str, str] | None = None) -> Pipeline:
        """The app's root stack (the pipeline) in the cloud assembly `cdk synth` wrote."""
        return cls.from_template(assembly.load(cdk_out).root_stack().template, env, physical or {})

    @classmethod
    def from_template(
        cls, template: dict[str, Any], env: Environment, physical: Mapping[str, str]
    ) -> Pipeline:
        policy = intrinsics.Deployed(env, physical, assembly.Template(template).types())
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
                        configuration=intrinsics.resolve_tree(raw.get("Configuration", {}), policy),
                        inputs=tuple(a["Name"] for a in raw.get("InputArtifacts", [])),
                        outputs=tuple(a["Name"] for a in raw.get("OutputArtifacts", [])),
                        role_arn=intrinsics.resolve(raw["RoleArn"], policy) if "RoleArn" in raw else None,
                        namespace=raw.get("Namespace"),
                    )
                )
        return cls(template, policy, actions)

    def project(self, action: Action) -> Project:
        """The CodeBuild project a CodeBuild action names (by Ref to its logical id)."""
        raw_name = self._raw_configuration(action)["ProjectName"]
        if not (isinstance(raw_name, dict) and "Ref" in raw_name):
            raise ValueError(f"{action.label}: ProjectName is not a Ref to a project in this template")
        logical_id = raw_name["Ref"]
        properties = self.template["Resources"][logical_id]["Properties"]
        environment = properties["Environment"]
        variables = {
            item["Name"]: str(self.resolve(item["Value"]))
            for item in environment.get("EnvironmentVariables", [])
        }
        return Project(
            logical_id=logical_id,
            compute_type=environment["ComputeType"],
            image=environment["Image"],
            buildspec=str(self.resolve(properties["Source"]["BuildSpec"])),
            environment=variables,
            cache=self.resolve(properties.get("Cache", {})),
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
