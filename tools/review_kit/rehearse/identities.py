"""Who each action runs as, with IAM enforced: the pipeline stack's roles, as the services assume them.

The pipeline stack is deployed first by the operator (the person's one `cdk deploy` of
docs/bootstrap.md), so its roles exist with their real policies and boundary. Then:
- a CodeBuild action runs with the credentials CodeBuild gets for its project's service role;
- a CloudFormation action starts as the pipeline's role (CodePipeline's), which assumes the
  action's role (the stage's deploy role) through STS: that AssumeRole is authorized too;
- the rehearsal's own read-backs and the bootstrap stay the operator's (AdministratorAccess).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse import emulator, iam_enforcement
from tools.review_kit.rehearse.pipeline import Action, Pipeline

PIPELINE_STACK = "UploadApiPipeline"


def first_deploy(cdk_out: Path, env: Mapping[str, str], work: Path) -> dict[str, str]:
    """`cdk deploy` of the pipeline stack as the operator; its resources' physical ids by logical id."""
    import boto3

    cwd = work / "first-deploy"
    cwd.mkdir()
    # From a copy, as a person deploys from their own synth: the CLI writes into the assembly it
    # deploys (a zip cache of the assets, .cache/), and the pipeline's artifact must stay as synthesized.
    assembly = cwd / "cdk.out"
    shutil.copytree(cdk_out, assembly, symlinks=True)
    completed = subprocess.run(  # noqa: S603 - the pinned CLI, against the emulator only
        [
            str(REPO_ROOT / "node_modules" / ".bin" / "cdk"),
            "deploy",
            "--app",
            str(assembly.resolve()),
            PIPELINE_STACK,
            "--require-approval",
            "never",
            "--no-notices",
        ],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the operator's first deploy of {PIPELINE_STACK} failed: {completed.stderr[-2000:]}"
        )
    cloudformation = boto3.Session(region_name=emulator.REGION).client("cloudformation")
    listed = cloudformation.describe_stack_resources(StackName=PIPELINE_STACK)["StackResources"]
    return {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed if "LogicalResourceId" in r
    }


def _role_arn(physical: Mapping[str, str], logical_id: str) -> str:
    return f"arn:aws:iam::{emulator.ACCOUNT}:role/{physical[logical_id]}"


def codebuild_credentials(
    pipeline: Pipeline, physical: Mapping[str, str]
) -> Callable[[Action], dict[str, str]]:
    """For a CodeBuild action: the session CodeBuild gets for the project's ServiceRole."""

    def credentials(action: Action) -> dict[str, str]:
        project = pipeline.project(action)
        service_role = pipeline.template["Resources"][project.logical_id]["Properties"]["ServiceRole"]
        logical_id = service_role["Fn::GetAtt"][0]
        return iam_enforcement.service_session(
            _role_arn(physical, logical_id), "codebuild.amazonaws.com", project.logical_id[:64]
        )

    return credentials


def pipeline_session(pipeline: Pipeline, physical: Mapping[str, str]) -> Any:
    """CodePipeline's session for the pipeline's role (the one a CloudFormation action's role trusts)."""
    import boto3

    (logical_id,) = [
        r["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        for r in pipeline.template["Resources"].values()
        if r["Type"] == "AWS::CodePipeline::Pipeline"
    ]
    credentials = iam_enforcement.service_session(
        _role_arn(physical, logical_id), "codepipeline.amazonaws.com", "codepipeline"
    )
    return boto3.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        region_name=emulator.REGION,
    )
