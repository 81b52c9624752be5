"""The one pipeline stack: source -> synth -> Dev (+verify) -> approval -> Prod (+verify).

CDK Pipelines, self-mutating: a push that changes the pipeline first updates the
pipeline, then deploys. The synth step runs buildspec.yml's commands, the same
make targets `make test` runs locally and in CI. What CDK Pipelines generates is then
patched (stages/pipeline/patches/): pinned tools, narrowed grants, acknowledged findings,
each patch failing synth if a CDK upgrade moved what it patches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import yaml
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import pipelines
from constructs import Construct

from stages import compliance
from stages.pipeline.approvals import (
    APPROVER_ROLE_NAME,
    ApprovalRecord,
    approver_role,
    check_approval_actions,
)
from stages.pipeline.approved_change_set import ApprovedChangeSetStep
from stages.pipeline.judged_change_set import (
    action_name,
    check_the_prepared_template_path,
    judged_change_set_step,
)
from stages.pipeline.patches.acknowledgements import (
    acknowledge_codecommit_source_rule,
    acknowledge_generated_grants,
    acknowledge_permissions_check,
    acknowledge_pipeline_depends_on_its_role,
)
from stages.pipeline.patches.artifact_digest import pass_the_gates_digest
from stages.pipeline.patches.asset_publishing import grant_the_bootstrap_version_check
from stages.pipeline.patches.grants import (
    approve_only_permission_checks,
    decrypt_only_for_read_only_steps,
    scope_asset_role_to_asset_projects,
)
from stages.pipeline.patches.node_tools import (
    run_generated_projects_on_pinned_node_tools,
    run_permissions_check_on_pinned_node_tools,
)
from stages.pipeline.patches.permissions_check import (
    encrypt_auto_approver_logs,
    log_permissions_check_to_build_logs,
    read_through_lookup_roles_only,
    size_auto_approver,
)
from stages.pipeline.patches.source import use_the_connections_prefix
from stages.pipeline.preflight import preflight_step
from stages.pipeline.self_mutation_gate import APPROVAL_ACTION, CHECK_ACTION, GATE_STAGE, SelfMutationGate
from stages.pipeline.settings import REPO_ROOT, PipelineSettings, stages_share_an_account
from stages.pipeline.steps import (
    PROD_CHANGE_SET,
    broadening_check,
    prod_approval,
    runtime_versions,
    synth_step,
    verify_step,
)
from stages.pipeline.who_approved import (
    AUTO_APPROVE_FUNCTION,
    WhoApproved,
    auto_approver_role,
    permissions_check_actions,
)
from stages.settings import StageSettings
from stages.upload.buckets import access_logs_bucket
from stages.upload.encryption import customer_managed_key, log_group_key
from stages.upload_stage import UPLOAD_STACK_ID, UploadApiStage

BUILDSPEC_PATH = REPO_ROOT / "buildspec.yml"
# A push that changes only these starts nothing: a README-only push deploys nothing. Excludes,
# not includes: a V2 trigger takes at most 8 include paths, and a new code folder should deploy.
NON_DEPLOY_PATHS = ["*.md", "**/*.md", "docs/**", "LICENSE", ".gitignore", ".ci/**"]
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0


def load_buildspec(path: Path = BUILDSPEC_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class UploadApiPipelineStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_settings: PipelineSettings,
        dev: StageSettings,
        prod: StageSettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.pipeline_settings = pipeline_settings
        # Where dev and prod share an account, neither stack's role may be its API Gateway logging role
        # (each stage's Preflight checks): the stacks' names, which their roles' names start with.
        self.stacks_sharing_the_account = (
            tuple(f"{stage_id}-{UPLOAD_STACK_ID}" for stage_id in ("Dev", "Prod"))
            if stages_share_an_account(pipeline_settings, dev, prod)
            else ()
        )
        self._warn_about_placeholders(dev, prod)
        self.build_logs_key = log_group_key(self, "BuildLogsKey", "Encrypts the pipeline's CodeBuild logs")
        self.build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=self.build_logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.artifact_bucket = self._artifact_bucket()
        self.unit_test_reports = codebuild.ReportGroup(
            self, "UnitTestReports", type=codebuild.ReportGroupType.TEST
        )
        # One test case per security finding (tools/pipeline_checks/review/junit.py): failed, acknowledged,
        # skipped.
        self.security_findings_reports = codebuild.ReportGroup(
            self, "SecurityFindingsReports", type=codebuild.ReportGroupType.TEST
        )
        # buildspec.yml's reports, by name -> the report group each is bound to.
        self.synth_report_groups = {
            "UnitTests": self.unit_test_reports,
            "SecurityFindings": self.security_findings_reports,
        }
        self.buildspec = load_buildspec()
        source = self._source()
        self.synth_step = synth_step(source, self.buildspec, self.synth_report_groups)
        self.pipeline = self._pipeline(self.synth_step)
        # Every stage trusts the pipeline's account for its verifier (None: the stage's own account).
        pipeline_account = pipeline_settings.account
        self.approval_topic = self._approval_topic()
        self.dev_stage = UploadApiStage(self, "Dev", settings=dev, pipeline_account_id=pipeline_account)
        self.pipeline.add_stage(
            self.dev_stage,
            pre=self._preflight_then_broadening_check(self.dev_stage, source),
            stack_steps=[
                pipelines.StackSteps(
                    stack=self.dev_stage.stack, change_set=[self._judged_change_set(self.dev_stage)]
                )
            ],
            post=[verify_step(self, "dev", self.dev_stage, source, self.buildspec)],
        )
        self.prod_stage = UploadApiStage(self, "Prod", settings=prod, pipeline_account_id=pipeline_account)
        self._add_prod_stage(source)
        self.pipeline.build_pipeline()
        self.approved_change_set.grant(self.pipeline.pipeline)
        self._patch_generated_constructs()
        self._gate_self_mutation()
        self._approvals(dev, prod)

    def _gate_self_mutation(self) -> None:
        """Before self-mutation applies this commit's pipeline, the deployed pipeline judges it; its
        approval, and each stage's permission check's, counts only when given by its auto-approver or
        through the approver role; every build after the gate refuses an artifact other than the one
        it judged."""
        self.self_mutation_gate = SelfMutationGate(
            self,
            "PipelineChangeGate",
            build_logs=self.build_logs,
            artifact_bucket=self.artifact_bucket,
            build_image=BUILD_IMAGE,
        )
        self.self_mutation_gate.add_to(self.pipeline.pipeline, self.approval_topic)
        self.pipeline_change_approved = self._who_approved(
            "PipelineChangeApproved",
            stage_name=GATE_STAGE,
            approval_action=APPROVAL_ACTION,
            input_from=CHECK_ACTION,
            auto_approver=self.self_mutation_gate.role,
            auto_approver_is=f"{CHECK_ACTION}'s role",
        )
        # CDK Pipelines' auto-approve function approves each permission check that found no broadening.
        stages = (self.dev_stage, self.prod_stage)
        auto_approver = auto_approver_role(self.pipeline)
        self.permissions_check_approved = {
            stage.stage_name: self._who_approved(
                f"{stage.stage_name}PermissionsCheckApproved",
                stage_name=stage.stage_name,
                approval_action=permissions_check_actions(stage.stage_name)[1],
                input_from=permissions_check_actions(stage.stage_name)[0],
                auto_approver=auto_approver,
                auto_approver_is=f"the {AUTO_APPROVE_FUNCTION} function's role",
                message_of_input=True,
            )
            for stage in stages
        }
        pass_the_gates_digest(
            self.pipeline.pipeline,
            stage_names=[stage.stage_name for stage in stages],
            stage_steps=sorted({action_name(stage) for stage in stages}),
        )
        check_the_prepared_template_path(self.pipeline.pipeline, stages=stages)

    def _who_approved(
        self,
        construct_id: str,
        *,
        stage_name: str,
        approval_action: str,
        input_from: str,
        auto_approver: iam.IRole,
        auto_approver_is: str,
        message_of_input: bool = False,
    ) -> WhoApproved:
        """`<X>.Approved` right after the approval `<X>.Confirm` (stages/pipeline/who_approved.py)."""
        who_approved = WhoApproved(
            self,
            construct_id,
            stage_name=stage_name,
            approval_action=approval_action,
            input_from=input_from,
            auto_approver=auto_approver,
            auto_approver_is=auto_approver_is,
            message_of_input=message_of_input,
            approver_role_arn=self._approver_role_arn(),
            build_logs=self.build_logs,
            artifact_bucket=self.artifact_bucket,
            build_image=BUILD_IMAGE,
        )
        who_approved.add_to(self.pipeline.pipeline)
        return who_approved

    # -- what the pipeline is built from ---------------------------------------------------------

    def _add_prod_stage(self, source: pipelines.IFileSetProducer) -> None:
        """The approval waits between creating the change set and executing it: JudgedChangeSet first
        checks it is the template the permission check judged; the approver reads exactly what will
        change (CDK Pipelines' change set, PipelineChange) and pastes its id into the approval;
        ApprovedChangeSet then fails unless that is the change set about to be executed."""
        judged = self._judged_change_set(self.prod_stage)
        approval = prod_approval(self.prod_stage, self.approval_topic)
        # The approver reviews a change set already bound to the template the checks judged.
        approval.add_step_dependency(judged)
        self.approved_change_set = ApprovedChangeSetStep(
            self,
            stage=self.prod_stage,
            approval=approval,
            change_set_name=PROD_CHANGE_SET,
            source=source,
            runtime_versions=runtime_versions(self.buildspec),
            approver_role_arn=self._approver_role_arn(),
        )
        self.pipeline.add_stage(
            self.prod_stage,
            pre=self._preflight_then_broadening_check(self.prod_stage, source),
            stack_steps=[
                pipelines.StackSteps(
                    stack=self.prod_stage.stack,
                    change_set=[judged, approval, self.approved_change_set.step],
                )
            ],
            post=[verify_step(self, "prod", self.prod_stage, source, self.buildspec)],
        )

    def _judged_change_set(self, stage: UploadApiStage) -> pipelines.Step:
        """After the stage's Prepare, before anything executes its change set: the change set's template
        is the one the stage's permission check judged (stages/pipeline/judged_change_set.py)."""
        return judged_change_set_step(
            self,
            stage=stage,
            synth=self.synth_step,
            change_set_name=PROD_CHANGE_SET,
            judged_by=f"{stage.stage_name}PermissionsCheck.Check",
            runtime_versions=runtime_versions(self.buildspec),
        )

    def _approver_role_arn(self) -> str | None:
        """The approver role's ARN (its name is fixed), when approvers are named: None otherwise."""
        if not self.pipeline_settings.approvers:
            return None
        return self.format_arn(service="iam", region="", resource="role", resource_name=APPROVER_ROLE_NAME)

    def _approvals(self, dev: StageSettings, prod: StageSettings) -> None:
        """Who may approve (the approver role, when approvers are named) and the record of every
        approval (stages/pipeline/approvals.py)."""
        pipeline = self.pipeline.pipeline
        check_approval_actions(pipeline)
        self.approval_record = ApprovalRecord(
            self, "ApprovalRecord", pipeline=pipeline, key=self.build_logs_key, topic=self.approval_topic
        )
        approvers = self.pipeline_settings.approvers
        self.approver_role: iam.Role | None = None
        if not approvers:
            return
        # A stage without an account deploys into the pipeline's.
        default = self.pipeline_settings.account or self.account
        self.approver_role = approver_role(
            self,
            approvers=approvers,
            pipeline=pipeline,
            build_logs=self.build_logs,
            dev_account=dev.account or default,
            prod_account=prod.account or default,
        )

    def _preflight_then_broadening_check(
        self, stage: UploadApiStage, source: pipelines.IFileSetProducer
    ) -> list[pipelines.Step]:
        """The stage's account is checked first (stages/pipeline/preflight.py), then its permissions."""
        preflight = preflight_step(
            self, stage, source, runtime_versions(self.buildspec), self.stacks_sharing_the_account
        )
        check = broadening_check(stage, self.approval_topic)
        check.add_step_dependency(preflight)
        return [preflight, check]

    def _warn_about_placeholders(self, dev: StageSettings, prod: StageSettings) -> None:
        """Synth warnings for the committed placeholders a fresh clone deploys with."""
        settings = self.pipeline_settings
        if settings.source.is_placeholder:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:placeholder-connection",
                "uploadApi.pipeline.source.connectionArn is the committed placeholder: put your "
                "CodeConnections connection ARN in cdk.json before deploying "
                "(docs/pipeline.md: First-time set-up).",
            )
        if settings.shared_account_reason is not None and (dev.account or settings.account) == (
            prod.account or settings.account
        ):
            placeholder = " (the committed placeholder)" if settings.shared_account_is_placeholder else ""
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:shared-account",
                f"dev and prod deploy into one account because uploadApi.pipeline.sharedAccountReason says so"
                f"{placeholder}: {settings.shared_account_reason!r}. Set "
                "uploadApi.stages.dev.account and uploadApi.stages.prod.account to separate accounts for "
                "production (docs/delivery-trust.md).",
            )

        if not settings.approvers:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:no-approvers",
                "uploadApi.pipeline.approvers is []: no approver role is deployed; synth refuses this once "
                "the source is real, so name the IAM roles or users that approve in cdk.json "
                "(docs/delivery-trust.md: Who may approve).",
            )

    def _source(self) -> pipelines.CodePipelineSource:
        source = self.pipeline_settings.source
        if source.provider == "codecommit":
            repository = codecommit.Repository.from_repository_name(self, "Repository", source.repository)
            return pipelines.CodePipelineSource.code_commit(repository, source.branch)
        assert source.connection_arn is not None
        return pipelines.CodePipelineSource.connection(
            source.repository, source.branch, connection_arn=source.connection_arn, trigger_on_push=True
        )

    def _pipeline(self, synth: pipelines.CodeBuildStep) -> pipelines.CodePipeline:
        return pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=synth,
            self_mutation=True,
            publish_assets_in_parallel=False,  # one CodeBuild project per asset type, not per asset
            cross_account_keys=True,
            enable_key_rotation=True,
            artifact_bucket=self.artifact_bucket,
            pipeline_type=codepipeline.PipelineType.V2,
            # The CLI package.json pins (npm's `latest`, 3.x, cannot read aws-cdk-lib 2 assemblies);
            # self-mutation and asset publishing install it from package-lock.json (patches/node_tools.py).
            cli_version=self.pipeline_settings.cdk_cli_version,
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)
                ),
                timeout=cdk.Duration.minutes(30),
            ),
        )

    def _artifact_bucket(self) -> s3.Bucket:
        key = customer_managed_key(
            self, "ArtifactKey", "Encrypts pipeline artifacts (cross-account deploys decrypt with it)"
        )
        return s3.Bucket(
            self,
            "ArtifactBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=access_logs_bucket(self, "ArtifactAccessLogs", retention_days=365),
            server_access_logs_prefix="artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=cdk.Duration.days(30),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _approval_topic(self) -> sns.Topic | None:
        emails = self.pipeline_settings.approver_emails
        if not emails:
            return None
        topic = sns.Topic(
            self,
            "ApprovalTopic",
            display_name="Upload API: prod deploy waits for approval",
            master_key=customer_managed_key(self, "ApprovalTopicKey", "Encrypts prod approval notifications"),
            enforce_ssl=True,
        )
        for email in emails:
            subscription = topic.add_subscription(subscriptions.EmailSubscription(email))
            compliance.acknowledge(subscription, compliance.APPROVAL_EMAIL_NO_REDRIVE)
        return topic

    # -- what CDK Pipelines generated, patched ---------------------------------------------------

    def _patch_generated_constructs(self) -> None:
        """Each patch (stages/pipeline/patches/) fails synth, naming itself, if CDK moved its target.

        In this order: tools before grants (a grant added after a policy is rewritten is lost),
        grants before their acknowledgements (which name the narrowed resources).
        """
        nodejs = runtime_versions(self.buildspec)["nodejs"]
        stages = (self.dev_stage, self.prod_stage)
        stage_names = [stage.stage_name for stage in stages]
        has_approval_topic = self.approval_topic is not None
        run_generated_projects_on_pinned_node_tools(
            self.pipeline,
            nodejs=nodejs,
            pipeline_stack=self.node.path,
            stage_stacks=[stage.stack.node.path for stage in stages],
        )
        self._add_push_trigger()
        run_permissions_check_on_pinned_node_tools(self.pipeline, nodejs=nodejs)
        log_permissions_check_to_build_logs(self.pipeline, self.build_logs)
        read_through_lookup_roles_only(self.pipeline)
        size_auto_approver(self.pipeline)
        approve_only_permission_checks(self.pipeline, stage_names=stage_names)
        encrypt_auto_approver_logs(self.pipeline, self.build_logs_key)
        acknowledge_permissions_check(
            self.pipeline, stage_names=stage_names, approval_topic=has_approval_topic
        )
        # What `cdk publish-assets` calls first, before the asset role's grants are rewritten.
        grant_the_bootstrap_version_check(self.pipeline, [self.dev_stage, self.prod_stage])
        self._narrow_generated_grants()
        acknowledge_generated_grants(self.pipeline, self.artifact_bucket, approval_topic=has_approval_topic)
        acknowledge_pipeline_depends_on_its_role(self.pipeline)

    def _add_push_trigger(self) -> None:
        """V2 push trigger filtered to the branch and the deployable paths (connections only)."""
        source = self.pipeline_settings.source
        if source.provider != "codeconnections":
            # CodeCommit starts on branch updates through EventBridge; triggers need a connection.
            acknowledge_codecommit_source_rule(self)
            return
        # The source action's role (created when the action was bound) may use only this connection
        use_the_connections_prefix(self.pipeline)
        self.pipeline.pipeline.add_trigger(
            provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
            git_configuration=codepipeline.GitConfiguration(
                source_action=self.pipeline.pipeline.stages[0].actions[0],
                push_filter=[
                    codepipeline.GitPushFilter(
                        branches_includes=[source.branch], file_paths_excludes=NON_DEPLOY_PATHS
                    )
                ],
            ),
        )

    def _narrow_generated_grants(self) -> None:
        """CDK Pipelines' generated grants, cut to what each step does (patches/grants.py)."""
        assert self.artifact_bucket.encryption_key is not None
        decrypt_only_for_read_only_steps(
            self.pipeline, artifact_key_arn=self.artifact_bucket.encryption_key.key_arn
        )
        scope_asset_role_to_asset_projects(self.pipeline)
