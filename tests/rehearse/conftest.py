"""Small synthetic pipelines for the rehearsal's own tests: one action under test, fast."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from tools.review_kit.rehearse import actions, approvals, emulator
from tools.review_kit.rehearse.pipeline import Environment, Pipeline

ENV = Environment("123456789012", "us-east-1")
# The approvers a pipeline names in the approval tests, and an insider who is not one of them.
RELEASE_MANAGERS = f"arn:aws:iam::{ENV.account}:role/ReleaseManagers"
INSIDER = f"arn:aws:sts::{ENV.account}:assumed-role/Developer/mallory"


def codebuild_pipeline(spec: dict[str, Any], *, stage: str = "Build", name: str = "Synth") -> dict[str, Any]:
    """A pipeline template: a source action, then one CodeBuild action running `spec`."""
    return {
        "Resources": {
            "Project": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Environment": {
                        "ComputeType": "BUILD_GENERAL1_SMALL",
                        "Image": "aws/codebuild/standard:7.0",
                    },
                    "Source": {"BuildSpec": json.dumps(spec), "Type": "CODEPIPELINE"},
                },
            },
            "Pipeline": {
                "Type": "AWS::CodePipeline::Pipeline",
                "Properties": {
                    "Stages": [
                        {
                            "Name": "Source",
                            "Actions": [
                                {
                                    "Name": "Checkout",
                                    "ActionTypeId": {"Provider": "CodeCommit"},
                                    "OutputArtifacts": [{"Name": "Source"}],
                                }
                            ],
                        },
                        {
                            "Name": stage,
                            "Actions": [
                                {
                                    "Name": name,
                                    "ActionTypeId": {"Provider": "CodeBuild"},
                                    "Configuration": {"ProjectName": {"Ref": "Project"}},
                                    "InputArtifacts": [{"Name": "Source"}],
                                }
                            ],
                        },
                    ]
                },
            },
        }
    }


@pytest.fixture
def make_run(tmp_path: Path):
    """A Run over a synthetic template whose Source artifact is `files` (no git, no emulator)."""

    def make(template: dict[str, Any], files: dict[str, str] | None = None, **fields: Any) -> actions.Run:
        source = tmp_path / "source"
        source.mkdir()
        for relative, text in (files or {}).items():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            (source / relative).write_text(text, encoding="utf-8")
        run = actions.Run(
            pipeline=Pipeline.from_template(template, ENV, {}),
            work=tmp_path / "work",
            emulator_env={},
            **fields,
        )
        run.artifacts["Source"] = source
        return run

    return make


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch):
    """An emulated account as the rehearsal sets it up (its types and moto patches), in process."""
    for key, value in emulator.client_environment("unused").items():
        if not key.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        emulator.install_emulated_types()
        emulator.patch_moto()
        yield boto3.Session(region_name=emulator.REGION)


@pytest.fixture
def loopback_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, str]]]:
    """An emulated account on loopback (as the rehearsal's, IAM not enforced), its approvals emulated:
    a boto3 session for the scenario and the environment an AWS CLI reaches it with (the checks the
    deployed pipeline inlines call the AWS CLI: test_approvals.py, test_judged_change_set.py)."""
    emulator.install_emulated_types()
    emulator.patch_moto()
    approvals.install()
    approvals.clear()
    server = ThreadedMotoServer(ip_address=emulator.HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state is per process, not per server: start from an empty account
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    cli_env = {
        **emulator.FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": emulator.REGION,
        "AWS_DEFAULT_REGION": emulator.REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield boto3.Session(region_name=emulator.REGION), cli_env
    finally:
        server.stop()
        approvals.clear()


@pytest.fixture(scope="module")
def approver_app(synth_pipeline: Any) -> Any:
    """The pipeline synthesized with approvers named (RELEASE_MANAGERS)."""
    return synth_pipeline(pipeline={"approvers": [RELEASE_MANAGERS]})
