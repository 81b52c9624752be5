"""What SelfMutate would deploy from the synth artifact, and whether PipelineChangeGate can vouch for it.

Part of the gate's check (pipeline_change_check.py imports it; the gate's buildspec carries both,
written side by side, stages/pipeline/self_mutation_gate.py). The CDK CLI deploys the pipeline stack
from the artifact's manifests, not from the template the gate compares, so the manifests are held to
what `cdk synth` writes: one stack, its template published from the file compared into the pipeline
bootstrap's bucket, no asset made by a command, the pipeline tools the deployed pipeline pinned, the
stage stacks' templates the files the deploy actions read, and nothing at the artifact's top level
that the builds after the gate would load (a `node_modules/` Node would resolve the CLI's modules
from). Entries and manifest properties `cdk synth` does not write are listed for a person.

Standard library only; Python 3.9 and later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

# What the self-mutation and asset projects install their CDK CLI from (`npm ci`): exactly these.
PIPELINE_TOOLS = "pipeline-tools"
PIPELINE_TOOLS_FILES = ("package-lock.json", "package.json")
# Files the CDK CLI or npm read from the directory SelfMutate runs `cdk -a . deploy` in.
CLI_CONFIG_FILES = ("cdk.json", ".npmrc")
# What `cdk synth` (and `make synth`) writes at an assembly's top level, and in a stage's assembly.
SYNTH_FILES = ("manifest.json", "tree.json", "cdk.out", "validation-report.json")
SYNTH_SUFFIXES = (".template.json", ".assets.json", ".metadata.json", ".dot")
SYNTH_DIRECTORIES = (PIPELINE_TOOLS, ".cache")
SYNTH_DIRECTORY_PREFIXES = ("asset.", "assembly-")
# A stack artifact's properties as aws-cdk-lib writes them; any other is shown to a person.
KNOWN_STACK_PROPERTIES = {
    "templateFile", "terminationProtection", "validateOnSynth", "assumeRoleArn",
    "cloudFormationExecutionRoleArn", "stackTemplateAssetObjectUrl", "requiresBootstrapStackVersion",
    "bootstrapStackVersionSsmParameter", "additionalDependencies", "lookupRole",
}  # fmt: skip


class Refused(Exception):
    """The synth artifact is not one the gate can vouch for: SelfMutate could deploy more than it compared."""


def unexpected_entries(assembly: Path) -> list[str]:
    """Top-level entries (and stage-assembly files) `cdk synth` does not write, one line each for a
    person. Refused: `node_modules/`, where Node looks for the modules the CDK CLI installed beside
    it (pipeline-tools/node_modules) does not have, in every build after the gate."""
    lines: list[str] = []
    for entry in sorted(assembly.iterdir()):
        name = entry.name
        if name == "node_modules":
            raise Refused(
                "node_modules/ at the synth artifact's top level: the CDK CLI the builds after the gate "
                "install in pipeline-tools/ would load modules from it"
            )
        if entry.is_symlink():
            lines.append(f"{name}: a symbolic link at the synth artifact's top level")
        elif entry.is_dir() and name.startswith("assembly-"):
            lines += [f"{name}/{n}" for n in _unexpected_in_stage_assembly(entry)]
        elif not _written_by_synth(entry):
            lines.append(f"{name}: at the synth artifact's top level, not something `cdk synth` writes")
    return lines


def _written_by_synth(entry: Path) -> bool:
    name = entry.name
    if entry.is_dir():
        return name in SYNTH_DIRECTORIES or name.startswith(SYNTH_DIRECTORY_PREFIXES)
    # CDK Pipelines writes each asset project's buildspec too (unused: the projects' are inline).
    return entry.is_file() and (
        _synth_file(name) or (name.startswith("buildspec-") and name.endswith(".yaml"))
    )


def _synth_file(name: str) -> bool:
    return name in SYNTH_FILES or name.endswith(SYNTH_SUFFIXES)


def _unexpected_in_stage_assembly(directory: Path) -> list[str]:
    return [
        f"{entry.name}: in a stage's assembly, not something `cdk synth` writes"
        for entry in sorted(directory.iterdir())
        if entry.is_symlink() or not entry.is_file() or not _synth_file(entry.name)
    ]


def stage_template_paths(assembly: Path, pipeline: Mapping[str, Any]) -> None:
    """Each stage stack's template, as its manifest names it (what the permission check's `cdk diff`
    reads), is the file its CloudFormation deploy action reads (TemplatePath in the pipeline template
    SelfMutate deploys): otherwise the check would be shown one template and the stage deployed another."""
    for resource in pipeline.get("Resources", {}).values():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        for stage in resource.get("Properties", {}).get("Stages", []):
            for action in stage.get("Actions", []):
                configuration = action.get("Configuration", {})
                if configuration.get("ActionMode") == "CHANGE_SET_REPLACE":
                    _one_stack_reads(assembly, configuration)


def _one_stack_reads(assembly: Path, configuration: Mapping[str, Any]) -> None:
    stack_name, template_path = configuration.get("StackName"), str(configuration.get("TemplatePath", ""))
    relative = PurePosixPath(template_path.split("::", 1)[-1])
    directory = _inside(assembly, str(relative.parent))
    stacks = [
        artifact.get("properties", {})
        for artifact in read_json(directory / "manifest.json").get("artifacts", {}).values()
        if artifact.get("type") == "aws:cloudformation:stack"
        and artifact.get("properties", {}).get("stackName") == stack_name
    ]
    if len(stacks) != 1 or _inside(directory, stacks[0].get("templateFile", "")) != directory / relative.name:
        raise Refused(
            f"{stack_name}: its deploy action reads {relative}, but {relative.parent}/manifest.json gives "
            f"{[s.get('templateFile') for s in stacks]}: the permission check would diff another template"
        )


def pipeline_template(assembly: Path, stack_id: str, qualifier: str) -> dict[str, Any]:
    """The template `cdk -a <assembly> deploy <stack_id>` would deploy, once the assembly is checked.

    Refused: an assembly where that command would deploy another stack too, or another file than the
    one compared (from anywhere but the pipeline's bootstrap bucket, `qualifier`'s), or run with CLI
    settings or tools the deployed pipeline has not seen.
    """
    for name in CLI_CONFIG_FILES:
        if (assembly / name).exists():
            raise Refused(f"{name} in the cloud assembly: the CDK CLI would read it in SelfMutate")
    artifacts = read_json(assembly / "manifest.json").get("artifacts", {})
    stack = artifacts.get(stack_id, {})
    properties = stack.get("properties", {})
    if stack.get("type") != "aws:cloudformation:stack" or properties.get("stackName", stack_id) != stack_id:
        raise Refused(f"the manifest has no stack artifact {stack_id} deploying stack {stack_id}")
    assets_id = f"{stack_id}.assets"
    extra = set(stack.get("dependencies", [])) | set(properties.get("additionalDependencies", []))
    if extra - {assets_id}:
        raise Refused(
            f"{stack_id} depends on {sorted(extra - {assets_id})}: SelfMutate would deploy them too"
        )
    selected = list(_stacks_named(assembly, stack_id))
    if selected != [stack_id]:
        raise Refused(f"`cdk deploy {stack_id}` selects {selected}, not one stack")
    template_file = _inside(assembly, properties.get("templateFile", ""))
    _check_template_asset(assembly, artifacts.get(assets_id, {}), properties, template_file, qualifier)
    _refuse_assets_built_by_commands(assembly)
    return read_json(template_file)


def _refuse_assets_built_by_commands(assembly: Path) -> None:
    """No asset of any stack in the artifact is made by running something.

    The locked CLI builds every entry of a stack's asset manifest before it deploys or publishes:
    a file asset whose source is `executable` is a command it runs, and a container image is a
    docker build. SelfMutate (`cdk deploy`) and the asset build (`cdk publish-assets`) run them with
    roles that reach deploy roles, and neither shows in the pipeline template this gate compares.
    The app's assets are files and directories only, so any such entry is refused.
    """
    for manifest_path in _asset_manifests(assembly):
        manifest = read_json(manifest_path)
        for asset_id, entry in manifest.get("files", {}).items():
            if "executable" in entry.get("source", {}):
                raise Refused(
                    f"{manifest_path.name}: file asset {asset_id} is made by a command "
                    "(source.executable): the CDK CLI would run it in SelfMutate or the asset build"
                )
        if manifest.get("dockerImages"):
            raise Refused(
                f"{manifest_path.name}: container image assets {sorted(manifest['dockerImages'])}: "
                "the asset build would run a docker build; the app has none"
            )


def _asset_manifests(assembly: Path) -> Iterable[Path]:
    """Every asset manifest of the assembly and of the stage assemblies nested in it."""
    for directory, _, _, artifact in _artifacts(assembly):
        if artifact.get("type") == "cdk:asset-manifest":
            yield _inside(directory, artifact.get("properties", {}).get("file", ""))


def _stacks_named(assembly: Path, name: str) -> Iterable[str]:
    """Stack artifacts, in this assembly and its nested ones, that `cdk deploy <name>` would select."""
    for _, artifact_id, path, artifact in _artifacts(assembly):
        if artifact.get("type") == "aws:cloudformation:stack" and name in (
            artifact_id,
            artifact.get("displayName"),
        ):
            yield path


def _artifacts(assembly: Path, prefix: str = "") -> Iterable[tuple[Path, str, str, dict[str, Any]]]:
    """(its directory, its id, its path from the top assembly, the artifact) for every artifact,
    the nested assemblies' included, as the CDK CLI walks them."""
    for artifact_id, artifact in read_json(assembly / "manifest.json").get("artifacts", {}).items():
        yield assembly, artifact_id, f"{prefix}{artifact_id}", artifact
        if artifact.get("type") == "cdk:cloud-assembly":
            nested = _inside(assembly, artifact.get("properties", {}).get("directoryName", ""))
            yield from _artifacts(nested, f"{prefix}{artifact_id}/")


def _check_template_asset(
    assembly: Path, assets: Mapping[str, Any], properties: Mapping[str, Any], template: Path, qualifier: str
) -> None:
    """CloudFormation is given `template` itself: the CLI deploys from stackTemplateAssetObjectUrl, so
    that must be the pipeline bootstrap's bucket and the object named by `template`'s SHA-256 (as
    `cdk synth` names it), published from `template` by exactly one file asset of the stack."""
    bucket = bootstrap_bucket(qualifier)
    object_key = f"{hashlib.sha256(template.read_bytes()).hexdigest()}.json"
    url = properties.get("stackTemplateAssetObjectUrl")
    if url != f"s3://{bucket}/{object_key}":
        raise Refused(
            f"stackTemplateAssetObjectUrl is {url!r}, not s3://{bucket}/{object_key}: the CLI would "
            f"deploy another template than {template.name}, the one compared"
        )
    manifest = read_json(_inside(assembly, assets.get("properties", {}).get("file", "")))
    sources = [
        entry.get("source", {})
        for entry in manifest.get("files", {}).values()
        if any(
            (d.get("bucketName"), d.get("objectKey")) == (bucket, object_key)
            for d in entry.get("destinations", {}).values()
        )
    ]
    if (
        len(sources) != 1
        or sources[0].get("packaging", "file") != "file"
        or _inside(assembly, sources[0].get("path", "")) != template
    ):
        raise Refused(f"the template asset {object_key} is not {template.name}, the template compared")


def bootstrap_bucket(qualifier: str) -> str:
    """The bootstrap's asset bucket as a manifest names it (the CLI fills in account and region)."""
    return f"cdk-{qualifier}-assets-${{AWS::AccountId}}-${{AWS::Region}}"


def bootstrap_role(qualifier: str, kind: str) -> str:
    where = "${AWS::AccountId}-${AWS::Region}"
    return f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/cdk-{qualifier}-{kind}-role-{where}"


def stack_property_changes(assembly: Path, stack_id: str, qualifier: str) -> list[str]:
    """What the CLI acts on beyond the template, for a person: roles other than the pipeline bootstrap's,
    and any property (tags, parameters, notification topics...) the gate does not compare."""
    properties = (
        read_json(assembly / "manifest.json").get("artifacts", {}).get(stack_id, {}).get("properties", {})
    )
    version = f"/cdk-bootstrap/{qualifier}/version"
    expected = {
        "assumeRoleArn": bootstrap_role(qualifier, "deploy"),
        "cloudFormationExecutionRoleArn": bootstrap_role(qualifier, "cfn-exec"),
        "bootstrapStackVersionSsmParameter": version,
        "lookupRole": {
            "arn": bootstrap_role(qualifier, "lookup"),
            "requiresBootstrapStackVersion": properties.get("lookupRole", {}).get(
                "requiresBootstrapStackVersion"
            ),
            "bootstrapStackVersionSsmParameter": version,
        },
    }
    changes = [
        f"{stack_id}'s manifest: {key} is {properties.get(key)!r}, not {value!r} (the pipeline's bootstrap)"
        for key, value in expected.items()
        if properties.get(key) != value
    ]
    changes += [
        f"{stack_id}'s manifest sets {key}, which the CLI acts on and this check does not compare"
        for key in sorted(set(properties) - KNOWN_STACK_PROPERTIES)
    ]
    if properties.get("terminationProtection"):
        changes.append(f"{stack_id}'s manifest turns termination protection on")
    return changes


def tools_digest(files: Mapping[str, bytes]) -> str:
    """One SHA-256 over the pipeline tools' files (name and content): the deployed gate keeps it."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return digest.hexdigest()


def assembly_tools_digest(assembly: Path) -> str:
    directory = assembly / PIPELINE_TOOLS
    names = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if names != sorted(PIPELINE_TOOLS_FILES):
        raise Refused(f"{PIPELINE_TOOLS}/ holds {names}, not exactly {sorted(PIPELINE_TOOLS_FILES)}")
    return tools_digest({name: (directory / name).read_bytes() for name in names})


def _inside(assembly: Path, relative: str) -> Path:
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise Refused(f"{relative!r}: not a path inside the cloud assembly")
    return assembly / path


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Refused(f"{path}: not readable JSON ({error})") from error
