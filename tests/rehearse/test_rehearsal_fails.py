"""A rehearsal that cannot fail is worthless: each way the real pipeline would fail, named by action."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.rehearse.conftest import codebuild_pipeline
from tools.review_kit.rehearse import actions, cli, deploy, emulator

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def preset_source(monkeypatch):
    """The source action hands on the synthetic artifact the test laid out (no git archive)."""
    monkeypatch.setitem(actions.PROVIDERS, "CodeCommit", lambda run, action: actions.Outcome("pass"))


def _row(rows: list[dict[str, Any]], stage: str) -> dict[str, Any]:
    (row,) = [r for r in rows if r["stage"] == stage]
    return row


def test_a_buildspec_command_that_exits_non_zero_fails_its_action(make_run):
    # GIVEN a build whose second command fails
    spec = {"version": "0.2", "phases": {"build": {"commands": ["true", "exit 3", "echo never"]}}}
    run = make_run(codebuild_pipeline(spec))
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN that action fails, naming the phase and the command; the third never runs
    row = _row(rows, "Build")
    assert (row["action"], row["result"]) == ("Synth", "fail")
    assert "build: exit 3 (exit 3)" in row["note"]
    assert [c["command"] for c in row["commands"]] == ["true", "exit 3"]


def test_a_runtime_version_the_image_lacks_fails_before_any_command(make_run):
    # GIVEN a build that asks standard:7.0 for Python 3.9
    spec = {
        "version": "0.2",
        "phases": {"install": {"runtime-versions": {"python": "3.9"}}, "build": {"commands": ["true"]}},
    }
    run = make_run(codebuild_pipeline(spec))
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the action fails naming the runtime and what the image has; nothing ran
    row = _row(rows, "Build")
    assert row["result"] == "fail"
    assert (
        "runtime-versions python: 3.9 is not in aws/codebuild/standard:7.0 (it has python 3.13)"
        in row["note"]
    )
    assert "commands" not in row


def test_a_node_tool_on_the_images_default_node_fails(make_run):
    # GIVEN a generated project that runs the CDK CLI and names no Node (the image's default is 18)
    spec = {"version": "0.2", "phases": {"build": {"commands": ["npx cdk --version"]}}}
    run = make_run(codebuild_pipeline(spec, stage="UpdatePipeline", name="SelfMutate"))
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the action fails: package.json pins Node >= 22
    row = _row(rows, "UpdatePipeline")
    assert row["result"] == "fail"
    assert "runs on Node 18 (the image's default: no runtime-versions nodejs)" in row["note"]


@pytest.mark.skipif(
    shutil.which("npm") is None, reason="NO NPM: cannot install cdk-assets to prove the mismatch"
)
def test_cdk_assets_that_cannot_read_the_assembly_schema_fails_the_assets_action(make_run):
    # GIVEN the asset publishing buildspec CDK Pipelines generated before the fix (cdk-assets 4.7.3,
    # the newest on npm, installed globally) and an asset manifest of schema 55 (aws-cdk-lib 2.275)
    manifest = {"version": "55.0.0", "files": {}, "dockerImages": {}}
    spec = {
        "version": "0.2",
        "phases": {
            "install": {
                "runtime-versions": {"nodejs": "22"},
                "commands": ["npm install -g cdk-assets@4.7.3"],
            },
            "build": {
                "commands": ['cdk-assets --path "Stack.assets.json" --verbose publish "x:current_account"']
            },
        },
    }
    run = make_run(
        codebuild_pipeline(spec, stage="Assets", name="FileAssets"),
        {"Stack.assets.json": json.dumps(manifest)},
    )
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the Assets action fails with cdk-assets' own schema error
    row = _row(rows, "Assets")
    assert row["result"] == "fail"
    assert "Maximum schema version supported is 54.x.x, but found 55.0.0" in row["note"]


# -- deploy actions -------------------------------------------------------------------------------

EXEC_ROLE = "cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"  # pragma: allowlist secret - a role name
DEPLOY_ROLE = "cdk-hnb659fds-deploy-role-123456789012-us-east-1"  # pragma: allowlist secret - a role name
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def deploy_pipeline(template_path: str) -> dict[str, Any]:
    """A pipeline template: source, then Prepare (change set) and Deploy (execute) of one stack."""
    role = f"arn:aws:iam::123456789012:role/{DEPLOY_ROLE}"
    exec_role = f"arn:aws:iam::123456789012:role/{EXEC_ROLE}"
    template = codebuild_pipeline({"version": "0.2"})
    stages = template["Resources"]["Pipeline"]["Properties"]["Stages"]
    stages[1] = {
        "Name": "Dev",
        "Actions": [
            {
                "Name": "UploadApi.Prepare",
                "ActionTypeId": {"Provider": "CloudFormation"},
                "RunOrder": 1,
                "RoleArn": role,
                "Configuration": {
                    "StackName": "Dev-UploadApi",
                    "ActionMode": "CHANGE_SET_REPLACE",
                    "ChangeSetName": "PipelineChange",
                    "RoleArn": exec_role,
                    "Capabilities": "CAPABILITY_NAMED_IAM",
                    "TemplatePath": f"Source::{template_path}",
                },
            },
            {
                "Name": "UploadApi.Deploy",
                "ActionTypeId": {"Provider": "CloudFormation"},
                "RunOrder": 2,
                "RoleArn": role,
                "Configuration": {
                    "StackName": "Dev-UploadApi",
                    "ActionMode": "CHANGE_SET_EXECUTE",
                    "ChangeSetName": "PipelineChange",
                },
            },
        ],
    }
    return template


@pytest.fixture
def emulated_account(monkeypatch):
    """moto in-process, with the emulator's models, the two bootstrap roles and an execution policy."""
    for key, value in emulator.client_environment("unused").items():
        if key != "AWS_ENDPOINT_URL" and key != "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION":
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        emulator.install_emulated_types()
        emulator.patch_moto()
        session = boto3.Session(region_name=emulator.REGION)
        iam = session.client("iam")
        for name in (EXEC_ROLE, DEPLOY_ROLE):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
        session.client("s3").create_bucket(Bucket="cdk-hnb659fds-assets-123456789012-us-east-1")

        def attach_execution_policy(document: dict[str, Any]) -> None:
            arn = iam.create_policy(PolicyName="Execution", PolicyDocument=json.dumps(document))["Policy"][
                "Arn"
            ]
            iam.attach_role_policy(RoleName=EXEC_ROLE, PolicyArn=arn)

        yield session, attach_execution_policy


CODEDEPLOY_TEMPLATE = {
    "Resources": {
        "App": {"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}}
    }
}


def test_an_execution_policy_without_codedeploy_fails_the_prepare_action(make_run, emulated_account):
    # GIVEN a stage template with a CodeDeploy application and an execution policy that grants
    # everything the project's does except CodeDeploy
    from tools.review_kit.iam.coverage import missing_permissions

    session, attach = emulated_account
    statements = [
        statement
        for name in ("cfn-execution-policy.json", "cfn-execution-resources-policy.json")
        for statement in json.loads((REPO_ROOT / "bootstrap" / name).read_text(encoding="utf-8"))["Statement"]
    ]
    policy = {"Version": "2012-10-17", "Statement": statements}
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            listed = statement.get("Action", [])
            statement["Action"] = [
                a
                for a in ([listed] if isinstance(listed, str) else listed)
                if not a.startswith("codedeploy:")
            ] or ["s3:GetObject"]
    attach(policy)
    run = make_run(
        deploy_pipeline("stage.template.json"),
        {"stage.template.json": json.dumps(CODEDEPLOY_TEMPLATE)},
        coverage=missing_permissions,
        session=session,
    )
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN Prepare fails naming the type and the CodeDeploy actions the policy lacks; Deploy never runs
    prepare, deploy_row = (r for r in rows if r["stage"] == "Dev")
    assert (prepare["action"], prepare["result"]) == ("UploadApi.Prepare", "fail")
    assert "AWS::CodeDeploy::Application: codedeploy:" in prepare["note"]
    assert "codedeploy:CreateApplication" in prepare["note"]
    assert deploy_row["result"] == "not run"


def test_a_resource_the_emulator_skips_fails_the_deploy_action(make_run, emulated_account):
    # GIVEN a stage template with a queue and a type moto's CloudFormation skips without an error
    # (and the rehearsal does not model), and a policy the coverage check passes
    session, attach = emulated_account
    attach({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    skipped_type = "AWS::Scheduler::Schedule"
    assert skipped_type not in emulator.EMULATED_TYPES
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Nightly": {"Type": skipped_type, "Properties": {"ScheduleExpression": "rate(1 day)"}},
        }
    }
    run = make_run(
        deploy_pipeline("stage.template.json"),
        {"stage.template.json": json.dumps(template)},
        coverage=lambda *args, **kwargs: [],
        session=session,
    )
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the stack "completes" in moto, but Deploy fails naming the skipped resource
    _, deploy_row = (r for r in rows if r["stage"] == "Dev")
    assert (deploy_row["action"], deploy_row["result"]) == ("UploadApi.Deploy", "fail")
    assert (
        f"{skipped_type} Nightly: not in the stack's resources (skipped by the emulator)"
        in deploy_row["note"]
    )


def test_a_type_without_a_read_back_check_is_never_counted_deployed(emulated_account):
    # GIVEN a stack whose one resource moto creates but the rehearsal has no read-back for
    session, _ = emulated_account
    template = {
        "Resources": {
            "Param": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "p", "Type": "String", "Value": "x"},
            }
        }
    }
    assert "AWS::SSM::Parameter" not in deploy.CHECKERS
    session.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(template))
    # WHEN the stack's resources are checked
    check = deploy.check_stack(session, "S", template)
    # THEN it is missing, not deployed
    assert check.deployed == []
    assert check.missing == [
        "AWS::SSM::Parameter Param: no read-back check for this type in tools/review_kit/rehearse/deploy.py"
    ]


QUERY_TEMPLATE = {
    "Resources": {
        "Query": {
            "Type": "AWS::Logs::QueryDefinition",
            "Properties": {"Name": "q", "QueryString": "fields @timestamp"},
        }
    }
}


def test_emulated_types_are_listed_as_emulated_not_deployed(emulated_account):
    # GIVEN a stack with a type no moto service holds, which the emulator models (a Logs query definition)
    session, _ = emulated_account
    session.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(QUERY_TEMPLATE))
    # WHEN the stack's resources are checked
    check = deploy.check_stack(session, "S", QUERY_TEMPLATE)
    # THEN it is reported as emulated, never as deployed
    assert check.emulated == ["AWS::Logs::QueryDefinition Query"]
    assert check.deployed == []
    assert check.missing == []


def test_a_variable_one_command_assigns_reaches_the_programs_of_the_next(make_run):
    # GIVEN a build that assigns a shell variable, then reads it from a child process, as CDK
    # Pipelines' permission check does (`ARN=$CODEBUILD_BUILD_ARN`, then `node -pe process.env.ARN`);
    # the first rehearsal kept only exported variables between commands and failed that check
    spec = {
        "version": "0.2",
        "phases": {"build": {"commands": ["ARN=$CODEBUILD_BUILD_ARN", "sh -c 'test -n \"$ARN\"'"]}},
    }
    run = make_run(codebuild_pipeline(spec))
    # WHEN the pipeline is rehearsed
    rows = cli.run_actions(run)
    # THEN the build passes: buildspec 0.2 runs a phase in one shell, and the variable is the child's
    assert _row(rows, "Build")["result"] == "pass"


def test_a_builds_exported_variables_are_kept_in_its_namespace(make_run):
    # GIVEN a build exporting MESSAGE with spaces, as CDK Pipelines' permission check does, and LINK unset
    spec = {
        "version": "0.2",
        "env": {"exported-variables": ["MESSAGE", "LINK"]},
        "phases": {"build": {"commands": ['export MESSAGE="No security-impacting changes detected."']}},
    }
    template = codebuild_pipeline(spec)
    (action,) = template["Resources"]["Pipeline"]["Properties"]["Stages"][1]["Actions"]
    action["Namespace"] = "checkns"
    run = make_run(template)
    # WHEN the pipeline is rehearsed THEN CodePipeline's #{checkns.MESSAGE} resolves to what it exported
    assert _row(cli.run_actions(run), "Build")["result"] == "pass"
    assert run.variables["checkns"] == {"MESSAGE": "No security-impacting changes detected.", "LINK": ""}


def test_a_relative_cdk_out_handed_on_by_reuse_synth_is_made_absolute(make_run, tmp_path, monkeypatch):
    # GIVEN --reuse-synth with a relative cdk.out (make's default), as seen from the repository
    (tmp_path / "cdk.out").mkdir()
    monkeypatch.chdir(tmp_path)
    template = codebuild_pipeline({"version": "0.2"})
    (action,) = template["Resources"]["Pipeline"]["Properties"]["Stages"][1]["Actions"]
    action["OutputArtifacts"] = [{"Name": "Synth_Output"}, {"Name": "Reports"}]
    run = make_run(template)
    synth = next(a for a in run.pipeline.actions if a.name == "Synth")
    # WHEN the Synth handler hands it on
    cli._reused_synth(Path("cdk.out"))(run, synth)
    # THEN later actions, which run in other directories, get absolute paths
    assert run.artifacts["Synth_Output"] == tmp_path / "cdk.out"
    assert run.artifacts["Reports"] == tmp_path / "reports"
