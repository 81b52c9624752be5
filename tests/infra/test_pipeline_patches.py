"""Each patch of CDK Pipelines' generated constructs fails loudly when its target is not there.

The real app passes every patch (every synth test here builds it); these build small construct
trees shaped like CDK Pipelines' output, minus what one patch expects, and show that the patch
raises GeneratedConstructChanged naming the construct and itself, instead of patching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stages.pipeline.patches import acknowledgements, grants, node_tools, permissions_check, source
from stages.pipeline.patches.generated import GeneratedConstructChanged, child, patch_of
from stages.template_text import as_nag_text

pytestmark = pytest.mark.synth

CONFIRM_AND_STATE = ["codepipeline:GetPipelineState", "codepipeline:PutApprovalResult"]


@pytest.fixture
def pipeline() -> Construct:
    """An empty stand-in for the pipelines.CodePipeline construct, at UploadApiPipeline/Pipeline."""
    stack = cdk.Stack(cdk.App(), "UploadApiPipeline")
    return Construct(stack, "Pipeline")


def changed(patch: Callable[..., Any], path: str, expected: str) -> Any:
    """pytest.raises for `patch` finding `path` not as expected: names the construct and the patch."""
    name = re.escape(f"{patch.__module__}.{patch.__qualname__}")
    return pytest.raises(
        GeneratedConstructChanged,
        match=rf"^UploadApiPipeline/{path}: expected .*{expected}.*\. CDK Pipelines changed its generated "
        rf".+; review this patch: {name}$",
    )


def project(scope: Construct, construct_id: str, **kwargs: Any) -> codebuild.Project:
    return codebuild.Project(
        scope, construct_id, build_spec=codebuild.BuildSpec.from_object({"version": "0.2"}), **kwargs
    )


def auto_approver(pipeline: Construct, *statements: iam.PolicyStatement) -> lambda_.Function:
    check = pipeline.node.try_find_child("PipelinesSecurityCheck") or Construct(
        pipeline, "PipelinesSecurityCheck"
    )
    function = lambda_.Function(
        check,
        "CDKPipelinesAutoApprove",
        runtime=lambda_.Runtime.NODEJS_22_X,
        handler="index.handler",
        code=lambda_.Code.from_inline("exports.handler = async () => {};"),
    )
    for statement in statements:
        function.add_to_role_policy(statement)
    return function


# -- the error itself -----------------------------------------------------------------------------


def test_the_error_names_the_construct_what_was_expected_the_generated_thing_and_the_patch(pipeline):
    # GIVEN a patch of "widgets" that finds no widget
    @patch_of("widgets")
    def patch_the_widget(scope: Construct) -> None:
        child(scope, "Widget", Construct)

    # WHEN it runs THEN the error says where, what it expected, what CDK changed, and which patch
    with pytest.raises(GeneratedConstructChanged) as raised:
        patch_the_widget(pipeline)
    assert str(raised.value) == (
        "UploadApiPipeline/Pipeline/Widget: expected a Construct (there is no such child). CDK Pipelines "
        "changed its generated widgets; review this patch: "
        f"{__name__}.test_the_error_names_the_construct_what_was_expected_the_generated_thing_and_the_patch"
        ".<locals>.patch_the_widget"
    )


# -- node tools -------------------------------------------------------------------------------------


def run_pinned(pipeline: Construct) -> None:
    node_tools.run_generated_projects_on_pinned_node_tools(
        pipeline,
        nodejs="22",
        pipeline_stack="UploadApiPipeline",
        stage_stacks=["UploadApiPipeline/Dev/UploadApi"],
    )


def test_pinning_generated_projects_fails_without_the_self_mutation_project(pipeline):
    # GIVEN an asset project but no UpdatePipeline/SelfMutation
    project(Construct(pipeline, "Assets"), "FileAsset")
    # WHEN the patch runs THEN it names the missing project
    with changed(
        node_tools.run_generated_projects_on_pinned_node_tools,
        "Pipeline/UpdatePipeline/SelfMutation",
        "a CodeBuild project",
    ):
        run_pinned(pipeline)


def test_pinning_generated_projects_fails_without_the_file_asset_project(pipeline):
    project(Construct(pipeline, "UpdatePipeline"), "SelfMutation")
    with changed(
        node_tools.run_generated_projects_on_pinned_node_tools,
        "Pipeline/Assets/FileAsset",
        "a CodeBuild project",
    ):
        run_pinned(pipeline)


def test_pinning_generated_projects_fails_on_a_generated_project_it_has_no_buildspec_for(pipeline):
    # GIVEN CDK generating a project per asset (FileAsset1), which this patch does not know
    project(Construct(pipeline, "UpdatePipeline"), "SelfMutation")
    assets = Construct(pipeline, "Assets")
    project(assets, "FileAsset")
    project(assets, "FileAsset1")
    with changed(
        node_tools.run_generated_projects_on_pinned_node_tools,
        "Pipeline/Assets/FileAsset1",
        "only the projects this patch has a pinned-tools buildspec for",
    ):
        run_pinned(pipeline)


def test_pinning_the_permission_check_fails_without_its_project(pipeline):
    with changed(
        node_tools.run_permissions_check_on_pinned_node_tools,
        "Pipeline/PipelinesSecurityCheck",
        "a Construct",
    ):
        node_tools.run_permissions_check_on_pinned_node_tools(pipeline, nodejs="22")


def test_pinning_the_permission_check_fails_when_its_child_is_not_a_project(pipeline):
    Construct(Construct(pipeline, "PipelinesSecurityCheck"), "CDKSecurityCheck")
    with changed(
        node_tools.run_permissions_check_on_pinned_node_tools,
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck",
        "a Project",
    ):
        node_tools.run_permissions_check_on_pinned_node_tools(pipeline, nodejs="22")


def test_pinning_the_permission_check_fails_on_a_buildspec_with_no_unpinned_install(pipeline):
    # GIVEN the check's buildspec joined around a token, as CDK's is, without `npm install -g aws-cdk`
    stack = cdk.Stack.of(pipeline)
    codebuild.Project(
        Construct(pipeline, "PipelinesSecurityCheck"),
        "CDKSecurityCheck",
        build_spec=codebuild.BuildSpec.from_object(
            {
                "version": "0.2",
                "phases": {"build": {"commands": [f"if cdk diff {stack.account}; then :; fi"]}},
            }
        ),
    )
    # WHEN the patch runs THEN it names the edit it could not make
    with changed(
        node_tools.run_permissions_check_on_pinned_node_tools,
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck",
        "npm install -g aws-cdk",
    ):
        node_tools.run_permissions_check_on_pinned_node_tools(pipeline, nodejs="22")


def test_pinning_the_permission_check_fails_on_a_buildspec_that_is_not_joined_text(pipeline):
    # GIVEN a buildspec with no token in it (plain text, not Fn::Join)
    project(Construct(pipeline, "PipelinesSecurityCheck"), "CDKSecurityCheck")
    with changed(
        node_tools.run_permissions_check_on_pinned_node_tools,
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck",
        "an inline buildspec",
    ):
        node_tools.run_permissions_check_on_pinned_node_tools(pipeline, nodejs="22")


# -- the permission check's logs and the auto-approver ------------------------------------------------


def test_the_permission_check_logs_patch_fails_if_cdk_already_configures_its_logs(pipeline):
    # GIVEN a check project that CDK now gives a log group of its own
    stack = cdk.Stack.of(pipeline)
    own = logs.LogGroup(stack, "CdkChosenLogs")
    project(
        Construct(pipeline, "PipelinesSecurityCheck"),
        "CDKSecurityCheck",
        logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=own)),
    )
    with changed(
        permissions_check.log_permissions_check_to_build_logs,
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck",
        "no logs configuration",
    ):
        permissions_check.log_permissions_check_to_build_logs(pipeline, logs.LogGroup(stack, "BuildLogs"))


def test_sizing_the_auto_approver_fails_without_it(pipeline):
    Construct(pipeline, "PipelinesSecurityCheck")
    with changed(
        permissions_check.size_auto_approver,
        "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove",
        "a Function",
    ):
        permissions_check.size_auto_approver(pipeline)


def test_encrypting_the_auto_approvers_logs_fails_without_its_log_group(pipeline):
    # GIVEN an auto-approver with no log group of its own (CDK's once had none)
    auto_approver(pipeline)
    with changed(
        permissions_check.encrypt_auto_approver_logs,
        "Pipeline/PipelinesSecurityCheck",
        "exactly one log group",
    ):
        permissions_check.encrypt_auto_approver_logs(pipeline, kms.Key(cdk.Stack.of(pipeline), "Key"))


# -- grants -----------------------------------------------------------------------------------------


def test_narrowing_the_auto_approver_fails_when_its_approval_statement_grants_more(pipeline):
    # GIVEN PutApprovalResult granted together with a third action
    auto_approver(
        pipeline,
        iam.PolicyStatement(
            actions=[*CONFIRM_AND_STATE, "codepipeline:StartPipelineExecution"], resources=["*"]
        ),
    )
    with changed(
        grants.approve_only_permission_checks,
        "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove/ServiceRole/DefaultPolicy",
        "one statement granting exactly",
    ):
        grants.approve_only_permission_checks(pipeline, stage_names=["Dev"])


def test_narrowing_the_auto_approver_fails_when_it_has_no_approval_statement(pipeline):
    # GIVEN the two actions granted in separate statements (nothing to split)
    auto_approver(
        pipeline,
        iam.PolicyStatement(actions=["codepipeline:GetPipelineState"], resources=["*"]),
    )
    with changed(
        grants.approve_only_permission_checks,
        "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove/ServiceRole/DefaultPolicy",
        r"one codepipeline:PutApprovalResult statement \(found 0\)",
    ):
        grants.approve_only_permission_checks(pipeline, stage_names=["Dev"])


def test_decrypt_only_fails_when_a_read_only_step_has_no_artifact_key_statement(pipeline):
    # GIVEN a self-mutation project whose role CDK no longer grants the artifact key to
    stack = cdk.Stack.of(pipeline)
    key = kms.Key(stack, "ArtifactKey")
    self_mutation = project(Construct(pipeline, "UpdatePipeline"), "SelfMutation")
    role_path = self_mutation.role.node.path  # type: ignore[union-attr]
    with changed(
        grants.decrypt_only_for_read_only_steps,
        f"{role_path.removeprefix('UploadApiPipeline/')}/DefaultPolicy",
        r"one statement granting kms:Encrypt and more on the artifact key \(found 0\)",
    ):
        grants.decrypt_only_for_read_only_steps(pipeline, artifact_key_arn=key.key_arn)


def test_scoping_the_asset_role_fails_without_the_file_role(pipeline):
    Construct(pipeline, "Assets")
    with changed(grants.scope_asset_role_to_asset_projects, "Pipeline/Assets/FileRole", "a Role"):
        grants.scope_asset_role_to_asset_projects(pipeline)


def test_scoping_the_asset_role_fails_when_a_wildcard_grant_is_missing(pipeline):
    # GIVEN a FileRole granted StartBuild on * but no log or report group wildcards
    assets = Construct(pipeline, "Assets")
    role = iam.Role(assets, "FileRole", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["codebuild:StartBuild"], resources=["*"]))
    project(assets, "FileAsset", role=role)
    with changed(
        grants.scope_asset_role_to_asset_projects,
        "Pipeline/Assets/FileRole/DefaultPolicy",
        "one statement on each of",
    ):
        grants.scope_asset_role_to_asset_projects(pipeline)


# -- the source action's role --------------------------------------------------------------------------


def test_the_connections_prefix_patch_fails_without_the_source_action_role(pipeline):
    with changed(
        source.use_the_connections_prefix, "Pipeline", r"exactly one source action role \(found 0\)"
    ):
        source.use_the_connections_prefix(pipeline)


def test_the_connections_prefix_patch_fails_when_the_source_role_has_no_default_policy(pipeline):
    action = Construct(Construct(Construct(pipeline, "Pipeline"), "Source"), "owner_repo")
    iam.Role(action, "CodePipelineActionRole", assumed_by=iam.AccountRootPrincipal())
    with changed(
        source.use_the_connections_prefix,
        "Pipeline/Pipeline/Source/owner_repo/CodePipelineActionRole/DefaultPolicy",
        "a Policy",
    ):
        source.use_the_connections_prefix(pipeline)


# -- acknowledgements ------------------------------------------------------------------------------------


def test_acknowledging_the_codecommit_rule_fails_without_it(pipeline):
    with changed(
        acknowledgements.acknowledge_codecommit_source_rule,
        "Repository",
        "an EventBridge rule starting the pipeline",
    ):
        acknowledgements.acknowledge_codecommit_source_rule(cdk.Stack.of(pipeline))


def test_acknowledging_the_pipelines_depends_on_fails_without_the_codepipeline(pipeline):
    with changed(
        acknowledgements.acknowledge_pipeline_depends_on_its_role, "Pipeline/Pipeline", "a Pipeline"
    ):
        acknowledgements.acknowledge_pipeline_depends_on_its_role(pipeline)


def test_acknowledging_the_permission_check_fails_without_the_auto_approver(pipeline):
    Construct(pipeline, "PipelinesSecurityCheck")
    with changed(
        acknowledgements.acknowledge_permissions_check,
        "Pipeline/PipelinesSecurityCheck/CDKPipelinesAutoApprove",
        "a Function",
    ):
        acknowledgements.acknowledge_permissions_check(pipeline, stage_names=["Dev"], approval_topic=False)


def test_acknowledging_generated_grants_fails_without_the_codepipeline(pipeline):
    bucket = s3.Bucket(cdk.Stack.of(pipeline), "ArtifactBucket")
    with changed(acknowledgements.acknowledge_generated_grants, "Pipeline/Pipeline", "a Pipeline"):
        acknowledgements.acknowledge_generated_grants(pipeline, bucket, approval_topic=False)


def test_acknowledging_generated_grants_fails_without_a_source_action_role(pipeline):
    # GIVEN a CodePipeline whose source action's role is not where CDK put it
    bucket = s3.Bucket(cdk.Stack.of(pipeline), "ArtifactBucket")
    codepipeline.Pipeline(pipeline, "Pipeline", artifact_bucket=bucket)
    with changed(acknowledgements.acknowledge_generated_grants, "Pipeline", "a source action role"):
        acknowledgements.acknowledge_generated_grants(pipeline, bucket, approval_topic=False)


# -- the one template-text renderer ------------------------------------------------------------------------


def test_as_nag_text_renders_joins_refs_and_getatts_as_cdk_nag_prints_them():
    value = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/", {"Ref": "AWS::AccountId"}, "/*"]]}
    assert as_nag_text(value) == "<Bucket.Arn>/<AWS::AccountId>/*"


def test_as_nag_text_refuses_what_is_not_string_valued():
    with pytest.raises(TypeError, match="not a string-valued template expression"):
        as_nag_text({"Fn::If": ["Cond", "a", "b"]})
