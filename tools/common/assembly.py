"""A cloud assembly's stacks, grouped by stage, with their templates and metadata: the one reader
of what `cdk synth` writes, for the review, the IAM checks, the rehearsal and local mode.

`cdk synth` writes the app's root stacks into cdk.out/manifest.json and each Stage into a nested
assembly (an artifact of type cdk:cloud-assembly, e.g. assembly-UploadApiPipeline-Dev). Every
template resource carries its construct path in Metadata.aws:cdk:path (the CLI turns path
metadata on), which is how findings and acknowledgements, reported by construct path, are tied
to the CloudFormation resources they are about.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

# The app's root holds the pipeline stack; stages (Dev, Prod) are nested assemblies, listed first.
ROOT_STAGE = "Pipeline"
_STACK = "aws:cloudformation:stack"
_NESTED = "cdk:cloud-assembly"
# Construct ids CDK gives the one CloudFormation resource of an L2 construct.
_DEFAULT_CHILDREN = ("Resource", "Default")
# A synthesized stack's BootstrapVersion parameter reads its bootstrap's version parameter.
_BOOTSTRAP_VERSION = re.compile(r"^/cdk-bootstrap/([A-Za-z0-9_-]+)/version$")
DEFAULT_QUALIFIER = "hnb659fds"  # CDK's


class AssemblyError(Exception):
    """The directory is not a readable cloud assembly (synth did not run, or failed early)."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    path: str  # construct path, no leading slash: "UploadApiPipeline/Dev/UploadApi/UploadBucket/Resource"
    properties: dict[str, Any]
    metadata: dict[str, Any]


class Template:
    """One template's resources, looked up by logical id or by type (what every reader asks)."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.resources: Mapping[str, Mapping[str, Any]] = body.get("Resources") or {}

    def type_of(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Type"])

    @property
    def bootstrap_qualifier(self) -> str:
        """The CDK bootstrap qualifier the stack deploys with: its `BootstrapVersion` parameter reads
        `/cdk-bootstrap/<qualifier>/version` (CDK's default when it has none)."""
        parameter = (self.body.get("Parameters") or {}).get("BootstrapVersion") or {}
        match = _BOOTSTRAP_VERSION.match(str(parameter.get("Default", "")))
        return match.group(1) if match else DEFAULT_QUALIFIER

    def props(self, logical_id: str) -> Mapping[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def types(self) -> dict[str, str]:
        """logical id -> resource type."""
        return {logical_id: str(body.get("Type", "")) for logical_id, body in self.resources.items()}

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        return {lid: body for lid, body in self.resources.items() if body.get("Type") == resource_type}

    def one(self, resource_type: str, **property_filter: Any) -> tuple[str, Mapping[str, Any]]:
        """The one resource of a type whose properties have these values (LookupError otherwise)."""
        matches = [
            (logical_id, body)
            for logical_id, body in self.of_type(resource_type).items()
            if all((body.get("Properties") or {}).get(k) == v for k, v in property_filter.items())
        ]
        if len(matches) != 1:
            raise LookupError(
                f"expected one {resource_type} matching {property_filter}, found {len(matches)}"
            )
        return matches[0]

    def typed(self) -> dict[str, Resource]:
        return {
            logical_id: Resource(
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                path=str((body.get("Metadata") or {}).get("aws:cdk:path", "")),
                properties=body.get("Properties") or {},
                metadata=body.get("Metadata") or {},
            )
            for logical_id, body in self.resources.items()
        }


@dataclass(frozen=True)
class Stack:
    stage: str
    artifact_id: str
    construct_path: str  # "UploadApiPipeline/Dev/UploadApi"
    stack_name: str
    template_file: Path
    metadata: dict[str, list[dict[str, Any]]]  # construct path (leading slash) -> metadata entries
    template: dict[str, Any] = field(repr=False)
    # Where synth put it: "aws://123456789012/eu-west-1", or "aws://unknown-account/unknown-region"
    environment: str = ""

    @cached_property
    def view(self) -> Template:
        return Template(self.template)

    @cached_property
    def resources(self) -> dict[str, Resource]:
        return self.view.typed()

    @cached_property
    def _names(self) -> dict[str, str]:
        """logical id -> the construct's path under the stack, e.g. UploadBucketD2C1DA78 -> UploadBucket.

        Readable where logical ids carry a hash; a name two resources would share keeps the id.
        """
        names = {lid: self.relative_path(r.path) or lid for lid, r in self.resources.items()}
        taken: dict[str, int] = {}
        for name in names.values():
            taken[name] = taken.get(name, 0) + 1
        return {lid: (name if taken[name] == 1 else lid) for lid, name in names.items()}

    def name_of(self, logical_id: str) -> str:
        return self._names.get(logical_id, logical_id)

    def relative_path(self, path: str) -> str:
        """A construct path under this stack, without the L2's `/Resource` (or `/Default`) child."""
        path = path.lstrip("/")
        if path == self.construct_path:
            return ""
        relative = path.removeprefix(self.construct_path + "/")
        head, _, last = relative.rpartition("/")
        return head if head and last in _DEFAULT_CHILDREN else relative

    def owns(self, construct_path: str) -> bool:
        path = construct_path.lstrip("/")
        return path == self.construct_path or path.startswith(self.construct_path + "/")

    def resources_under(self, construct_path: str) -> list[Resource]:
        """The template resources at or below a construct (what an acknowledgement there covers)."""
        path = construct_path.lstrip("/")
        return [r for r in self.resources.values() if r.path == path or r.path.startswith(path + "/")]

    def resource_at(self, construct_path: str) -> Resource | None:
        """The resource a finding's construct path names: the CfnResource itself, or the L2 over it."""
        path = construct_path.lstrip("/")
        for resource in self.resources.values():
            if resource.path == path:
                return resource
        under = self.resources_under(path)
        defaults = [r for r in under if r.path.rpartition("/")[0] == path]
        return defaults[0] if len(defaults) == 1 else None


@dataclass(frozen=True)
class Assembly:
    directory: Path
    stacks: tuple[Stack, ...]

    @property
    def stages(self) -> list[str]:
        return list(dict.fromkeys(stack.stage for stack in self.stacks))

    def stack_of(self, construct_path: str) -> Stack | None:
        """The stack that owns a construct path (the deepest one, as stacks may nest in stages)."""
        owners = [s for s in self.stacks if s.owns(construct_path)]
        return max(owners, key=lambda s: len(s.construct_path), default=None)

    def root_stack(self) -> Stack:
        """The app's own stack (the pipeline), not one a stage holds."""
        roots = [s for s in self.stacks if s.stage == ROOT_STAGE]
        if len(roots) != 1:
            raise AssemblyError(f"{self.directory}: expected one root stack, found {len(roots)}")
        return roots[0]


def load(directory: Path) -> Assembly:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise AssemblyError(f"{manifest} is missing: run `make synth` (cdk synth) first")
    return Assembly(directory, tuple(_stacks(directory, ROOT_STAGE)))


def _stacks(directory: Path, stage: str) -> list[Stack]:
    manifest = _read_json(directory / "manifest.json")
    found: list[Stack] = []
    # The stages' stacks come first, this level's after: Dev, Prod, then the pipeline. A reviewer
    # reads what the pipeline deploys (the upload stacks) before the machinery that deploys it.
    nested: list[Stack] = []
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") == _STACK:
            found.append(_stack(directory, stage, artifact_id, artifact))
        elif artifact.get("type") == _NESTED:
            properties = artifact.get("properties", {})
            # displayName is the Stage's construct path ("UploadApiPipeline/Dev"): its last part names it.
            name = str(properties.get("displayName", artifact_id)).split("/")[-1]
            nested.extend(_stacks(directory / properties["directoryName"], name))
    return nested + found


def _stack(directory: Path, stage: str, artifact_id: str, artifact: dict[str, Any]) -> Stack:
    properties = artifact.get("properties", {})
    template_file = directory / properties["templateFile"]
    metadata: dict[str, list[dict[str, Any]]] = dict(artifact.get("metadata", {}))
    if artifact.get("additionalMetadataFile"):
        metadata.update(_read_json(directory / artifact["additionalMetadataFile"]))
    return Stack(
        stage=stage,
        artifact_id=artifact_id,
        construct_path=str(artifact.get("displayName", artifact_id)),
        stack_name=str(properties.get("stackName", artifact_id)),
        template_file=template_file,
        metadata=metadata,
        template=_read_json(template_file),
        environment=str(artifact.get("environment", "")),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AssemblyError(f"cannot read {path}: {error}") from error
