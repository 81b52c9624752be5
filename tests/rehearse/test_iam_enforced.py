"""IAM enforced in the rehearsal (tools/review_kit/rehearse/iam_enforcement.py): each of these passes
only because calls are authorized against the caller's real policies.

The module's fixture is one emulated account as the rehearsal sets it up: the real `cdk bootstrap`,
then the operator's first deploy of the synthesized pipeline stack (its roles, policies, boundary).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.rehearse.conftest import codebuild_pipeline
from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse import actions, cli, emulator, iam_enforcement, identities, readback
from tools.review_kit.rehearse.pipeline import Environment, Pipeline

pytestmark = [
    pytest.mark.synth,  # the module's account deploys the synthesized pipeline stack
    pytest.mark.skipif(
        not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="NO CDK CLI: make install first"
    ),
]
CODEBUILD_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
OLD_POLICY_SID = "PublishAssetsChecksTheBootstrapVersionAsTheDeployRole"  # stages/pipeline/patches


@pytest.fixture(scope="module")
def account(pipeline_app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Bootstrapped, the pipeline stack deployed by the operator; IAM enforced from the first call."""
    # The synth artifact as `make synth` writes it: assets staged, the pipeline tools added.
    cdk_out = pipeline_app.artifact(tmp_path_factory.mktemp("artifact") / "cdk.out")
    saved = dict(os.environ)
    emu = emulator.start()
    try:
        work = tmp_path_factory.mktemp("iam-work")
        env = {**os.environ, **emulator.client_environment(emu.endpoint)}
        env["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
        cli.bootstrap(env, work)
        physical = identities.first_deploy(cdk_out, env, work)
        yield {"emulator": emu, "cdk_out": cdk_out, "physical": physical, "work": work}
    finally:
        emu.stop()
        os.environ.clear()
        os.environ.update(saved)


def _run(account: dict[str, Any], template: dict[str, Any] | None = None, **fields: Any) -> actions.Run:
    env = Environment(emulator.ACCOUNT, emulator.REGION)
    pipeline = (
        Pipeline.from_template(template, env, {}) if template else Pipeline.load(account["cdk_out"], env)
    )
    work = account["work"] / f"run-{len(list(account['work'].iterdir()))}"
    run = actions.Run(
        pipeline=pipeline,
        work=work,
        emulator_env=emulator.client_environment(account["emulator"].endpoint),
        session=boto3.Session(region_name=emulator.REGION),
        **fields,
    )
    return run


def test_the_rehearsal_reports_enforcement_only_when_the_server_refuses(account):
    # GIVEN the rehearsal's emulator WHEN it started THEN it probed the server refusing a key it never
    # issued and a caller with no policy: iamEnforced is what summary.json says
    assert account["emulator"].iam_enforced is True
    iam_enforcement.switch_off()
    try:
        # AND with enforcement off the same probe says so
        assert iam_enforcement.is_on(account["emulator"].endpoint) is False
    finally:
        iam_enforcement.switch_on(emulator.ACCOUNT)


def test_summary_json_says_iam_enforced_and_lists_what_is_not(account, tmp_path):
    enforced = account["emulator"].iam_enforced
    cli.write_reports([], tmp_path, emulator.PROFILES["mature"], iam_enforced=enforced)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["iamEnforced"] is True
    assert any("iam:PassRole" in item for item in summary["notEnforced"])
    assert any("CloudFormation acting as the execution role" in item for item in summary["notEnforced"])
    cli.write_reports([], tmp_path, emulator.PROFILES["mature"], iam_enforced=False)
    off = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert off["iamEnforced"] is False


def test_each_bootstrap_of_the_shared_account_has_its_own_stack_and_policies(account):
    # GIVEN the emulated account, one account for the pipeline and both stages (docs/bootstrap.md)
    cloudformation, iam = boto3.client("cloudformation"), boto3.client("iam")
    for stack_name, qualifier, suffix in (
        ("CDKToolkit", "hnb659fds", ""),
        ("CDKToolkit-uploaddev", "uploaddev", "-Dev"),
        ("CDKToolkit-uploadprod", "uploadprod", "-Prod"),
    ):
        # WHEN each bootstrap's stack and execution role are read back
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
        role = f"cdk-{qualifier}-cfn-exec-role-{emulator.ACCOUNT}-{emulator.REGION}"
        attached = {
            p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        }
        boundary = iam.get_role(RoleName=role)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"]
        # THEN each has its qualifier, its own set's execution policies and its own boundary
        assert parameters["Qualifier"] == qualifier
        assert attached == {
            f"UploadApiCfnExecution{suffix}",
            f"UploadApiCfnExecutionResources{suffix}",
            f"UploadApiCfnExecutionScanning{suffix}",
        }
        assert boundary.endswith(f":policy/UploadApiPermissionsBoundary{suffix}")
        # AND its deploy, publishing and lookup roles carry its set's bootstrap roles' boundary, as
        # generated (so the rehearsal evaluates every call they make within it)
        ceiling = f"UploadApiPermissionsBoundary{suffix}-BootstrapRoles"
        set_name = suffix.lstrip("-").lower() or "pipeline"
        generated = REPO_ROOT / "bootstrap" / "generated" / set_name / "bootstrap-roles-boundary.json"
        arn = f"arn:aws:iam::{emulator.ACCOUNT}:policy/{ceiling}"
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        assert iam_enforcement._document(document) == json.loads(generated.read_text(encoding="utf-8"))
        for kind in ("deploy", "file-publishing", "image-publishing", "lookup"):
            bootstrap_role = f"cdk-{qualifier}-{kind}-role-{emulator.ACCOUNT}-{emulator.REGION}"
            carried = iam.get_role(RoleName=bootstrap_role)["Role"]["PermissionsBoundary"]
            assert carried["PermissionsBoundaryArn"] == arn, bootstrap_role


def test_the_account_is_bootstrapped_from_the_committed_template(account):
    # GIVEN the emulated account bootstrapped as the rehearsal does (docs/bootstrap.md's template)
    from tools.dev import bootstrap_template

    committed = json.loads(bootstrap_template.TEMPLATE_PATH.read_text(encoding="utf-8"))
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName="CDKToolkit")["Stacks"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
    # WHEN its variant and the deploy role's trust are read back
    iam = boto3.client("iam")
    role = f"cdk-hnb659fds-deploy-role-{emulator.ACCOUNT}-{emulator.REGION}"
    deployed = iam_enforcement._without_no_value(
        iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    )
    # THEN they are the committed template's, which the rehearsal's IAM enforcement then evaluates
    assert parameters["BootstrapVariant"] == bootstrap_template.VARIANT
    expected = bootstrap_template.trust_policy(
        committed, "DeploymentActionRole", bootstrap_template.Bootstrap(account=emulator.ACCOUNT)
    )
    assert deployed["Statement"] == expected["Statement"]


def test_the_synthesized_pipeline_stack_reads_back_as_deployed(account):
    # GIVEN the operator's first deploy of the synthesized pipeline stack
    template = json.loads((account["cdk_out"] / f"{identities.PIPELINE_STACK}.template.json").read_text())
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    stages = pipeline["Properties"]["Stages"]
    projects = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"]
    # WHEN it is read back as SelfMutate reads it (the operator's session)
    session = boto3.Session(region_name=emulator.REGION)
    result = readback.read_back(session, identities.PIPELINE_STACK, template)
    # THEN every stage, action and buildspec is the synthesized one, and each resource is counted
    assert result.problems == []
    assert (result.stages, result.buildspecs) == (len(stages), len(projects))
    assert result.actions == sum(len(stage["Actions"]) for stage in stages)
    summary = result.check.fidelity.as_summary()
    assert summary["total"] == len(template["Resources"])
    assert not any(line.startswith("AWS::CodeBuild::Project") for line in summary["propertiesLost"])


def test_assets_with_the_old_file_role_policy_fails_on_the_deploy_roles_assume(account):
    # GIVEN the asset-publishing role's policy as CDK Pipelines generates it (without the statement
    # stages/pipeline/patches/asset_publishing.py adds: assume the deploy role for the version check)
    iam = boto3.client("iam")
    role = account["physical"]["PipelineAssetsFileRole59943A77"]
    (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    synthesized = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    old = {
        **synthesized,
        "Statement": [s for s in synthesized["Statement"] if s.get("Sid") != OLD_POLICY_SID],
    }
    assert len(old["Statement"]) == len(synthesized["Statement"]) - 1
    iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(old))
    try:
        run = _run(account)
        run.credentials = identities.codebuild_credentials(run.pipeline, account["physical"])
        # WHEN the Assets action runs (`cdk publish-assets`, as the role)
        rows = _rehearse_to(run, "Assets", account["cdk_out"])
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(synthesized))
    # THEN it fails, and the table names IAM's refusal of the deploy role's AssumeRole
    row = rows[-1]
    assert row["result"] == "fail"
    assert "IAM denied" in row["note"]
    # (each stage's own bootstrap: dev's deploy role, cdk.json's bootstrapQualifier)
    assert "sts:AssumeRole arn:aws:iam::123456789012:role/cdk-uploaddev-deploy-role-" in row["note"]


def test_assets_with_the_synthesized_policy_passes(account):
    # GIVEN the role as synthesized WHEN the Assets action runs THEN it publishes: the policy suffices
    run = _run(account)
    run.credentials = identities.codebuild_credentials(run.pipeline, account["physical"])
    row = _rehearse_to(run, "Assets", account["cdk_out"])[-1]
    assert row["result"] == "pass", row["note"]
    assert "IAM denied" not in row["note"]


def test_a_build_role_with_no_permission_fails_its_action_with_access_denied(account, monkeypatch):
    # GIVEN a CodeBuild project whose role has no policy, and a build that lists the account's buckets
    monkeypatch.setitem(actions.PROVIDERS, "CodeCommit", lambda run, action: actions.Outcome("pass"))
    arn = boto3.client("iam").create_role(
        RoleName="NoPermissionBuildRole", AssumeRolePolicyDocument=json.dumps(CODEBUILD_TRUST)
    )["Role"]["Arn"]
    spec = {
        "version": "0.2",
        "phases": {
            "install": {"runtime-versions": {"python": "3.13"}},
            "build": {"commands": ["python -c \"import boto3; boto3.client('s3').list_buckets()\""]},
        },
    }
    run = _run(account, _after_a_synth(spec, stage="Check", name="ListBuckets"))
    run.artifacts["Source"] = _empty_dir(run.work / "source")
    run.credentials = lambda action: iam_enforcement.service_session(arn, "codebuild.amazonaws.com", "nobody")
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the action fails, and its row names the call IAM denied and the role that made it
    row = rows[-1]
    assert row["result"] == "fail"
    assert "IAM denied 1: arn:aws:sts::123456789012:assumed-role/NoPermissionBuildRole/nobody" in row["note"]
    assert "s3:ListAllMyBuckets" in row["note"]


def _rehearse_to(run: actions.Run, stage: str, cdk_out: Path) -> list[dict[str, Any]]:
    """Source, Synth (handed `cdk_out`, as --reuse-synth), PipelineChangeGate (whose digest of the
    artifact the later builds check) and the actions of `stage`."""
    source, synth = run.pipeline.actions[:2]
    stages = ("PipelineChangeGate", stage)
    run.pipeline.actions = [source, synth, *(a for a in run.pipeline.actions if a.stage in stages)]
    return cli.run_actions(run, reused_synth=cdk_out)


def _after_a_synth(spec: dict[str, Any], *, stage: str, name: str) -> dict[str, Any]:
    """Source, a synth that does nothing, then one CodeBuild action running `spec` (not a synth: it
    gets the emulator's endpoint)."""
    template = codebuild_pipeline({"version": "0.2", "phases": {"build": {"commands": ["true"]}}})
    resources = template["Resources"]
    resources["Checked"] = json.loads(json.dumps(resources["Project"]))
    resources["Checked"]["Properties"]["Source"]["BuildSpec"] = json.dumps(spec)
    resources["Pipeline"]["Properties"]["Stages"].append(
        {
            "Name": stage,
            "Actions": [
                {
                    "Name": name,
                    "ActionTypeId": {"Provider": "CodeBuild"},
                    "Configuration": {"ProjectName": {"Ref": "Checked"}},
                    "InputArtifacts": [{"Name": "Source"}],
                }
            ],
        }
    )
    return template


def _empty_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
