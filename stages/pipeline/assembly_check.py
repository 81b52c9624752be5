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
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

try:  # the repository's package (tests, the rehearsal, `make`)
    from stages.pipeline import asset_content
except ImportError:  # the gate's build: the embedded copy written beside this module
    import asset_content  # type: ignore[no-redef]

# What the self-mutation and asset projects install their CDK CLI from (`npm ci`): exactly these.
PIPELINE_TOOLS = "pipeline-tools"
PIPELINE_TOOLS_FILES = ("package-lock.json", "package.json")
# Files the CDK CLI or npm read from the directory SelfMutate runs `cdk -a . deploy` in.
CLI_CONFIG_FILES = ("cdk.json", ".npmrc")
# What `cdk synth` (and `make synth`) writes at an assembly's top level, and in a stage's assembly.
SYNTH_FILES = ("manifest.json", "tree.json", "cdk.out", "validation-report.json")
SYNTH_SUFFIXES = (".template.json", ".assets.json", ".metadata.json", ".dot")
SYNTH_DIRECTORIES = (PIPELINE_TOOLS,)
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
        if name == ".cache":
            raise Refused(
                ".cache/ in the synth artifact: the CDK CLI publishes a zip from it in place of the asset "
                "directory the gate and the checks read (`cdk synth` writes none)"
            )
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


def stage_template_paths(assembly: Path, pipeline: Mapping[str, Any], stack_id: str = "") -> None:
    """What each stage's deploy actions and checks read is what the gate vouches for.

    For each CloudFormation action creating a change set (Prepare): its stack's template, as the
    stage manifest names it (what the permission check's `cdk diff` reads), is the file the action
    reads (TemplatePath); it is the one stack `cdk diff <pipeline>/<stage>/*` selects in the whole
    assembly (no decoy with the stage's display name elsewhere); it pulls nothing in at deploy
    (`AWS::Include`: neither check would see it); and its assets publish only into its bootstrap's
    bucket (asset_destinations). Nested assemblies are only the stage directories (`assembly-*`)."""
    for nested in _nested_assemblies(assembly):
        if nested.parent != assembly or not nested.name.startswith("assembly-"):
            raise Refused(f"a nested cloud assembly in {nested}: only the stages' assembly-* directories")
    for resource in pipeline.get("Resources", {}).values():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        for stage in resource.get("Properties", {}).get("Stages", []):
            for action in stage.get("Actions", []):
                configuration = action.get("Configuration", {})
                if configuration.get("ActionMode") == "CHANGE_SET_REPLACE":
                    template = _one_stack_reads(assembly, configuration)
                    _only_stack_selected(assembly, f"{stack_id}/{stage.get('Name')}/", configuration)
                    _no_transform(template)
                    qualifier = _qualifier_of(action)
                    asset_destinations(assembly, template.parent, qualifier, template)


def _one_stack_reads(assembly: Path, configuration: Mapping[str, Any]) -> Path:
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
    return directory / relative.name


def _only_stack_selected(assembly: Path, prefix: str, configuration: Mapping[str, Any]) -> None:
    """`cdk diff <prefix>*` (the permission check) selects stacks by display name in every assembly:
    exactly the stack the deploy action deploys."""
    selected = [
        artifact.get("properties", {}).get("stackName")
        for _, _, _, artifact in _artifacts(assembly)
        if artifact.get("type") == "aws:cloudformation:stack"
        and str(artifact.get("displayName", "")).startswith(prefix)
    ]
    if selected != [configuration.get("StackName")]:
        raise Refused(
            f"the permission check's `cdk diff {prefix}*` would select {selected}, not exactly "
            f"{configuration.get('StackName')}, the stack its stage deploys"
        )


def _no_transform(template: Path) -> None:
    """A transform (`AWS::Include`, a macro) adds to the template at deploy what no check reads."""
    body = read_json(template)
    if "Fn::Transform" in json.dumps(body) or (isinstance(body, dict) and "Transform" in body):
        raise Refused(f"{template.name} uses a transform: CloudFormation would add what no check has read")


def _qualifier_of(action: Mapping[str, Any]) -> str:
    """The bootstrap a deploy action deploys through, from the roles it names (cdk-<qualifier>-...)."""
    found = set(re.findall(r"cdk-([a-z0-9]+)-(?:deploy|cfn-exec)-role", json.dumps(action)))
    if len(found) != 1:
        raise Refused(f"{action.get('Name')}: no single bootstrap in its roles ({sorted(found)})")
    return found.pop()


def asset_destinations(root: Path, directory: Path, qualifier: str, template: Path) -> None:
    """Every asset of the stack whose template is `template` (its manifest in `directory`) publishes
    one object, into `qualifier`'s bootstrap bucket as its file-publishing role, from a file or
    directory inside the assembly with no symbolic link in it, under a key the template names (or
    its own SHA-256, the template's object): no object for a later commit's key, no other bucket,
    region or role (the asset build may assume deploy roles), nothing from outside the artifact."""
    raw = template.read_bytes()
    referenced, own_key = raw.decode("utf-8"), f"{hashlib.sha256(raw).hexdigest()}.json"
    for manifest_path in _asset_manifests_in(directory):
        for asset_id, entry in read_json(manifest_path).get("files", {}).items():
            synth_shaped(root, manifest_path.parent, asset_id, entry)
            destinations = list(entry.get("destinations", {}).values())
            expected = {
                "bucketName": bootstrap_bucket(qualifier),
                "assumeRoleArn": bootstrap_role(qualifier, "file-publishing"),
            }
            if (
                len(destinations) != 1
                or {k: v for k, v in destinations[0].items() if k != "objectKey"} != expected
            ):
                raise Refused(
                    f"asset {asset_id} of {template.name} publishes to {destinations}, not one object in "
                    f"{expected['bucketName']} as {qualifier}'s file-publishing role"
                )
            key = str(destinations[0].get("objectKey", ""))
            if key != own_key and f'"{key}"' not in referenced:
                raise Refused(f"asset {asset_id} publishes {key}, which {template.name} does not name")


def synth_shaped(root: Path, directory: Path, asset_id: str, entry: Mapping[str, Any]) -> tuple[Path, str]:
    """The asset's source and key, once the entry is shaped as `cdk synth` writes one: its id a SHA-256
    (the CLI names its zip cache `.cache/<id>.zip` and reuses it: a path-shaped id would point that at
    a zip in the artifact), a directory zipped to `<id>.zip` or a file published as `<id><suffix>` (a
    file can never take a directory's key), in the artifact with no symbolic link on the way."""
    source = entry.get("source", {})
    path = _within(root, directory, str(source.get("path", "")))
    if not path.exists():
        raise Refused(f"asset {asset_id}: {path.relative_to(root)} is not in the artifact")
    if not re.fullmatch(r"[0-9a-f]{64}", asset_id):
        raise Refused(
            f"asset id {asset_id!r} is not a SHA-256 as synth writes it: the CLI names its zip cache by it"
        )
    resolved = Path(os.path.realpath(root)) / path.relative_to(root)
    links = [p for p in [path, *(path.rglob("*") if path.is_dir() else [])] if p.is_symlink()]
    if links or Path(os.path.realpath(path)) != resolved:
        shown = links[0] if links else path.relative_to(root)
        raise Refused(
            f"asset {asset_id}: {shown} is or passes a symbolic link; the asset build would follow it"
        )
    keys = [str(d.get("objectKey", "")) for d in entry.get("destinations", {}).values()]
    packaging = source.get("packaging")
    if packaging == "zip" and path.is_dir():
        expected = f"{asset_id}.zip"
    elif packaging == "file" and path.is_file():
        expected = f"{asset_id}{path.suffix}"
    else:
        raise Refused(
            f"asset {asset_id}: packaging {packaging!r} of {path.relative_to(root)}, not as synth writes it"
        )
    if keys != [expected]:
        raise Refused(f"asset {asset_id} publishes {keys}, not {expected} as synth names it")
    return path, expected


def _within(root: Path, directory: Path, relative: str) -> Path:
    """`relative` (from `directory`) as a path inside the top assembly `root`: a stage's assets are
    `../asset.<hash>`, beside its assembly; an absolute path or one leaving `root` is refused."""
    if not relative or PurePosixPath(relative).is_absolute():
        raise Refused(f"{relative!r}: not a path inside the cloud assembly")
    path = Path(os.path.normpath(directory / relative))
    if path != root and root not in path.parents:
        raise Refused(f"{relative!r}: leaves the cloud assembly")
    return path


def _asset_manifests_in(directory: Path) -> Iterable[Path]:
    for artifact in read_json(directory / "manifest.json").get("artifacts", {}).values():
        if artifact.get("type") == "cdk:asset-manifest":
            yield _inside(directory, artifact.get("properties", {}).get("file", ""))


def _nested_assemblies(assembly: Path) -> Iterable[Path]:
    for directory, _, _, artifact in _artifacts(assembly):
        if artifact.get("type") == "cdk:cloud-assembly":
            yield _inside(directory, artifact.get("properties", {}).get("directoryName", ""))


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
    _no_transform(template_file)
    asset_destinations(assembly, assembly, qualifier, template_file)
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


def unbound_assets(assembly: Path, deployed: Mapping[str, Any]) -> list[str]:
    """Assets whose object may hold other bytes than the artifact's, one line each for a person.

    An asset is bound when its key is its content's SHA-256 (a template) or its exact aws-cdk-lib
    fingerprint (asset_content.py): the key names those bytes and no others, so an object already
    under it, published by any run, holds them. A pipeline-stack asset whose key the deployed
    pipeline names was published when that pipeline was, and is not published again. Any other key
    (a CDK-provided handler's fixed hash, an asset hashed from its source) says nothing of the
    bytes: a person confirms it. An entry not shaped as synth writes one is refused (synth_shaped)."""
    deployed_text = json.dumps(deployed)
    lines = []
    for manifest_path in _asset_manifests(assembly):
        for asset_id, entry in read_json(manifest_path).get("files", {}).items():
            path, key = synth_shaped(assembly, manifest_path.parent, asset_id, entry)
            if path.is_dir():
                reasons = asset_content.unbound_reasons(path, key)
            elif path.suffix != ".json":
                reasons = [
                    f"a {path.suffix or 'suffix-less'} file: only a template is bound by its SHA-256 here"
                ]
            elif hashlib.sha256(path.read_bytes()).hexdigest() != asset_id:
                reasons = ["its key is not its content's SHA-256"]
            else:
                continue
            if not reasons or (manifest_path.parent == assembly and f'"{key}"' in deployed_text):
                continue
            lines.append(
                f"asset {asset_id} ({path.relative_to(assembly)}, published as {key}): "
                f"{'; '.join(reasons[:3])}: the asset build would publish bytes no check bound to that key"
            )
    return lines


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
