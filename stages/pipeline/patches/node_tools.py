"""The Node tools CDK Pipelines' generated projects run: the locked CLI on the pinned Node.

CDK Pipelines generates `npm install -g aws-cdk@V` / `cdk-assets@V` (floating transitive
dependencies, on the image's default Node 18) for self-mutation and asset publishing, and an
unpinned `npm install -g aws-cdk` (npm's latest, 3.x, cannot read these assemblies) for the
permission check. Here each runs the CLI package.json pins, from package-lock.json with `npm ci`
(integrity hashes), on the Node buildspec.yml pins. `make synth` copies both files into the cloud
assembly, which is these projects' input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from constructs import Construct

from stages.pipeline.patches.artifact_digest import check_command
from stages.pipeline.patches.generated import (
    codebuild_projects,
    default_child,
    expect,
    patch_of,
    permissions_check_project,
    present,
)

PIPELINE_TOOLS = "pipeline-tools"
PIPELINE_CDK = f"{PIPELINE_TOOLS}/node_modules/.bin/cdk"
# No install script runs (a commit's package.json could add one), and Node is the CodeBuild image's
# (runtime-versions), not the lock's optional platform binaries, which are for developer machines.
PIPELINE_NPM_CI = f"npm ci --prefix {PIPELINE_TOOLS} --ignore-scripts --omit=optional --no-audit --no-fund"
# The projects CDK Pipelines generates for self-mutation and (one per asset type) asset publishing,
# by the end of their construct paths.
SELF_MUTATION = "/UpdatePipeline/SelfMutation"
FILE_ASSETS = "/Assets/FileAsset"


@patch_of("self-mutation and asset-publishing CodeBuild projects")
def run_generated_projects_on_pinned_node_tools(
    pipeline: Construct, *, nodejs: str, pipeline_stack: str, stage_stacks: Sequence[str]
) -> None:
    """Self-mutation and asset publishing on Node `nodejs` with the locked CLI (buildspecs replaced).

    CDK Pipelines publishes with `cdk-assets`, whose newest release (4.7.3) reads cloud assembly
    schema 54 at most; aws-cdk-lib 2.275 writes 55. The pinned CLI reads it: `cdk publish-assets`
    publishes the same assets of the stage stacks (`stage_stacks`, their construct paths) to the
    same bootstrap destinations, through the same file-publishing roles.
    """
    # First, before npm writes into the source directory: the artifact is the one the gate judged.
    install = {"runtime-versions": {"nodejs": nodejs}, "commands": [check_command(), PIPELINE_NPM_CI]}
    builds = {
        SELF_MUTATION: [f"{PIPELINE_CDK} -a . deploy {pipeline_stack} --require-approval=never --verbose"],
        FILE_ASSETS: [
            f"{PIPELINE_CDK} publish-assets --unstable=publish-assets -a . --exclusively "
            + " ".join(stage_stacks)
        ],
    }
    generated = [
        project
        for project in codebuild_projects(pipeline)
        if "/UpdatePipeline/" in project.node.path or "/Assets/" in project.node.path
    ]
    for suffix in builds:
        expect(
            any(p.node.path.endswith(suffix) for p in generated),
            f"{pipeline.node.path}{suffix}",
            "a CodeBuild project",
        )
    for project in generated:
        suffix = present(
            next((s for s in builds if project.node.path.endswith(s)), None),
            project,
            f"only the projects this patch has a pinned-tools buildspec for ({', '.join(builds)})",
        )
        spec = {
            "version": "0.2",
            "phases": {"install": install, "build": {"commands": builds[suffix]}},
            "cache": {"paths": ["/root/.npm/**/*"]},
        }
        cfn_project = default_child(project, codebuild.CfnProject)
        cfn_project.add_property_override("Source.BuildSpec", json.dumps(spec, indent=2))
        cfn_project.add_property_override("Cache", {"Type": "LOCAL", "Modes": ["LOCAL_CUSTOM_CACHE"]})


@patch_of("permission check (ConfirmPermissionsBroadening's CDKSecurityCheck project)")
def run_permissions_check_on_pinned_node_tools(pipeline: Construct, *, nodejs: str) -> None:
    """The permission check on Node `nodejs` and package-lock.json's CLI, like every other step.

    Its buildspec is JSON text joined around the auto-approver's name: edited as text, each edit
    expected exactly once, so a CDK upgrade that changes it fails synth instead of running unpinned.
    """
    project = permissions_check_project(pipeline)
    cfn_project = default_child(project, codebuild.CfnProject)
    source = cdk.Stack.of(project).resolve(cfn_project.source)
    build_spec: Any = source.get("buildSpec") if isinstance(source, dict) else None
    first = present(
        _first_text(build_spec),
        project,
        "an inline buildspec: JSON text joined (Fn::Join) around the auto-approver's name",
    )
    commands = json.dumps([check_command(), PIPELINE_NPM_CI])
    install = f'"install": {{"runtime-versions": {{"nodejs": "{nodejs}"}}, "commands": {commands}}}'
    edits = {
        # The gate's artifact (patches/artifact_digest.py), then Node `nodejs` and package-lock.json's
        # CLI, as self-mutation and asset publishing check and install them.
        '"phases": {\n    "build": {': f'"phases": {{\n    {install},\n    "build": {{',
        '        "npm install -g aws-cdk",\n': "",
        "if cdk diff ": f"if {PIPELINE_CDK} diff ",
        # A template diff: no change set, so the lookup role (read-only) is all it needs
        # (permissions_check.py takes the deploy roles away).
        "--security-only --fail": "--security-only --method=template --fail",
    }
    for before, after in edits.items():
        expect(first.count(before) == 1, project, f"{before!r} exactly once in its buildspec")
        first = first.replace(before, after)
    build_spec["Fn::Join"][1][0] = first
    cfn_project.add_property_override("Source.BuildSpec", build_spec)


def _first_text(value: Any) -> str | None:
    """The text before the first token of a resolved Fn::Join; None if `value` is not one."""
    try:
        first = value["Fn::Join"][1][0]
    except (KeyError, IndexError, TypeError):
        return None
    return first if isinstance(first, str) else None
