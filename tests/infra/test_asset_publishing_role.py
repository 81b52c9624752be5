"""The asset-publishing role may do what `cdk publish-assets` calls (stages/pipeline/asset_publishing.py).

The locked CLI checks each stage environment's bootstrap version as the stage's deploy role before it
publishes through the file-publishing role; the role may assume exactly those roles and no other.
"""

from __future__ import annotations

import json

import pytest

from stages.pipeline.patches.node_tools import PIPELINE_NPM_CI

from .conftest import SynthesizedApp, as_text

pytestmark = pytest.mark.synth

EXPLICIT_ENVS = {
    "pipeline": {"account": "333333333333", "region": "eu-west-1"},
    "stages": {
        "dev": {"account": "111111111111", "region": "eu-west-1"},
        "prod": {"account": "222222222222", "region": "eu-west-1"},
    },
}


def _file_role_assumes(app: SynthesizedApp) -> set[str]:
    (role_id,) = [k for k in app.of_type("AWS::IAM::Role") if k.startswith("PipelineAssetsFileRole")]
    return {
        resource["Fn::Sub"] if isinstance(resource, dict) and "Fn::Sub" in resource else as_text(resource)
        for statement in app.role_statements(role_id)
        if statement["Effect"] == "Allow" and "sts:AssumeRole" in json.dumps(statement["Action"])
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    }


def test_the_asset_role_may_assume_each_stage_accounts_deploy_and_file_publishing_roles(synth_pipeline):
    # GIVEN dev and prod in accounts of their own
    app = synth_pipeline(pipeline=EXPLICIT_ENVS["pipeline"], stages=EXPLICIT_ENVS["stages"])
    # WHEN the roles the asset-publishing role may assume are listed
    assumes = _file_role_assumes(app)
    # THEN they are each stage account's deploy role (the CLI's bootstrap-version check) and its
    # file-publishing role (the upload), nothing else
    deploy = {
        f"arn:<AWS::Partition>:iam::{account}:role/cdk-{qualifier}-deploy-role-{account}-eu-west-1"
        for account, qualifier in (("111111111111", "uploaddev"), ("222222222222", "uploadprod"))
    }
    assert deploy <= assumes
    assert all("deploy-role" in arn or "file-publishing-role" in arn for arn in assumes), assumes
    assert not any("*" in arn for arn in assumes)


def test_pipeline_builds_install_their_tools_without_lifecycle_scripts(pipeline_app):
    # GIVEN every CodeBuild project's buildspec in the pipeline stack
    commands = [
        command
        for project_id in pipeline_app.of_type("AWS::CodeBuild::Project")
        for phase in pipeline_app.buildspec(project_id).get("phases", {}).values()
        for command in phase.get("commands", [])
    ]
    # THEN every npm install of the pipeline's tools runs no package's install scripts
    installs = [c for c in commands if c.startswith("npm ")]
    assert installs
    assert all("--ignore-scripts" in c for c in installs), installs
    assert "--ignore-scripts" in PIPELINE_NPM_CI
