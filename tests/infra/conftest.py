"""Build the upload stage in-process the way `cdk synth` does, with cdk.json's context.

A bare `cdk.App()` would ignore cdk.json, so its feature flags (and our `uploadApi`
settings) would not apply and the template under test would not be the one deployed.
Bundling is skipped (`aws:cdk:bundling-stacks: []`) so no test here runs pip unless it
asks for it; the asset hash is then still the source hash of lambda/ (tests/infra/test_asset_hash.py).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload_stage import UploadApiStage
from tools.template_resources import REPO_ROOT, cdk_context

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
        (function_id,) = self.of_type("AWS::Lambda::Function")
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
