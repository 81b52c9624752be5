"""The pipeline stack: source, synth, self-mutation, assets, Dev (+verify), approval, Prod (+verify).

Built by main.build_app with cdk.json's context (bundling skipped), as `cdk synth` builds it;
the variants (approverEmails, a CodeCommit source, explicit accounts) change one setting each.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk.assertions import Match

import stages.pipeline.stack
from stages.pipeline.patches.artifact_digest import check_command
from stages.pipeline.patches.node_tools import PIPELINE_CDK, PIPELINE_TOOLS
from stages.pipeline.settings import pinned_cdk_cli_version
from stages.pipeline.stack import NON_DEPLOY_PATHS, load_buildspec
from stages.upload_stage import UploadApiStage
from tests.repo import REPO_ROOT
from tools.review_kit.rehearse.codebuild import phase_commands

from .conftest import SynthesizedApp, as_text, cdk_context, synth_app

pytestmark = pytest.mark.synth

STAGE_ORDER = ["Source", "Build", "PipelineChangeGate", "UpdatePipeline", "Assets", "Dev", "Prod"]
STAGE_IDS = ["Dev", "Prod"]
APPROVERS = ["release-manager@example.com", "security@example.org"]
EXPLICIT_ENVS = {
    "pipeline": {"account": "333333333333", "region": "eu-west-1"},
    "stages": {
        "dev": {"account": "111111111111", "region": "eu-west-1"},
        "prod": {"account": "222222222222", "region": "eu-west-1"},
    },
}
CODECOMMIT = {
    "source": {"provider": "codecommit", "repository": "secure-upload-api", "branch": "main"},
    "sharedAccountReason": "a test of one account for both stages",
    "approvers": ["arn:aws:iam::111111111111:role/ReleaseApprover"],
}
# The CodeBuild report actions CDK grants a project on its own report groups.
REPORT_ACTIONS = {
    "codebuild:BatchPutCodeCoverages",
    "codebuild:BatchPutTestCases",
    "codebuild:CreateReport",
    "codebuild:CreateReportGroup",
    "codebuild:UpdateReport",
}
# What the pipeline grants a verifier on its own report group (stages/pipeline/stack.py).
VERIFIER_REPORT_ACTIONS = {
    "codebuild:BatchPutCodeCoverages",
    "codebuild:BatchPutTestCases",
    "codebuild:CreateReport",
    "codebuild:UpdateReport",
}
BUILDSPEC = load_buildspec()
S3_READ = {"s3:GetBucket*", "s3:GetObject*", "s3:List*"}
ARTIFACT_KEY_ACTIONS = {
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
}
PREFIX = "arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>"


# -- helpers -------------------------------------------------------------------------------------


def _deploy_actions(app: SynthesizedApp, stage_id: str) -> list[dict[str, Any]]:
    return [a for a in app.actions(stage_id) if a["ActionTypeId"]["Provider"] == "CloudFormation"]


def _execute_action(app: SynthesizedApp, stage_id: str) -> dict[str, Any]:
    (execute,) = [
        a for a in _deploy_actions(app, stage_id) if a["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
    ]
    return execute


def _verify_action(app: SynthesizedApp, stage_id: str) -> dict[str, Any]:
    (verify,) = [a for a in app.actions(stage_id) if a["Name"] == f"Verify{stage_id}"]
    return verify


def _action_environment(action: dict[str, Any]) -> dict[str, str]:
    """A CodeBuild action's EnvironmentVariables (a JSON string in the template) as name -> value."""
    variables = json.loads(action["Configuration"].get("EnvironmentVariables", "[]"))
    assert all(v["type"] == "PLAINTEXT" for v in variables)
    return {v["name"]: v["value"] for v in variables}


def _synth_project_id(app: SynthesizedApp) -> str:
    (synth,) = app.actions("Build")
    assert synth["Name"] == "Synth"
    return app.project_id(synth)


def _artifact_bucket_id(app: SynthesizedApp) -> str:
    return app.pipeline["ArtifactStore"]["Location"]["Ref"]


def _artifact_key_id(app: SynthesizedApp) -> str:
    return app.pipeline["ArtifactStore"]["EncryptionKey"]["Id"]["Fn::GetAtt"][0]


def _role_of_project(app: SynthesizedApp, project_id: str) -> str:
    return app.resources[project_id]["Properties"]["ServiceRole"]["Fn::GetAtt"][0]


def _statements(app: SynthesizedApp, role_id: str) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    """(effect, actions, resources as text) of every statement on the role; conditions must be absent."""
    found = set()
    for statement in app.role_statements(role_id):
        assert "Condition" not in statement, statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        found.add((statement["Effect"], frozenset(actions), frozenset(map(as_text, resources))))
    return found


def _glob(pattern: str) -> re.Pattern[str]:
    """CodePipeline's trigger glob (java.nio PathMatcher): `*` stays within a folder, `**` crosses folders."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
        elif pattern[i] == "*":
            regex += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            regex += "[^/]"
            i += 1
        else:
            regex += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{regex}$")


def _push_starts_the_pipeline(push_filter: dict[str, Any], branch: str, changed: list[str]) -> bool:
    """Whether a push of `changed` files to `branch` passes the trigger's push filter."""
    if branch not in push_filter["Branches"]["Includes"]:
        return False
    excludes = [_glob(p) for p in push_filter["FilePaths"]["Excludes"]]
    return any(not any(e.match(path) for e in excludes) for path in changed)


# -- stages and their order ----------------------------------------------------------------------


def test_the_stages_run_source_build_gate_update_assets_dev_prod(pipeline_app):
    # GIVEN the pipeline stack as cdk.json configures it
    # WHEN its pipeline's stages are read in order
    names = [stage["Name"] for stage in pipeline_app.pipeline["Stages"]]
    # THEN they are source, synth, the self-mutation gate, self-mutation, assets, dev, prod
    assert names == STAGE_ORDER


def test_the_prod_approval_runs_between_creating_and_executing_the_change_set(pipeline_app):
    # GIVEN the Prod stage's actions
    actions = pipeline_app.actions("Prod")
    (approval,) = [a for a in actions if a["Name"] == "UploadApi.PromoteToProd"]
    (prepare,) = [
        a
        for a in _deploy_actions(pipeline_app, "Prod")
        if a["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
    ]
    execute = _execute_action(pipeline_app, "Prod")
    # WHEN their run orders are compared
    # THEN the change set exists when the approver is asked, and runs only after the approval
    assert approval["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert prepare["RunOrder"] < approval["RunOrder"] < execute["RunOrder"]
    # AND the approver is told which change set to read
    assert "PipelineChange" in approval["Configuration"]["CustomData"]
    assert (
        "describe-change-set --stack-name Prod-UploadApi --change-set-name PipelineChange"
        in (approval["Configuration"]["CustomData"])
    )
    assert as_text(approval["Configuration"]["ExternalEntityLink"]).endswith(
        "#/stacks?filteringText=Prod-UploadApi"
    )


def test_the_approvals_are_the_permission_checks_and_the_prod_promotion(pipeline_app):
    # GIVEN every action of the pipeline
    approvals = [
        (stage["Name"], action["Name"])
        for stage in pipeline_app.pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Category"] == "Approval"
    ]
    # WHEN the approvals are listed
    # THEN a pipeline change waits for a person before self-mutation (auto-approved when the pipeline
    # template is as deployed), each stage has a permission-broadening confirmation (auto-approved when
    # nothing broadens), and Prod waits for a person on its change set
    assert approvals == [
        ("PipelineChangeGate", "PipelineChange.Confirm"),
        ("Dev", "DevPermissionsCheck.Confirm"),
        ("Prod", "ProdPermissionsCheck.Confirm"),
        ("Prod", "UploadApi.PromoteToProd"),
    ]


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_the_verifier_runs_after_the_stage_is_deployed(pipeline_app, stage_id):
    # GIVEN the stage's deploy actions (prepare and execute the change set) and its verifier
    deploys = _deploy_actions(pipeline_app, stage_id)
    verify = _verify_action(pipeline_app, stage_id)
    # WHEN their run orders are compared
    # THEN the verifier runs after the change set is executed
    assert {d["Configuration"]["ActionMode"] for d in deploys} == {"CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE"}
    assert verify["RunOrder"] > max(d["RunOrder"] for d in deploys)
    # AND it is the stage's last action
    assert verify["RunOrder"] == max(a["RunOrder"] for a in pipeline_app.actions(stage_id))


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_the_verifier_gets_the_deployed_stacks_outputs_in_its_environment(pipeline_app, stage_id):
    # GIVEN the stage's change-set-execute action, which exports the stack's outputs under its namespace
    namespace = _execute_action(pipeline_app, stage_id)["Namespace"]
    # WHEN the verifier action's environment is read
    environment = _action_environment(_verify_action(pipeline_app, stage_id))
    # THEN API_URL, UPLOAD_ENDPOINT and VERIFIER_ROLE_ARN are that action's output variables
    assert environment == {
        "API_URL": f"#{{{namespace}.ApiUrl}}",
        "UPLOAD_ENDPOINT": f"#{{{namespace}.UploadEndpoint}}",
        "VERIFIER_ROLE_ARN": f"#{{{namespace}.VerifierRoleArn}}",
    }


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_the_verifiers_variables_name_outputs_the_stages_stack_has(pipeline_app, stage_id):
    # GIVEN the verifier's environment and the upload stack template the stage deploys
    environment = _action_environment(_verify_action(pipeline_app, stage_id))
    outputs = pipeline_app.stage_template(stage_id)["Outputs"]
    # WHEN the output names are taken from the #{namespace.Output} variables
    names = {re.fullmatch(r"#\{[^.]+\.(\w+)\}", value).group(1) for value in environment.values()}
    # THEN each is an output of that stack (a renamed output would resolve to nothing at run time)
    assert names == {"ApiUrl", "UploadEndpoint", "VerifierRoleArn"}
    assert names <= set(outputs)


@pytest.mark.parametrize(("stage_id", "mode"), [("Dev", "dev"), ("Prod", "prod")])
def test_the_verifier_runs_make_verify_deployed_against_the_stages_stack(pipeline_app, stage_id, mode):
    # GIVEN the verifier's CodeBuild project
    project_id = pipeline_app.project_id(_verify_action(pipeline_app, stage_id))
    project = pipeline_app.resources[project_id]["Properties"]
    # WHEN its commands and environment are read
    commands = pipeline_app.buildspec(project_id)["phases"]["build"]["commands"]
    environment = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    # THEN it runs the deployed-stack checks for its mode, against the stack the stage deployed
    assert commands == [f"make verify-deployed MODE={mode}"]
    assert environment == {
        "STACK_NAME": _execute_action(pipeline_app, stage_id)["Configuration"]["StackName"]
    }


# -- what starts the pipeline --------------------------------------------------------------------


def test_the_pipeline_is_a_v2_pipeline(pipeline_app):
    # GIVEN the pipeline resource
    # WHEN its type is read
    # THEN it is V2 (triggers with filters exist only there)
    pipeline_app.template.has_resource_properties("AWS::CodePipeline::Pipeline", {"PipelineType": "V2"})


def test_the_push_trigger_filters_the_branch_and_excludes_non_deploy_paths(pipeline_app):
    # GIVEN the pipeline's source action and cdk.json's branch
    (source,) = pipeline_app.actions("Source")
    branch = cdk_context()["uploadApi"]["pipeline"]["source"]["branch"]
    # WHEN its triggers are read
    # THEN there is one push trigger on the source action: the branch included, docs-only paths excluded
    assert pipeline_app.pipeline["Triggers"] == [
        {
            "ProviderType": "CodeStarSourceConnection",
            "GitConfiguration": {
                "SourceActionName": source["Name"],
                "Push": [{"Branches": {"Includes": [branch]}, "FilePaths": {"Excludes": NON_DEPLOY_PATHS}}],
            },
        }
    ]


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(["README.md"], id="README"),
        pytest.param(["README.md", "docs/architecture.md", "lambda/README.md"], id="markdown anywhere"),
        pytest.param(["docs/diagram.png"], id="docs folder"),
        pytest.param(["LICENSE", ".gitignore"], id="repo files"),
    ],
)
def test_a_documentation_only_push_starts_nothing(pipeline_app, changed):
    # GIVEN the trigger's push filter
    (push_filter,) = pipeline_app.pipeline["Triggers"][0]["GitConfiguration"]["Push"]
    # WHEN only documentation changes on the deploy branch
    # THEN the filter lets no execution start
    assert not _push_starts_the_pipeline(push_filter, "main", changed)


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(["lambda/upload_api/handler.py"], id="handler"),
        pytest.param(["README.md", "stages/upload/stack.py"], id="README and infra"),
        pytest.param(["cdk.json"], id="settings"),
        pytest.param(["buildspec.yml"], id="buildspec"),
        pytest.param(["newdir/module.py"], id="a new code folder"),
    ],
)
def test_a_code_push_starts_the_pipeline(pipeline_app, changed):
    # GIVEN the trigger's push filter
    (push_filter,) = pipeline_app.pipeline["Triggers"][0]["GitConfiguration"]["Push"]
    # WHEN anything deployable changes on the deploy branch
    # THEN the pipeline starts
    assert _push_starts_the_pipeline(push_filter, "main", changed)


def test_a_push_to_another_branch_starts_nothing(pipeline_app):
    # GIVEN the trigger's push filter
    (push_filter,) = pipeline_app.pipeline["Triggers"][0]["GitConfiguration"]["Push"]
    # WHEN code changes on a feature branch
    # THEN the pipeline does not start
    assert not _push_starts_the_pipeline(push_filter, "feature/x", ["lambda/upload_api/handler.py"])


def test_a_codecommit_source_has_no_trigger_filters_and_starts_on_its_branch(synth_pipeline):
    # GIVEN the pipeline with a CodeCommit source (triggers need a CodeConnections source)
    app = synth_pipeline(pipeline=CODECOMMIT)
    # WHEN its source and triggers are read
    (source,) = app.actions("Source")
    # THEN there is no trigger configuration, and an EventBridge rule starts it on the branch
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert not app.pipeline.get("Triggers")
    app.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codecommit"],
                "detail": Match.object_like({"referenceName": ["main"]}),
            }
        },
    )


# -- encryption, storage, logs -------------------------------------------------------------------


@pytest.mark.parametrize("variant", [{}, {"approverEmails": APPROVERS}], ids=["cdk.json", "approverEmails"])
def test_every_kms_key_in_the_pipeline_stack_rotates(synth_pipeline, variant):
    # GIVEN the pipeline stack (with approvers it has one more key, the topic's)
    app = synth_pipeline(pipeline=variant or None)
    keys = app.of_type("AWS::KMS::Key")
    # WHEN the keys are read
    # THEN each has rotation on
    assert len(keys) == (3 if variant else 2)
    assert {k: v["Properties"].get("EnableKeyRotation") for k, v in keys.items()} == dict.fromkeys(keys, True)


def test_the_artifact_store_uses_our_bucket_and_our_key(pipeline_app):
    # GIVEN the pipeline stack's own artifact bucket and key
    bucket_id = pipeline_app.logical_id(pipeline_app.stack.artifact_bucket)
    key_id = pipeline_app.logical_id(pipeline_app.stack.artifact_bucket.encryption_key)
    # WHEN the pipeline's artifact store is read
    # THEN it is that bucket, encrypted with that key
    assert pipeline_app.pipeline["ArtifactStore"] == {
        "Type": "S3",
        "Location": {"Ref": bucket_id},
        "EncryptionKey": {"Type": "KMS", "Id": {"Fn::GetAtt": [key_id, "Arn"]}},
    }


def test_the_artifact_bucket_uses_sse_kms_with_our_key_and_bucket_key(pipeline_app):
    # GIVEN the artifact bucket
    bucket = pipeline_app.resources[_artifact_bucket_id(pipeline_app)]["Properties"]
    # WHEN its default encryption is read
    # THEN it is SSE-KMS with the artifact key and an S3 Bucket Key
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": {"Fn::GetAtt": [_artifact_key_id(pipeline_app), "Arn"]},
                },
            }
        ]
    }


def test_the_artifact_bucket_blocks_all_public_access(pipeline_app):
    # GIVEN the artifact bucket
    bucket = pipeline_app.resources[_artifact_bucket_id(pipeline_app)]["Properties"]
    # WHEN its public access block is read
    # THEN all four settings are on, and ACLs are disabled
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_the_artifact_bucket_denies_requests_without_tls(pipeline_app):
    # GIVEN the artifact bucket
    bucket_id = _artifact_bucket_id(pipeline_app)
    # WHEN its bucket policy is read
    # THEN it denies every request over plain HTTP, on the bucket and its objects
    pipeline_app.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": [
                                {"Fn::GetAtt": [bucket_id, "Arn"]},
                                {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
                            ],
                        }
                    ]
                )
            },
        },
    )


def test_the_artifact_bucket_is_versioned(pipeline_app):
    # GIVEN the artifact bucket
    bucket = pipeline_app.resources[_artifact_bucket_id(pipeline_app)]["Properties"]
    # WHEN its versioning is read
    # THEN it is enabled
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_artifact_bucket_writes_server_access_logs_to_the_log_bucket(pipeline_app):
    # GIVEN the artifact bucket and the stack's access-log bucket
    bucket = pipeline_app.resources[_artifact_bucket_id(pipeline_app)]["Properties"]
    (log_bucket_id,) = [
        k for k, v in pipeline_app.of_type("AWS::S3::Bucket").items() if "ArtifactAccessLogs" in k
    ]
    # WHEN its logging configuration is read
    # THEN it logs to the access-log bucket under artifacts/
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_bucket_id},
        "LogFilePrefix": "artifacts/",
    }


def test_the_artifact_bucket_expires_old_versions_and_aborted_uploads(pipeline_app):
    # GIVEN the artifact bucket
    bucket = pipeline_app.resources[_artifact_bucket_id(pipeline_app)]["Properties"]
    # WHEN its lifecycle rules are read
    # THEN superseded artifacts go after 30 days and aborted multipart uploads after 1
    assert bucket["LifecycleConfiguration"] == {
        "Rules": [
            {
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                "Status": "Enabled",
            }
        ]
    }


def test_the_artifact_bucket_and_its_key_are_retained(pipeline_app):
    # GIVEN the artifact bucket and key
    # WHEN their deletion policies are read
    # THEN a stack deletion keeps both (artifacts of past executions stay readable)
    for logical_id in (_artifact_bucket_id(pipeline_app), _artifact_key_id(pipeline_app)):
        resource = pipeline_app.resources[logical_id]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_every_codebuild_project_logs_to_the_build_logs_group(pipeline_app):
    # GIVEN the stack's BuildLogs log group and every CodeBuild project
    log_group_id = pipeline_app.logical_id(pipeline_app.stack.build_logs)
    projects = pipeline_app.of_type("AWS::CodeBuild::Project")
    # WHEN their logging configuration is read
    # THEN every project (synth, the self-mutation gate and its who-approved check, self-mutation, assets,
    # preflights, verifiers, permission check and each stage's who-approved check of it, each stage's
    # judged-change-set check, prod's approved-change-set check) writes to BuildLogs
    assert len(projects) == 15
    for project in projects.values():
        assert project["Properties"]["LogsConfig"] == {
            "CloudWatchLogs": {"GroupName": {"Ref": log_group_id}, "Status": "ENABLED"}
        }


def test_the_build_logs_group_has_a_retention_and_a_kms_key(pipeline_app):
    # GIVEN the BuildLogs log group
    log_group = pipeline_app.resources[pipeline_app.logical_id(pipeline_app.stack.build_logs)]["Properties"]
    # WHEN its retention and encryption are read
    # THEN logs expire after 90 days and are encrypted with a rotated customer managed key
    assert log_group["RetentionInDays"] == 90
    key_id = log_group["KmsKeyId"]["Fn::GetAtt"][0]
    assert pipeline_app.resources[key_id]["Properties"]["EnableKeyRotation"] is True


def test_every_codebuild_project_encrypts_with_the_artifact_key(pipeline_app):
    # GIVEN every CodeBuild project
    projects = pipeline_app.of_type("AWS::CodeBuild::Project").values()
    # WHEN their encryption key is read
    # THEN it is the artifact key (not the AWS managed S3 key)
    key_arn = {"Fn::GetAtt": [_artifact_key_id(pipeline_app), "Arn"]}
    assert [p["Properties"]["EncryptionKey"] for p in projects] == [key_arn] * len(projects)


# -- the synth step runs buildspec.yml -----------------------------------------------------------


def test_the_synth_project_installs_with_buildspecs_install_commands(pipeline_app):
    # GIVEN buildspec.yml and the synth project's buildspec
    expected = load_buildspec()["phases"]["install"]["commands"]
    spec = pipeline_app.buildspec(_synth_project_id(pipeline_app))
    # WHEN the install commands are compared
    # THEN they are buildspec.yml's
    assert spec["phases"]["install"]["commands"] == expected


def test_the_synth_project_builds_with_buildspecs_build_commands(pipeline_app):
    # GIVEN buildspec.yml and the synth project's buildspec
    expected = load_buildspec()["phases"]["build"]["commands"]
    spec = pipeline_app.buildspec(_synth_project_id(pipeline_app))
    # WHEN the build commands are compared
    # THEN they are buildspec.yml's: the same make targets `make test` runs
    assert spec["phases"]["build"]["commands"] == expected


def test_the_synth_project_uses_buildspecs_runtime_versions(pipeline_app):
    # GIVEN buildspec.yml and the synth project's buildspec
    expected = load_buildspec()["phases"]["install"]["runtime-versions"]
    spec = pipeline_app.buildspec(_synth_project_id(pipeline_app))
    # WHEN the runtime versions are compared
    # THEN they are buildspec.yml's
    assert spec["phases"]["install"]["runtime-versions"] == expected


def _bound_reports(app: SynthesizedApp) -> dict[str, Any]:
    """buildspec.yml's named reports, each keyed by the ARN of the report group the stack binds it to."""
    named = load_buildspec()["reports"]
    groups = {
        "UnitTests": app.stack.unit_test_reports,
        "SecurityFindings": app.stack.security_findings_reports,
    }
    assert set(named) == set(groups)
    return {f"<{app.logical_id(groups[name])}.Arn>": report for name, report in named.items()}


def test_each_synth_report_goes_to_its_own_report_group(pipeline_app):
    # GIVEN buildspec.yml's two reports (unit tests, security findings) and the stack's two groups
    spec = pipeline_app.buildspec(_synth_project_id(pipeline_app))
    # WHEN the synth buildspec's reports are read
    # THEN each is bound to its group by ARN (not a new group CodeBuild would create)
    assert spec["reports"] == _bound_reports(pipeline_app)
    assert len(spec["reports"]) == 2


def test_the_security_findings_report_is_the_reviews_junit_file(pipeline_app):
    # GIVEN buildspec.yml's SecurityFindings report
    report = load_buildspec()["reports"]["SecurityFindings"]
    # WHEN its files are read
    # THEN it is the JUnit file `make report` writes (tools/pipeline_checks/review: one test case per finding)
    assert report == {"files": ["reports/review/findings-junit.xml"], "file-format": "JUNITXML"}


@pytest.mark.parametrize(
    ("sid", "group"),
    [
        ("WriteUnitTestReports", "unit_test_reports"),
        ("WriteSecurityFindingsReports", "security_findings_reports"),
    ],
)
def test_the_synth_role_may_write_to_each_of_its_report_groups(pipeline_app, sid, group):
    # GIVEN the synth project's role and one of its report groups
    role_id = _role_of_project(pipeline_app, _synth_project_id(pipeline_app))
    group_id = pipeline_app.logical_id(getattr(pipeline_app.stack, group))
    # WHEN its statements are read
    # THEN one lets it write test reports to that group, and only that group
    (statement,) = [s for s in pipeline_app.role_statements(role_id) if s.get("Sid") == sid]
    assert statement["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert set(statement["Action"]) == REPORT_ACTIONS - {"codebuild:CreateReportGroup"}


def test_the_synth_buildspec_is_buildspec_yml_with_the_report_groups_bound(pipeline_app):
    # GIVEN buildspec.yml as parsed by yaml.safe_load
    expected = load_buildspec()
    # WHEN the synth project's whole buildspec is compared with it
    spec = pipeline_app.buildspec(_synth_project_id(pipeline_app))
    # THEN nothing else differs: env, phases (with `finally`), the two artifacts are buildspec.yml's
    assert spec == {**expected, "version": str(expected["version"]), "reports": _bound_reports(pipeline_app)}


def test_the_synth_step_keeps_the_reports_directory_as_a_second_artifact(pipeline_app):
    # GIVEN the Build stage's synth action and its project's buildspec
    (synth,) = pipeline_app.actions("Build")
    artifacts = pipeline_app.buildspec(_synth_project_id(pipeline_app))["artifacts"]["secondary-artifacts"]
    # WHEN its output artifacts are read
    outputs = [o["Name"] for o in synth["OutputArtifacts"]]
    # THEN the cloud assembly is the first and reports/ the second, each from its own directory
    assert outputs == ["Synth_Output", "Synth_reports"]
    assert {name: a["base-directory"] for name, a in artifacts.items()} == {
        "Synth_Output": "cdk.out",
        "Synth_reports": "reports",
    }
    # AND everything downstream deploys from the cloud assembly, none from the reports
    consumed = {
        i["Name"]
        for stage in pipeline_app.pipeline["Stages"]
        for a in stage["Actions"]
        for i in a.get("InputArtifacts", [])
    }
    assert "Synth_Output" in consumed
    assert "Synth_reports" not in consumed


def test_the_review_report_is_written_also_when_a_build_step_failed(pipeline_app):
    # GIVEN the synth project's build phase
    build = pipeline_app.buildspec(_synth_project_id(pipeline_app))["phases"]["build"]
    # WHEN its commands and `finally` block are read
    # THEN the gates run in the commands, and the review report in `finally`, after a failure too
    assert build["commands"][-1] == "make scan"
    assert build["finally"] == ["make report"]


def test_the_pipelines_build_fails_on_a_gate_that_could_not_check(pipeline_app):
    # GIVEN the synth project's buildspec environment
    variables = pipeline_app.buildspec(_synth_project_id(pipeline_app))["env"]["variables"]
    # WHEN SCAN_STRICT is read
    # THEN it is on: in the pipeline, NOT CHECKED (e.g. no vulnerability service) fails the build
    assert variables["SCAN_STRICT"] == "1"


def test_make_test_runs_the_buildspecs_commands_in_order():
    # GIVEN buildspec.yml's install, build and finally commands, and the Makefile's `test` target
    spec = load_buildspec()
    commands = [
        *spec["phases"]["install"]["commands"],
        *spec["phases"]["build"]["commands"],
        *spec["phases"]["build"].get("finally", []),
    ]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(makefile) if line.startswith("test:"))
    # WHEN the recipe and the commands its runner reads from buildspec.yml are compared
    recipe = makefile[target + 1]
    ran = [command for _, command in phase_commands(spec)]
    # THEN `make test` (CI) runs exactly what the pipeline's synth step runs, in the same order
    assert recipe == "\tpython -m tools.review_kit.rehearse.make_test --record $(REPORTS)/make-test.json"
    assert ran == commands


def test_a_buildspec_report_without_a_report_group_fails_synth(tmp_path, monkeypatch):
    # GIVEN a buildspec.yml that names a third report the pipeline has no group for
    spec = load_buildspec()
    spec["reports"]["Coverage"] = {"files": ["coverage.xml"], "file-format": "COBERTURAXML"}
    monkeypatch.setattr(stages.pipeline.stack, "load_buildspec", lambda: spec)
    # WHEN the app is synthesized
    # THEN it fails and says where to bind it, rather than letting CodeBuild create an unmanaged group
    with pytest.raises(ValueError, match=r"must be exactly \['SecurityFindings', 'UnitTests'\]"):
        synth_app(tmp_path)


# -- self-mutation, assets, the CLI --------------------------------------------------------------


def test_self_mutation_is_on(pipeline_app):
    # GIVEN the UpdatePipeline stage
    (action,) = pipeline_app.actions("UpdatePipeline")
    # WHEN its action and project are read
    commands = pipeline_app.buildspec(pipeline_app.project_id(action))["phases"]["build"]["commands"]
    # THEN it deploys the pipeline stack itself from the synthesized assembly
    assert action["Name"] == "SelfMutate"
    assert action["InputArtifacts"] == [{"Name": "Synth_Output"}]
    assert pipeline_app.actions("Build")[0]["OutputArtifacts"][0] == {"Name": "Synth_Output"}
    assert commands == [
        f"{PIPELINE_CDK} -a . deploy {pipeline_app.stack.stack_name} --require-approval=never --verbose"
    ]


def test_self_mutation_installs_the_cli_version_package_json_pins(pipeline_app):
    # GIVEN package.json's exact aws-cdk pin and its lockfile entry
    version = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"][
        "aws-cdk"
    ]
    locked = json.loads((REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    (action,) = pipeline_app.actions("UpdatePipeline")
    # WHEN the self-mutation project's install commands are read
    install = pipeline_app.buildspec(pipeline_app.project_id(action))["phases"]["install"]["commands"]
    # THEN, after the artifact's digest check (patches/artifact_digest.py), it installs the lockfile's
    # tools (that CLI, integrity-checked), not npm's latest, and runs no package's lifecycle scripts
    assert install == [
        check_command(),
        f"npm ci --prefix {PIPELINE_TOOLS} --ignore-scripts --omit=optional --no-audit --no-fund",
    ]
    assert locked["node_modules/aws-cdk"]["version"] == version == pinned_cdk_cli_version()
    assert all(entry.get("integrity", "").startswith("sha512-") for key, entry in locked.items() if key)


@pytest.mark.parametrize("stage", ["UpdatePipeline", "Assets"])
def test_generated_projects_run_on_the_pinned_node_with_locked_tools(pipeline_app, stage):
    # GIVEN a project CDK Pipelines generates (self-mutation, asset publishing)
    (action,) = pipeline_app.actions(stage)
    project_id = pipeline_app.project_id(action)
    spec = pipeline_app.buildspec(project_id)
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    # WHEN its runtime, its npm installs and its cache are read
    # THEN it runs on buildspec.yml's Node (22; the image's default is 18), installs nothing outside
    # the lockfile, and keeps npm's cache
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": "22"}
    assert not [c for c in commands if "npm install" in c or " -g " in c]
    assert pipeline_app.resources[project_id]["Properties"]["Cache"]["Modes"] == ["LOCAL_CUSTOM_CACHE"]


def test_every_codebuild_project_selects_node_22(pipeline_app):
    # GIVEN every CodeBuild project of the pipeline that runs Node (synth, verify, self-mutation, assets):
    # not the self-mutation gate's check and the three `<X>.Approved` builds, which run python3 and the
    # AWS CLI only (test_pipeline_change_gate.py, test_pipeline_change_approved.py)
    stack = pipeline_app.stack
    approved = [stack.pipeline_change_approved, *stack.permissions_check_approved.values()]
    gate = {
        pipeline_app.logical_id(stack.self_mutation_gate.project),
        *(pipeline_app.logical_id(step.project) for step in approved),
    }
    projects = {k: v for k, v in pipeline_app.of_type("AWS::CodeBuild::Project").items() if k not in gate}
    assert len(projects) == 11
    # WHEN each one's install runtime-versions are read
    nodes = {
        p: pipeline_app.buildspec(p)["phases"]["install"].get("runtime-versions", {}).get("nodejs")
        for p in projects
    }
    # THEN none runs on the image's default Node 18
    assert set(nodes.values()) == {"22"}, nodes


def test_asset_publishing_uses_the_pinned_cli_that_reads_the_assembly(pipeline_app):
    # GIVEN the asset publishing project
    (action,) = pipeline_app.actions("Assets")
    # WHEN its build commands are read
    build = pipeline_app.buildspec(pipeline_app.project_id(action))["phases"]["build"]["commands"]
    # THEN the locked CLI publishes both stage stacks' assets (cdk-assets 4.7.3 cannot read schema 55)
    assert build == [
        f"{PIPELINE_CDK} publish-assets --unstable=publish-assets -a . --exclusively "
        "UploadApiPipeline/Dev/UploadApi UploadApiPipeline/Prod/UploadApi"
    ]


def test_assets_are_published_by_one_project(pipeline_app):
    # GIVEN the Assets stage
    actions = pipeline_app.actions("Assets")
    # WHEN its actions and the asset projects are counted
    asset_projects = [
        k
        for k, v in pipeline_app.of_type("AWS::CodeBuild::Project").items()
        if "/Pipeline/Assets/" in v["Metadata"]["aws:cdk:path"]
    ]
    # THEN one action runs one project that publishes the file assets one after the other
    assert [a["Name"] for a in actions] == ["FileAssets"]
    assert asset_projects == [pipeline_app.project_id(actions[0])]


def test_two_file_assets_still_share_one_publishing_project(tmp_path, monkeypatch):
    # GIVEN the real app whose Dev stage has a second file asset
    class StageWithSecondAsset(UploadApiStage):
        def __init__(self, scope, construct_id, **kwargs):
            super().__init__(scope, construct_id, **kwargs)
            if construct_id == "Dev":
                s3_assets.Asset(
                    self.stack, "SecondAsset", path=str(Path(__file__).with_name("import_probe.py"))
                )

    monkeypatch.setattr(stages.pipeline.stack, "UploadApiStage", StageWithSecondAsset)
    app = synth_app(tmp_path)
    # WHEN the Assets stage and its buildspec are read
    (action,) = app.actions("Assets")
    commands = app.buildspec(app.project_id(action))["phases"]["build"]["commands"]
    # THEN one project publishes both (every asset of the stage stacks, with the locked CLI)
    assert action["Name"] == "FileAssets"
    assert len(commands) == 1
    assert commands[0].startswith(f"{PIPELINE_CDK} publish-assets ")


# -- the post-deploy verifier's permissions ------------------------------------------------------


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_the_verifier_role_may_only_assume_its_stages_verifier_role_besides_cdks_own(pipeline_app, stage_id):
    # GIVEN the verifier project's role
    project_id = pipeline_app.project_id(_verify_action(pipeline_app, stage_id))
    role_id = _role_of_project(pipeline_app, project_id)
    bucket = f"<{_artifact_bucket_id(pipeline_app)}.Arn>"
    logs_group = f"<{pipeline_app.logical_id(pipeline_app.stack.build_logs)}.Arn>"
    own_logs = f"{PREFIX.format(service='logs')}:log-group:/aws/codebuild/<{project_id}>"
    # WHEN every statement on it is read
    # THEN it may assume the stage's VerifierRole (nothing of the API itself) and otherwise holds only
    # CDK's grants: the artifacts (read), the artifact key (decrypt), logs and its report groups
    assert _statements(pipeline_app, role_id) == {
        (
            "Allow",
            frozenset({"sts:AssumeRole"}),
            frozenset({f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{stage_id}-UploadApi-Verifier"}),
        ),
        ("Allow", frozenset(S3_READ), frozenset({bucket, f"{bucket}/*"})),
        (
            "Allow",
            frozenset({"kms:Decrypt", "kms:DescribeKey"}),
            frozenset({f"<{_artifact_key_id(pipeline_app)}.Arn>"}),
        ),
        ("Allow", frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}), frozenset({logs_group})),
        (
            "Allow",
            frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}),
            frozenset({own_logs, f"{own_logs}:*"}),
        ),
        (
            "Allow",
            frozenset(REPORT_ACTIONS),
            frozenset({f"{PREFIX.format(service='codebuild')}:report-group/<{project_id}>-*"}),
        ),
        (
            "Allow",
            frozenset(VERIFIER_REPORT_ACTIONS),
            frozenset({f"<Verify{stage_id}Reports{_report_group_suffix(pipeline_app, stage_id)}.Arn>"}),
        ),
    }


def _report_group_suffix(app: SynthesizedApp, stage_id: str) -> str:
    (logical_id,) = [
        k for k in app.of_type("AWS::CodeBuild::ReportGroup") if k.startswith(f"Verify{stage_id}")
    ]
    return logical_id.removeprefix(f"Verify{stage_id}Reports")


@pytest.mark.parametrize(("stage_id", "mode"), [("Dev", "dev"), ("Prod", "prod")])
def test_the_verifier_sends_its_junit_report_to_its_own_report_group(pipeline_app, stage_id, mode):
    # GIVEN the verifier project's buildspec
    spec = pipeline_app.buildspec(pipeline_app.project_id(_verify_action(pipeline_app, stage_id)))
    # WHEN its reports section is read
    ((group, report),) = spec["reports"].items()
    # THEN the JUnit file the verifier writes goes to Verify<Stage>Reports, on the build's Python
    assert as_text(group) == f"<Verify{stage_id}Reports{_report_group_suffix(pipeline_app, stage_id)}.Arn>"
    assert report == {"files": [f"reports/verify/{mode}-junit.xml"], "file-format": "JUNITXML"}
    assert spec["phases"]["install"]["runtime-versions"] == BUILDSPEC["phases"]["install"]["runtime-versions"]


@pytest.mark.parametrize("stage_id", STAGE_IDS)
def test_the_verifier_role_has_no_other_policies_and_trusts_only_codebuild(pipeline_app, stage_id):
    # GIVEN the verifier project's role
    role_id = _role_of_project(pipeline_app, pipeline_app.project_id(_verify_action(pipeline_app, stage_id)))
    role = pipeline_app.resources[role_id]["Properties"]
    # WHEN its managed and inline policies and its trust policy are read
    # THEN it has none besides the statements above, and only CodeBuild may assume it
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}}
    ]


@pytest.mark.parametrize(("stage_id", "account"), [("Dev", "111111111111"), ("Prod", "222222222222")])
def test_with_explicit_accounts_each_verifier_may_assume_only_its_own_stages_verifier_role(
    synth_pipeline, stage_id, account
):
    # GIVEN dev, prod and the pipeline in three accounts
    app = synth_pipeline(**EXPLICIT_ENVS)
    role_id = _role_of_project(app, app.project_id(_verify_action(app, stage_id)))
    # WHEN the verifier's sts:AssumeRole grant is read
    (assume,) = [s for s in app.role_statements(role_id) if s["Action"] == "sts:AssumeRole"]
    # THEN it names that stage's VerifierRole in that stage's account, and nothing reads or calls an API
    assert as_text(assume["Resource"]) == f"arn:aws:iam::{account}:role/{stage_id}-UploadApi-Verifier"
    actions = {
        a
        for s in app.role_statements(role_id)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not {a for a in actions if a.startswith(("execute-api:", "apigateway:"))}


# -- approval notifications ----------------------------------------------------------------------


def test_without_approver_emails_there_is_no_topic_and_no_notification(pipeline_app):
    # GIVEN cdk.json with approverEmails []
    # WHEN the stack is synthesized
    # THEN it has no SNS topic, and the approval notifies nobody
    pipeline_app.template.resource_count_is("AWS::SNS::Topic", 0)
    (approval,) = [a for a in pipeline_app.actions("Prod") if a["Name"] == "UploadApi.PromoteToProd"]
    assert "NotificationArn" not in approval["Configuration"]


@pytest.fixture(scope="module")
def with_approvers(synth_pipeline) -> SynthesizedApp:
    return synth_pipeline(pipeline={"approverEmails": APPROVERS})


def test_with_approver_emails_the_topic_is_encrypted_with_a_rotated_key(with_approvers):
    # GIVEN approverEmails set
    (topic,) = with_approvers.of_type("AWS::SNS::Topic").values()
    # WHEN the topic is read
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    # THEN it is encrypted with a customer managed key that rotates
    assert with_approvers.resources[key_id]["Type"] == "AWS::KMS::Key"
    assert with_approvers.resources[key_id]["Properties"]["EnableKeyRotation"] is True


def test_with_approver_emails_the_topic_policy_denies_publishing_without_tls(with_approvers):
    # GIVEN approverEmails set
    (topic_id,) = with_approvers.of_type("AWS::SNS::Topic")
    # WHEN the topic policy is read
    # THEN it denies sns:Publish over plain HTTP
    with_approvers.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Effect": "Deny",
                                "Resource": {"Ref": topic_id},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_with_approver_emails_each_address_is_subscribed_by_email(with_approvers):
    # GIVEN approverEmails set
    (topic_id,) = with_approvers.of_type("AWS::SNS::Topic")
    # WHEN the subscriptions are read
    subscriptions = with_approvers.of_type("AWS::SNS::Subscription").values()
    # THEN each approver is an email subscriber of the topic
    assert sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"], s["Properties"]["TopicArn"]["Ref"])
        for s in subscriptions
    ) == [("email", email, topic_id) for email in sorted(APPROVERS)]


def test_with_approver_emails_the_approval_notifies_the_topic(with_approvers):
    # GIVEN approverEmails set
    (topic_id,) = with_approvers.of_type("AWS::SNS::Topic")
    # WHEN the prod approval action is read
    (approval,) = [a for a in with_approvers.actions("Prod") if a["Name"] == "UploadApi.PromoteToProd"]
    # THEN it notifies the topic
    assert approval["Configuration"]["NotificationArn"] == {"Ref": topic_id}
