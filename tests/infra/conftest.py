"""Build the upload stage, or the whole app, in-process the way `cdk synth` does, with cdk.json's context.

A bare `cdk.App()` would ignore cdk.json, so its feature flags (and our `uploadApi`
settings) would not apply and the template under test would not be the one deployed.
Bundling is skipped (`aws:cdk:bundling-stacks: []`) so no test here runs pip unless it
asks for it; the asset hash is then still the source hash of lambda/ (tests/infra/test_asset_hash.py).

`synth_stage` builds one UploadApiStage on its own (the upload stack's template tests);
`synth_app` builds main.build_app, the pipeline stack with the Dev and Prod stages in it,
whose assembly is the one `cdk synth` writes: UploadApiPipeline.template.json at the root
and each upload stack in assembly-UploadApiPipeline-Dev/ and -Prod/.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import assertions

from main import PIPELINE_STACK_ID, build_app
from stages.pipeline.settings import PipelineSettings, load_pipeline_settings
from stages.pipeline.stack import UploadApiPipelineStack
from stages.settings import CONTEXT_KEY, StageSettings, load_stage_settings
from stages.template_text import as_nag_text as as_text
from stages.upload_stage import UploadApiStage
from tests.repo import REPO_ROOT, cdk_context

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
# What the CDK CLI adds to the context of `cdk synth`, so in-process templates match cdk.out's.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
}
STAGE_IDS = {"dev": "Dev", "prod": "Prod"}
LAMBDA_DIR = REPO_ROOT / "lambda"


def context_with(stage: str = "dev", **settings: Any) -> dict[str, Any]:
    """cdk.json's context, bundling skipped, with `settings` (cdk.json spelling) set for `stage`."""
    context = copy.deepcopy(cdk_context(**CLI_CONTEXT, **SKIP_BUNDLING))
    context[CONTEXT_KEY]["stages"][stage].update(settings)
    return context


def cdk_json_setting(stage: str, name: str) -> Any:
    """A setting's effective value in cdk.json: the stage's own, else the default."""
    upload_api = cdk_context()[CONTEXT_KEY]
    return upload_api["stages"][stage].get(name, upload_api["defaults"].get(name))


@dataclass(frozen=True)
class Synthesized:
    """One synthesized upload stage: the app, the stage, and its stack's template."""

    app: cdk.App
    stage: UploadApiStage
    template: assertions.Template

    @property
    def stack(self) -> cdk.Stack:
        return self.stage.stack

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.to_json()["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    # Logical ids, found from the function outwards: the bucket and table are the ones it is told to use.
    @property
    def function_id(self) -> str:
        # The upload function; a stage that scans uploads has a scan-result function too.
        (function_id,) = [
            logical_id
            for logical_id, resource in self.of_type("AWS::Lambda::Function").items()
            if resource["Properties"]["Handler"] == "upload_api.handler.lambda_handler"
        ]
        return function_id

    @property
    def function(self) -> dict[str, Any]:
        return self.resources[self.function_id]["Properties"]

    @property
    def bucket_id(self) -> str:
        return self.function["Environment"]["Variables"]["BUCKET_NAME"]["Ref"]

    @property
    def table_id(self) -> str:
        return self.function["Environment"]["Variables"]["TABLE_NAME"]["Ref"]

    @property
    def role_id(self) -> str:
        return self.function["Role"]["Fn::GetAtt"][0]

    @property
    def function_log_group_id(self) -> str:
        return self.function["LoggingConfig"]["LogGroup"]["Ref"]

    @property
    def bucket_key_id(self) -> str:
        rule = self.resources[self.bucket_id]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        return rule[0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]

    @property
    def table_key_id(self) -> str:
        return self.resources[self.table_id]["Properties"]["SSESpecification"]["KMSMasterKeyId"][
            "Fn::GetAtt"
        ][0]

    def role_statements(self) -> list[dict[str, Any]]:
        """Every statement of every policy attached to the function's role."""
        statements = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": self.role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements


def synth_stage(stage: str = "dev", *, outdir: Path | None = None, **settings: Any) -> Synthesized:
    app = cdk.App(context=context_with(stage, **settings), outdir=str(outdir) if outdir else None)
    # Settings are read once, from the app's context, exactly as main.py does.
    stage_settings = load_stage_settings(app.node.try_get_context(CONTEXT_KEY), stage)
    upload_stage = UploadApiStage(app, STAGE_IDS[stage], settings=stage_settings)
    return Synthesized(app, upload_stage, assertions.Template.from_stack(upload_stage.stack))


@pytest.fixture(scope="session")
def synth() -> Callable[..., Synthesized]:
    """`synth(stage="dev", **settings)`: each distinct stage + settings is synthesized once per session."""
    built: dict[str, Synthesized] = {}

    def get(stage: str = "dev", **settings: Any) -> Synthesized:
        key = json.dumps([stage, settings], sort_keys=True)
        if key not in built:
            built[key] = synth_stage(stage, **settings)
        return built[key]

    return get


@pytest.fixture(scope="session")
def dev(synth: Callable[..., Synthesized]) -> Synthesized:
    """The dev stage exactly as cdk.json configures it."""
    return synth("dev")


@pytest.fixture(scope="session")
def template(dev: Synthesized) -> assertions.Template:
    return dev.template


# -- the whole app: main.build_app --------------------------------------------------------------


def app_context(
    pipeline: dict[str, Any] | None = None, stages: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """cdk.json's context, bundling skipped, with pipeline and per-stage settings (cdk.json spelling) set."""
    context = copy.deepcopy(cdk_context(**CLI_CONTEXT, **SKIP_BUNDLING))
    context[CONTEXT_KEY]["pipeline"].update(pipeline or {})
    for stage, settings in (stages or {}).items():
        context[CONTEXT_KEY]["stages"][stage].update(settings)
    return context


def loaded_settings(
    pipeline: dict[str, Any] | None = None, stages: dict[str, dict[str, Any]] | None = None
) -> tuple[PipelineSettings, list[StageSettings]]:
    """The pipeline's and both stages' settings as synth loads them from `app_context(...)`."""
    context = app_context(pipeline, stages)[CONTEXT_KEY]
    return load_pipeline_settings(context), [load_stage_settings(context, s) for s in ("dev", "prod")]


@dataclass(frozen=True)
class SynthesizedApp:
    """main.build_app's app, synthesized into `outdir`, and the pipeline stack's template."""

    app: cdk.App
    outdir: Path
    stack: UploadApiPipelineStack
    template: assertions.Template

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.to_json()["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's (or a CfnElement's) resource in the pipeline stack."""
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return self.stack.resolve(element.logical_id)

    @property
    def pipeline(self) -> dict[str, Any]:
        (pipeline,) = self.of_type("AWS::CodePipeline::Pipeline").values()
        return pipeline["Properties"]

    def actions(self, stage_name: str) -> list[dict[str, Any]]:
        (stage,) = [s for s in self.pipeline["Stages"] if s["Name"] == stage_name]
        return stage["Actions"]

    def project_id(self, action: dict[str, Any]) -> str:
        """The logical id of the CodeBuild project a CodeBuild action runs."""
        assert action["ActionTypeId"]["Provider"] == "CodeBuild", action["Name"]
        return action["Configuration"]["ProjectName"]["Ref"]

    def buildspec(self, project_id: str) -> dict[str, Any]:
        """A project's buildspec: inline JSON (tokens rendered by as_text), or the file CDK wrote."""
        spec = self.resources[project_id]["Properties"]["Source"]["BuildSpec"]
        text = as_text(spec)
        if text.startswith("{"):
            return json.loads(text)
        return yaml.safe_load((self.outdir / text).read_text(encoding="utf-8"))

    def artifact(self, into: Path) -> Path:
        """The synth artifact as `make synth` writes it from this app: the assembly copied into `into`,
        its assets staged inside it, and the pipeline tools copied in.

        These tests skip bundling, so the asset manifests name the function's source directory by its
        absolute path and key it by a placeholder hash; `cdk synth` stages each asset into the assembly
        (`asset.<id>`, which a stage's manifest names `../asset.<id>`) keyed by the bundle's
        fingerprint, which is what PipelineChangeGate accepts. The staged copy is keyed so here, by
        aws-cdk-lib's own FileSystem.fingerprint."""
        shutil.copytree(self.outdir, into)
        rekeyed: dict[str, str] = {}
        for manifest_path in into.rglob("*.assets.json"):
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            for asset_id, entry in manifest.get("files", {}).items():
                source = Path(entry["source"].get("path", ""))
                if not source.is_absolute():
                    continue
                staged = into / f"asset.{asset_id}"
                if not staged.exists():
                    shutil.copytree(source, staged, ignore=shutil.ignore_patterns("__pycache__"))
                    rekeyed[asset_id] = cdk.FileSystem.fingerprint(str(staged))
                entry["source"]["path"] = os.path.relpath(staged, manifest_path.parent)
            manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _rekey(into, rekeyed)
        (into / "pipeline-tools").mkdir(exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(REPO_ROOT / name, into / "pipeline-tools" / name)
        return into

    def role_statements(self, role_id: str) -> list[dict[str, Any]]:
        """Every statement of every AWS::IAM::Policy attached to the role `role_id`."""
        return [
            statement
            for policy in self.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def stage_template(self, stage_id: str) -> dict[str, Any]:
        """One stage's upload stack template, from its nested assembly (what the pipeline deploys)."""
        stage = self.stack.dev_stage if stage_id == "Dev" else self.stack.prod_stage
        return json.loads(
            (self.outdir / f"assembly-{PIPELINE_STACK_ID}-{stage_id}" / stage.stack.template_file).read_text(
                encoding="utf-8"
            )
        )


def synth_app(
    outdir: Path,
    *,
    pipeline: dict[str, Any] | None = None,
    stages: dict[str, dict[str, Any]] | None = None,
) -> SynthesizedApp:
    """main.build_app with cdk.json's context and overrides, synthesized in-process (nag errors raise)."""
    app = cdk.App(context=app_context(pipeline, stages), outdir=str(outdir))
    build_app(app)
    stack = app.node.find_child(PIPELINE_STACK_ID)
    assert isinstance(stack, UploadApiPipelineStack)
    app.synth()
    return SynthesizedApp(app, outdir, stack, assertions.Template.from_stack(stack))


def _rekey(assembly: Path, rekeyed: dict[str, str]) -> None:
    """Each staged asset under its fingerprint (`rekeyed`: placeholder -> fingerprint), in every
    manifest and template; then each template asset under its template's new SHA-256, as synth keys it."""
    for old, new in rekeyed.items():
        target = assembly / f"asset.{new}"
        if target.exists():
            shutil.rmtree(assembly / f"asset.{old}")
        else:
            (assembly / f"asset.{old}").rename(target)
        _replace_in_json(assembly, old, new)
    for manifest_path in assembly.rglob("*.assets.json"):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for asset_id, entry in manifest.get("files", {}).items():
            if entry["source"].get("path", "").endswith(".template.json"):
                template = manifest_path.parent / entry["source"]["path"]
                _replace_in_json(
                    manifest_path.parent, asset_id, hashlib.sha256(template.read_bytes()).hexdigest()
                )


def _replace_in_json(directory: Path, old: str, new: str) -> None:
    for path in directory.rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")
