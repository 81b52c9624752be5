"""What PipelineChangeGate's check holds the synth artifact to (stages/pipeline/assembly_check.py): the
manifests the CDK CLI deploys from, and the entries the builds after the gate would load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline import assembly_check as rules

from .gate_fixtures import (
    BUCKET,
    CODE_ASSET,
    FILE_ROLE,
    PROD_ASSEMBLY,
    PROD_TEMPLATE,
    QUALIFIER,
    STACK,
    TOOLS,
    edit_manifest,
    pipeline_template,
    write_assembly,
)


def test_the_template_compared_is_the_one_the_manifest_deploys(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    assert rules.pipeline_template(assembly, STACK, QUALIFIER) == pipeline_template()


def test_an_assembly_that_would_deploy_another_stack_too_is_refused(tmp_path):
    # GIVEN a manifest in which the pipeline stack depends on the prod stack (cdk deploy deploys it first)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    edit_manifest(assembly, lambda artifacts: artifacts[STACK]["dependencies"].append("ProdStack"))
    with pytest.raises(rules.Refused, match="SelfMutate would deploy them too"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_an_assembly_whose_template_asset_is_another_file_is_refused(tmp_path):
    # GIVEN the template CloudFormation is given (the asset) is not the file the gate compares
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "other.json").write_text("{}", encoding="utf-8")
    assets = json.loads((assembly / f"{STACK}.assets.json").read_text(encoding="utf-8"))
    (template_asset,) = assets["files"].values()
    template_asset["source"]["path"] = "other.json"
    (assembly / f"{STACK}.assets.json").write_text(json.dumps(assets), encoding="utf-8")
    with pytest.raises(rules.Refused, match=re.escape("is not UploadApiPipeline.template.json")):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def _add_asset(manifest_path: Path, asset_id: str, source: dict[str, Any]) -> None:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][asset_id] = {
        "source": source,
        "destinations": {"current": {"objectKey": f"{asset_id}.zip"}},
    }
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def test_a_file_asset_made_by_a_command_is_refused(tmp_path):
    # GIVEN the pipeline stack's asset manifest with an extra file asset whose source is a command
    # (the CLI runs it while it builds the stack's assets: in SelfMutate, before anything deploys)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    _add_asset(assembly / f"{STACK}.assets.json", "evil", {"executable": ["sh", "-c", "id"]})
    # WHEN the gate reads the artifact THEN it refuses it, naming the asset
    with pytest.raises(rules.Refused, match=r"file asset evil is made by a command"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_a_command_asset_of_a_stage_stack_is_refused_too(tmp_path):
    # GIVEN a nested stage assembly (the asset build publishes its assets with a role that may assume
    # the stage's deploy role) whose asset manifest holds a command
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    stage = assembly / "assembly-Prod"
    stage.mkdir()
    (stage / "Prod.assets.json").write_text(json.dumps({"files": {}}), encoding="utf-8")
    stage_manifest = {
        "artifacts": {
            "Prod.assets": {"type": "cdk:asset-manifest", "properties": {"file": "Prod.assets.json"}}
        }
    }
    (stage / "manifest.json").write_text(json.dumps(stage_manifest), encoding="utf-8")
    edit_manifest(
        assembly,
        lambda a: a.update(
            {"Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}}
        ),
    )
    assert rules.pipeline_template(assembly, STACK, QUALIFIER) == pipeline_template()
    _add_asset(stage / "Prod.assets.json", "build", {"executable": ["node", "build.js"]})
    # WHEN the gate reads the artifact THEN it refuses it
    with pytest.raises(rules.Refused, match=r"Prod.assets.json: file asset build is made by a command"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_a_container_image_asset_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path = assembly / f"{STACK}.assets.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["dockerImages"] = {"img": {"source": {"directory": "asset.img"}, "destinations": {}}}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(rules.Refused, match="container image assets"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_a_second_stack_the_deploy_command_selects_is_refused(tmp_path):
    # GIVEN a nested assembly holding another stack displayed as the pipeline stack
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    nested = assembly / "assembly-Evil"
    nested.mkdir()
    evil = {
        "artifacts": {"Evil": {"type": "aws:cloudformation:stack", "displayName": STACK, "properties": {}}}
    }
    (nested / "manifest.json").write_text(json.dumps(evil), encoding="utf-8")
    edit_manifest(
        assembly,
        lambda artifacts: artifacts.update(
            {"Nested": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Evil"}}}
        ),
    )
    with pytest.raises(rules.Refused, match="selects"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


@pytest.mark.parametrize("name", rules.CLI_CONFIG_FILES)
def test_cli_configuration_in_the_assembly_is_refused(tmp_path, name):
    # GIVEN a cdk.json (its plugins would load in SelfMutate) or an .npmrc in the artifact
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / name).write_text('{"plugin": ["./x.js"]}', encoding="utf-8")
    with pytest.raises(rules.Refused, match=name):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_a_path_outside_the_assembly_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    edit_manifest(assembly, lambda artifacts: artifacts[STACK]["properties"].update(templateFile="../t.json"))
    with pytest.raises(rules.Refused, match="not a path inside"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_extra_files_beside_the_pipeline_tools_are_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template(), {**TOOLS, ".npmrc": b"registry=x"})
    with pytest.raises(rules.Refused, match="not exactly"):
        rules.assembly_tools_digest(assembly)


# -- what the CLI deploys from: the template's URL and the stack's other properties --------------------


def _set_url(assembly: Path, url: str) -> None:
    edit_manifest(
        assembly, lambda artifacts: artifacts[STACK]["properties"].update(stackTemplateAssetObjectUrl=url)
    )


def _template_key(assembly: Path) -> str:
    url = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))["artifacts"][STACK]
    return str(url["properties"]["stackTemplateAssetObjectUrl"]).rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("s3://attacker-bucket/KEY", id="another bucket"),
        pytest.param("https://cdk-hnb659fds-assets-1-r.s3.amazonaws.com/x/KEY", id="an https URL"),
        pytest.param(f"s3://{BUCKET}/evil/KEY", id="another key in the bucket"),
    ],
)
def test_a_template_url_other_than_the_compared_files_is_refused(tmp_path, url):
    # GIVEN the manifest's template (the one compared) unchanged, but the URL the CLI deploys from
    # pointing elsewhere (the CLI takes bucket and key from it, and passes an https URL through)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    _set_url(assembly, url.replace("KEY", _template_key(assembly)))
    # THEN the gate refuses the artifact
    with pytest.raises(rules.Refused, match="the CLI would deploy another template"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


def test_a_second_asset_publishing_to_the_compared_templates_key_is_refused(tmp_path):
    # GIVEN a plain file asset (no command) publishing another file to the compared template's object
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "evil.json").write_text('{"Resources": {}}', encoding="utf-8")
    manifest_path = assembly / f"{STACK}.assets.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["evil"] = {
        "source": {"path": "evil.json", "packaging": "file"},
        "destinations": {"current": {"bucketName": BUCKET, "objectKey": _template_key(assembly)}},
    }
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(rules.Refused, match=re.escape("is not UploadApiPipeline.template.json")):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("assumeRoleArn", "arn:aws:iam::1:role/other", "assumeRoleArn is 'arn:aws:iam::1:role/other', not"),
        ("cloudFormationExecutionRoleArn", "arn:aws:iam::1:role/admin", "cloudFormationExecutionRoleArn is"),
        ("tags", {"a": "b"}, "sets tags, which the CLI acts on"),
        ("notificationArns", ["arn:aws:sns:r:1:t"], "sets notificationArns"),
        ("parameters", {"P": "v"}, "sets parameters"),
        ("terminationProtection", True, "turns termination protection on"),
    ],
)
def test_a_deploy_property_other_than_the_bootstraps_waits_for_a_person(tmp_path, key, value, says):
    # GIVEN the pipeline stack's manifest with a role, tag, parameter... the CLI would deploy with
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    edit_manifest(assembly, lambda artifacts: artifacts[STACK]["properties"].update({key: value}))
    # THEN it is listed for a person
    (line,) = rules.stack_property_changes(assembly, STACK, QUALIFIER)
    assert says in line


def test_the_bootstraps_own_properties_need_nobody(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    assert rules.stack_property_changes(assembly, STACK, QUALIFIER) == []


# -- the stage templates: what the permission check diffs is what the stage deploys -------------------


def test_a_stage_manifest_naming_another_template_than_its_deploy_action_reads_is_refused(tmp_path):
    # GIVEN the prod stage's manifest pointing `cdk diff` at a benign copy, while Prepare reads the
    # file at the fixed path (which now holds the broadening)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    stage = assembly / PROD_ASSEMBLY
    (stage / "benign.template.json").write_text('{"Resources": {}}', encoding="utf-8")
    manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
    manifest["artifacts"]["ProdUploadApi"]["properties"]["templateFile"] = "benign.template.json"
    (stage / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    # THEN the gate refuses it
    with pytest.raises(rules.Refused, match="the permission check would diff another template"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_a_second_stack_deployed_as_the_same_stage_stack_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    stage = assembly / PROD_ASSEMBLY
    manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
    manifest["artifacts"]["Copy"] = manifest["artifacts"]["ProdUploadApi"]
    (stage / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(rules.Refused, match="the permission check would diff another template"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_each_stage_template_as_synthesized_is_the_one_its_action_reads(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    rules.stage_template_paths(assembly, pipeline_template(), STACK)  # no exception


# -- what the builds after the gate would load from the artifact's top level ---------------------------


def test_node_modules_at_the_top_level_is_refused(tmp_path):
    # GIVEN a node_modules/ beside pipeline-tools/ (Node walks up to it from the CLI installed there)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "node_modules" / "@aws-sdk" / "signature-v4-crt").mkdir(parents=True)
    with pytest.raises(rules.Refused, match="node_modules/ at the synth artifact's top level"):
        rules.unexpected_entries(assembly)


@pytest.mark.parametrize("name", ["hashlib.py", ".python-version", "sitecustomize.pth", "run.sh"])
def test_a_file_cdk_synth_does_not_write_waits_for_a_person(tmp_path, name):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / name).write_text("x", encoding="utf-8")
    assert rules.unexpected_entries(assembly) == [
        f"{name}: at the synth artifact's top level, not something `cdk synth` writes"
    ]


def test_a_stage_assembly_holding_anything_else_waits_for_a_person(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / PROD_ASSEMBLY / "node_modules").mkdir()
    assert rules.unexpected_entries(assembly) == [
        f"{PROD_ASSEMBLY}/node_modules: in a stage's assembly, not something `cdk synth` writes"
    ]


def test_what_cdk_synth_writes_needs_nobody(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    for name in (
        "tree.json",
        "cdk.out",
        "validation-report.json",
        "X.metadata.json",
        "buildspec-1-FileAsset.yaml",
    ):
        (assembly / name).write_text("{}", encoding="utf-8")
    (assembly / "asset.abc").mkdir()
    (assembly / "asset.abc" / "handler.py").write_text("", encoding="utf-8")
    assert rules.unexpected_entries(assembly) == []


# -- what the publishing builds publish: every asset, every stack ------------------------------------


PROD_DEPLOY_ROLE = rules.bootstrap_role("uploadprod", "deploy")


def _prod_assets(assembly: Path) -> tuple[Path, dict[str, Any]]:
    path = assembly / PROD_ASSEMBLY / "ProdUploadApi.assets.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_an_asset_planting_an_object_for_a_later_template_is_refused(tmp_path):
    # GIVEN the pipeline's own asset manifest with a second, plain file entry publishing another
    # template into the bootstrap bucket under a key this commit's template does not name (the key a
    # later commit's template will have: the CLI would find the object there and not publish it again)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "UploadApiPipelineExtra.template.json").write_text('{"Resources": {}}', encoding="utf-8")
    path = assembly / f"{STACK}.assets.json"
    assets = json.loads(path.read_text(encoding="utf-8"))
    planted = {"bucketName": BUCKET, "assumeRoleArn": FILE_ROLE, "objectKey": f"{'b' * 64}.json"}
    assets["files"]["b" * 64] = {
        "source": {"path": "UploadApiPipelineExtra.template.json", "packaging": "file"},
        "destinations": {"current": planted},
    }
    path.write_text(json.dumps(assets), encoding="utf-8")
    # THEN the gate refuses it
    with pytest.raises(rules.Refused, match=f"publishes {'b' * 64}.json, which UploadApiPipeline"):
        rules.pipeline_template(assembly, STACK, QUALIFIER)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param({"bucketName": "attacker-bucket"}, "publishes to", id="another bucket"),
        pytest.param({"region": "eu-central-1"}, "publishes to", id="another region"),
        pytest.param(
            {"assumeRoleArn": rules.bootstrap_role("uploadprod", "deploy")},
            "publishes to",
            id="the deploy role",
        ),
        pytest.param({"objectKey": "unnamed.zip"}, "not .* as synth names it", id="a key other than synth's"),
    ],
)
def test_a_stage_asset_publishing_elsewhere_is_refused(tmp_path, change, says):
    # GIVEN prod's function code asset with another destination than its bootstrap's bucket and role
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path, assets = _prod_assets(assembly)
    assets["files"][CODE_ASSET]["destinations"]["current"].update(change)
    path.write_text(json.dumps(assets), encoding="utf-8")
    # THEN the gate refuses the artifact (the asset build would publish it before any approval)
    with pytest.raises(rules.Refused, match=says):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


@pytest.mark.parametrize(
    ("source", "says"),
    [("/etc", "not a path inside"), ("../../../etc", "leaves the cloud assembly")],
)
def test_a_stage_asset_from_outside_the_artifact_is_refused(tmp_path, source, says):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path, assets = _prod_assets(assembly)
    assets["files"][CODE_ASSET]["source"]["path"] = source
    path.write_text(json.dumps(assets), encoding="utf-8")
    with pytest.raises(rules.Refused, match=says):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_a_symbolic_link_in_an_asset_directory_is_refused(tmp_path):
    # GIVEN the function's code directory holding a link out of the artifact (the zipper follows it)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / f"asset.{CODE_ASSET}" / "environ.txt").symlink_to("/proc/self/environ")
    with pytest.raises(rules.Refused, match="is or passes a symbolic link"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_a_decoy_stack_the_permission_check_would_select_instead_is_refused(tmp_path):
    # GIVEN the real prod stack renamed out of `UploadApiPipeline/Prod/*` and a decoy assembly whose
    # stack carries that display name (cdk diff selects stacks by display name, in every assembly)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    stage_manifest = assembly / PROD_ASSEMBLY / "manifest.json"
    manifest = json.loads(stage_manifest.read_text(encoding="utf-8"))
    manifest["artifacts"]["ProdUploadApi"]["displayName"] = "Elsewhere/UploadApi"
    stage_manifest.write_text(json.dumps(manifest), encoding="utf-8")
    decoy = assembly / "assembly-Decoy"
    decoy.mkdir()
    (decoy / "Decoy.template.json").write_text('{"Resources": {}}', encoding="utf-8")
    stack = {"type": "aws:cloudformation:stack", "displayName": f"{STACK}/Prod/UploadApi",
             "properties": {"stackName": "Decoy", "templateFile": "Decoy.template.json"}}  # fmt: skip
    (decoy / "manifest.json").write_text(json.dumps({"artifacts": {"Decoy": stack}}), encoding="utf-8")
    nested = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Decoy"}}
    edit_manifest(assembly, lambda artifacts: artifacts.update({"Decoy": nested}))
    # THEN the gate refuses it: the check would be shown the decoy
    with pytest.raises(rules.Refused, match=re.escape("would select ['Decoy'], not exactly Prod-UploadApi")):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_a_nested_assembly_outside_the_stage_directories_is_refused(tmp_path):
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / "asset.hidden").mkdir()
    (assembly / "asset.hidden" / "manifest.json").write_text('{"artifacts": {}}', encoding="utf-8")
    nested = {"type": "cdk:cloud-assembly", "properties": {"directoryName": "asset.hidden"}}
    edit_manifest(assembly, lambda artifacts: artifacts.update({"Hidden": nested}))
    with pytest.raises(rules.Refused, match="only the stages' assembly-\\* directories"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


@pytest.mark.parametrize(
    "template",
    [
        {"Transform": "AWS::Serverless-2016-10-31", "Resources": {}},
        {"Resources": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}},
    ],
    ids=["a macro", "AWS::Include"],
)
def test_a_stage_template_with_a_transform_is_refused(tmp_path, template):
    # GIVEN prod's template pulling in at deploy what neither the permission check nor JudgedChangeSet
    # (which reads the template before processing) sees
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / PROD_ASSEMBLY / PROD_TEMPLATE).write_text(json.dumps(template), encoding="utf-8")
    with pytest.raises(rules.Refused, match="uses a transform"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)


def test_the_clis_zip_cache_is_refused(tmp_path):
    # GIVEN a .cache/<asset id>.zip (the CLI publishes it in place of the asset's directory)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / ".cache").mkdir()
    (assembly / ".cache" / f"{CODE_ASSET}.zip").write_bytes(b"PK")
    with pytest.raises(rules.Refused, match=re.escape(".cache/ in the synth artifact")):
        rules.unexpected_entries(assembly)


def test_a_transform_spelled_with_a_json_escape_is_refused(tmp_path):
    # GIVEN prod's template naming Fn::Transform with an escaped letter: CloudFormation's JSON parser
    # reads the key as Fn::Transform, a search of the file's text for it does not find it
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    escaped = '{"Resources": {"Fn::Transfor\\u006d": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}}'
    assert "Fn::Transform" not in escaped
    (assembly / PROD_ASSEMBLY / PROD_TEMPLATE).write_text(escaped, encoding="utf-8")
    # THEN the gate reads the template as CloudFormation does, and refuses it
    with pytest.raises(rules.Refused, match="uses a transform"):
        rules.stage_template_paths(assembly, pipeline_template(), STACK)
