"""The one pipeline stack: source -> synth -> Dev (+verify) -> approval -> Prod (+verify).

CDK Pipelines, self-mutating: a push that changes the pipeline first updates the
pipeline, then deploys. The synth step runs buildspec.yml's commands, the same
make targets `make test` runs locally and in CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import yaml
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import pipelines
from constructs import Construct

from stages.nag import acknowledge, ignore_cfn_lint, skip_checkov
from stages.pipeline.asset_publishing import grant_the_bootstrap_version_check
from stages.pipeline.connections import use_the_connections_prefix
from stages.pipeline.preflight import preflight_step
from stages.pipeline.settings import REPO_ROOT, PipelineSettings
from stages.settings import StageSettings
from stages.upload.buckets import access_logs_bucket
from stages.upload.encryption import customer_managed_key, log_group_key
from stages.upload.stack import pipeline_verify_role_name, verifier_role_name
from stages.upload_stage import UploadApiStage

BUILDSPEC_PATH = REPO_ROOT / "buildspec.yml"
# A push that changes only these starts nothing: a README-only push deploys nothing. Excludes,
# not includes: a V2 trigger takes at most 8 include paths, and a new code folder should deploy.
NON_DEPLOY_PATHS = ["*.md", "**/*.md", "docs/**", "LICENSE", ".gitignore", ".ci/**"]
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
# The synth build's peak is mypy's cold run, ~3.5 GB (tools/review_kit/rehearse/measured.json): more than
# SMALL's 3 GB. MEDIUM (4 vCPU, 7 GB) leaves the 30% headroom tests/infra/test_build_budget.py holds.
SYNTH_COMPUTE_TYPE = codebuild.ComputeType.MEDIUM
# Local cache of the paths each buildspec's `cache` lists (pip, npm, mypy): best effort, so the
# compute type is sized for a cold run.
BUILD_CACHE = codebuild.Cache.local(codebuild.LocalCacheMode.CUSTOM)
# The Node tools of the projects CDK Pipelines generates (self-mutation, asset publishing): the CLI
# package.json pins, from package-lock.json with `npm ci` (integrity hashes, no floating transitive
# dependencies), on the Node the project pins. `make synth` copies both files into the cloud
# assembly, which is these projects' input.
PIPELINE_TOOLS = "pipeline-tools"
PIPELINE_CDK = f"{PIPELINE_TOOLS}/node_modules/.bin/cdk"
PIPELINE_NPM_CI = f"npm ci --prefix {PIPELINE_TOOLS} --ignore-scripts --no-audit --no-fund"
VERIFY_COMMAND = "make verify-deployed MODE={mode}"
# The synth step's outputs: the cloud assembly the pipeline deploys, then the build's reports
# (security review, gate results, SBOMs, JUnit) kept as an artifact of every run for reviewers.
SYNTH_OUTPUT = "cdk.out"
# The change set CDK Pipelines' deploy actions create and execute (the prod approval names it).
PROD_CHANGE_SET = "PipelineChange"
# Read-only CodeBuild steps only decrypt their input artifacts: of the artifact key grant CDK gives
# every project (kms:Decrypt, DescribeKey, Encrypt, GenerateDataKey*, ReEncrypt*) they keep these.
ARTIFACT_KEY_READ = ["kms:Decrypt", "kms:DescribeKey"]
REPORTS_OUTPUT = "reports"


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
        if pipeline_settings.source.is_placeholder:
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:placeholder-connection",
                "uploadApi.pipeline.source.connectionArn is the committed placeholder: put your "
                "CodeConnections connection ARN in cdk.json before deploying "
                "(docs/pipeline.md: First-time set-up).",
            )
        if pipeline_settings.shared_account_reason is not None and (
            dev.account or pipeline_settings.account
        ) == (prod.account or pipeline_settings.account):
            placeholder = (
                " (the committed placeholder)" if pipeline_settings.shared_account_is_placeholder else ""
            )
            cdk.Annotations.of(self).add_warning_v2(
                "upload-api:shared-account",
                f"dev and prod deploy into one account because uploadApi.pipeline.sharedAccountReason says so"
                f"{placeholder}: {pipeline_settings.shared_account_reason!r}. Set "
                "uploadApi.stages.dev.account and uploadApi.stages.prod.account to separate accounts for "
                "production (docs/delivery-trust.md).",
            )
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
        self.synth_step = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            install_commands=self.buildspec["phases"]["install"]["commands"],
            commands=self.buildspec["phases"]["build"]["commands"],
            partial_build_spec=codebuild.BuildSpec.from_object(self._synth_partial_build_spec()),
            primary_output_directory=SYNTH_OUTPUT,
            role_policy_statements=[
                _report_statement(group, sid=f"Write{group.node.id}")  # WriteUnitTestReports, ...
                for group in self.synth_report_groups.values()
            ],
            build_environment=codebuild.BuildEnvironment(compute_type=SYNTH_COMPUTE_TYPE),
            cache=BUILD_CACHE,
            timeout=cdk.Duration.minutes(60),
        )
        # A second output artifact: nothing consumes it, CodePipeline keeps it with the run.
        self.synth_step.add_output_directory(REPORTS_OUTPUT)
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=self.synth_step,
            self_mutation=True,
            publish_assets_in_parallel=False,  # one CodeBuild project per asset type, not per asset
            cross_account_keys=True,
            enable_key_rotation=True,
            artifact_bucket=self.artifact_bucket,
            pipeline_type=codepipeline.PipelineType.V2,
            # The CLI package.json pins (npm's `latest`, 3.x, cannot read aws-cdk-lib 2 assemblies);
            # self-mutation and asset publishing install it from package-lock.json (see below).
            cli_version=pipeline_settings.cdk_cli_version,
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)
                ),
                timeout=cdk.Duration.minutes(30),
            ),
        )

        # Every stage trusts the pipeline's account for its verifier (None: the stage's own account).
        pipeline_account = pipeline_settings.account
        self.approval_topic = self._approval_topic()
        self.dev_stage = UploadApiStage(self, "Dev", settings=dev, pipeline_account_id=pipeline_account)
        self.pipeline.add_stage(
            self.dev_stage,
            pre=self._preflight_then_broadening_check(self.dev_stage, source),
            post=[self._verify_step("dev", self.dev_stage, source)],
        )
        self.prod_stage = UploadApiStage(self, "Prod", settings=prod, pipeline_account_id=pipeline_account)
        self.pipeline.add_stage(
            self.prod_stage,
            pre=self._preflight_then_broadening_check(self.prod_stage, source),
            # The approval waits between creating the change set and executing it: the approver
            # reads exactly what will change (CDK Pipelines' change set, PipelineChange).
            stack_steps=[
                pipelines.StackSteps(
                    stack=self.prod_stage.stack, change_set=[self._prod_approval(self.prod_stage)]
                )
            ],
            post=[self._verify_step("prod", self.prod_stage, source)],
        )
        self.pipeline.build_pipeline()
        self._run_generated_projects_on_pinned_node_tools()
        self._add_push_trigger()
        self._harden_permissions_check()
        grant_the_bootstrap_version_check(self._file_role(), [self.dev_stage, self.prod_stage])
        self._narrow_generated_grants()
        self._acknowledge_generated_grants()
        ignore_cfn_lint(
            self.pipeline.pipeline,
            "W3005",
            "CDK's Pipeline construct adds DependsOn its role next to the GetAtt of the role's ARN; the "
            "duplicate ordering is harmless and not ours to remove.",
        )

    # -- pieces ----------------------------------------------------------------------------------

    def _source(self) -> pipelines.CodePipelineSource:
        source = self.pipeline_settings.source
        if source.provider == "codecommit":
            repository = codecommit.Repository.from_repository_name(self, "Repository", source.repository)
            return pipelines.CodePipelineSource.code_commit(repository, source.branch)
        assert source.connection_arn is not None
        return pipelines.CodePipelineSource.connection(
            source.repository, source.branch, connection_arn=source.connection_arn, trigger_on_push=True
        )

    def _add_push_trigger(self) -> None:
        """V2 push trigger filtered to the branch and the deployable paths (connections only)."""
        source = self.pipeline_settings.source
        if source.provider != "codeconnections":
            # CodeCommit starts on branch updates through EventBridge; triggers need a connection.
            for rule in self.node.find_all():
                if isinstance(rule, events.Rule) and "/Repository/" in rule.node.path:
                    acknowledge(rule, "Serverless-EventBusDLQ", _SOURCE_RULE_DLQ)
            return
        source_action = self.pipeline.pipeline.stages[0].actions[0]
        # The source action's role (created when the action was bound): issue 9 finding 4
        (source_role,) = [
            r
            for r in self.pipeline.pipeline.node.find_all()
            if isinstance(r, iam.Role) and "/Source/" in r.node.path and r.node.id == "CodePipelineActionRole"
        ]
        use_the_connections_prefix(source_role)
        self.pipeline.pipeline.add_trigger(
            provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
            git_configuration=codepipeline.GitConfiguration(
                source_action=source_action,
                push_filter=[
                    codepipeline.GitPushFilter(
                        branches_includes=[source.branch], file_paths_excludes=NON_DEPLOY_PATHS
                    )
                ],
            ),
        )

    def _run_generated_projects_on_pinned_node_tools(self) -> None:
        """Self-mutation and asset publishing on Node 22 with the locked CLI (their buildspecs replaced).

        CDK Pipelines generates `npm install -g aws-cdk@V` / `cdk-assets@V` (floating transitive
        dependencies, on the image's default Node 18) and publishes with `cdk-assets`, whose newest
        release (4.7.3) reads cloud assembly schema 54 at most; aws-cdk-lib 2.275 writes 55. The
        pinned CLI reads it: `cdk publish-assets` publishes the same assets of the stage stacks to
        the same bootstrap destinations, through the same file-publishing roles.
        """
        install = {
            "runtime-versions": {"nodejs": self._runtime_versions()["nodejs"]},
            "commands": [PIPELINE_NPM_CI],
        }
        stage_stacks = " ".join(stage.stack.node.path for stage in (self.dev_stage, self.prod_stage))
        builds = {
            "/UpdatePipeline/SelfMutation": [
                f"{PIPELINE_CDK} -a . deploy {self.node.path} --require-approval=never --verbose"
            ],
            "/Assets/FileAsset": [
                f"{PIPELINE_CDK} publish-assets --unstable=publish-assets -a . --exclusively {stage_stacks}"
            ],
        }
        generated = [
            p
            for p in _codebuild_projects(self)
            if "/UpdatePipeline/" in p.node.path or "/Assets/" in p.node.path
        ]
        for project in generated:
            suffix = next((s for s in builds if project.node.path.endswith(s)), None)
            if suffix is None:
                raise ValueError(
                    f"{project.node.path}: a generated project with no pinned-tools buildspec here"
                )
            spec = {
                "version": "0.2",
                "phases": {"install": install, "build": {"commands": builds[suffix]}},
                "cache": {"paths": ["/root/.npm/**/*"]},
            }
            cfn_project = project.node.default_child
            assert isinstance(cfn_project, codebuild.CfnProject)
            cfn_project.add_property_override("Source.BuildSpec", json.dumps(spec, indent=2))
            cfn_project.add_property_override("Cache", {"Type": "LOCAL", "Modes": ["LOCAL_CUSTOM_CACHE"]})

    def _synth_partial_build_spec(self) -> dict[str, Any]:
        """buildspec.yml minus the commands CodeBuildStep owns; each named report bound to its group."""
        owned_by_step = ("phases", "artifacts", "reports")
        spec = {key: value for key, value in self.buildspec.items() if key not in owned_by_step}
        spec["phases"] = {"install": {"runtime-versions": self._runtime_versions()}}
        # CodeBuildStep takes commands, not `finally` (the review report, written after a failed step too).
        build_finally = self.buildspec["phases"]["build"].get("finally")
        if build_finally:
            spec["phases"]["build"] = {"finally": build_finally}
        # CodeBuild takes a report group's ARN as the key; buildspec.yml names the reports. A name
        # without a group would make CodeBuild create an unmanaged group the role may not write to.
        named = self.buildspec["reports"]
        if set(named) != set(self.synth_report_groups):
            raise ValueError(
                f"buildspec.yml reports {sorted(named)} must be exactly {sorted(self.synth_report_groups)}: "
                "bind a new one to a report group in stages/pipeline/stack.py"
            )
        spec["reports"] = {
            self.synth_report_groups[name].report_group_arn: report for name, report in named.items()
        }
        return spec

    def _preflight_then_broadening_check(
        self, stage: UploadApiStage, source: pipelines.IFileSetProducer
    ) -> list[pipelines.Step]:
        """The stage's account is checked first (stages/pipeline/preflight.py), then its permissions."""
        preflight = preflight_step(self, stage, source, self._runtime_versions())
        check = self._broadening_check(stage)
        check.add_step_dependency(preflight)
        return [preflight, check]

    def _broadening_check(self, stage: UploadApiStage) -> pipelines.Step:
        """`cdk diff --security-only` of the stage before it deploys; a broadening waits for a person."""
        return pipelines.ConfirmPermissionsBroadening(
            f"{stage.stage_name}PermissionsCheck", stage=stage, notification_topic=self.approval_topic
        )

    def _prod_approval(self, stage: UploadApiStage) -> pipelines.Step:
        stack = stage.stack
        region = stack.region if not cdk.Token.is_unresolved(stack.region) else cdk.Aws.REGION
        console = f"https://console.aws.amazon.com/cloudformation/home?region={region}"
        return pipelines.ManualApprovalStep(
            "PromoteToProd",
            comment=(
                f"Dev is deployed and verified. Review change set {PROD_CHANGE_SET} of stack "
                f"{stack.stack_name} (the link: the stack's Change sets tab; or `aws cloudformation "
                f"describe-change-set --stack-name {stack.stack_name} --change-set-name {PROD_CHANGE_SET}`) "
                "and the synth step's reports, then approve to execute exactly that change set."
            ),
            # The stack's page (its Change sets tab lists PipelineChange); the console needs the stack's
            # ARN for a direct change set link, which exists only once the change set does.
            review_url=f"{console}#/stacks?filteringText={stack.stack_name}",
            notification_topic=self.approval_topic,
        )

    def _verify_step(
        self, mode: str, stage: UploadApiStage, source: pipelines.IFileSetProducer
    ) -> pipelines.Step:
        """The post-deploy verifier: it may only assume this stage's VerifierRole (upload stack), which
        may call exactly this stage's POST /upload and read exactly this API stage."""
        stack = stage.stack
        verifier_role = cdk.Arn.format(
            cdk.ArnComponents(
                service="iam",
                region="",
                account=stack.account,
                resource="role",
                resource_name=verifier_role_name(stack.stack_name),
            ),
            stack,
        )
        step_id = f"Verify{mode.capitalize()}"
        # A fixed name: the stage's VerifierRole trusts exactly this role's ARN (stages/upload/stack.py).
        role = iam.Role(
            self,
            f"{step_id}Role",
            role_name=pipeline_verify_role_name(mode),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=f"CodeBuild role of {step_id}: assumes the {mode} stage's VerifierRole, nothing else",
        )
        reports = codebuild.ReportGroup(self, f"{step_id}Reports", type=codebuild.ReportGroupType.TEST)
        return pipelines.CodeBuildStep(
            step_id,
            input=source,
            role=role,
            env_from_cfn_outputs={
                "API_URL": stack.api_url_output,
                "UPLOAD_ENDPOINT": stack.upload_endpoint_output,
                "VERIFIER_ROLE_ARN": stack.verifier_role_output,
            },
            env={"STACK_NAME": stack.stack_name},
            commands=[VERIFY_COMMAND.format(mode=mode)],
            partial_build_spec=codebuild.BuildSpec.from_object(
                {
                    "phases": {"install": {"runtime-versions": self._runtime_versions()}},
                    # The verifier's JUnit report: each check a test case in this report group.
                    "reports": {
                        reports.report_group_arn: {
                            "files": [f"reports/verify/{mode}-junit.xml"],
                            "file-format": "JUNITXML",
                        }
                    },
                }
            ),
            role_policy_statements=[
                iam.PolicyStatement(
                    sid="AssumeThisStagesVerifierRole", actions=["sts:AssumeRole"], resources=[verifier_role]
                ),
                _report_statement(reports),
            ],
            timeout=cdk.Duration.minutes(20),
        )

    def _runtime_versions(self) -> dict[str, str]:
        return dict(self.buildspec["phases"]["install"]["runtime-versions"])

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
            acknowledge(subscription, "Serverless-SNSRedrivePolicy", _EMAIL_REDRIVE)
        return topic

    def _narrow_generated_grants(self) -> None:
        """CDK Pipelines' generated grants, cut to what each step does (the L1 policy is rewritten, so
        the template, cdk-nag and the scanners all see the narrowed statements).

        - Read-only steps (self-mutation, verifiers, permission checks) only decrypt their input
          artifacts: kms:Decrypt and DescribeKey on the artifact key, no Encrypt/ReEncrypt/GenerateDataKey.
        - The asset-publishing role may start only the asset projects and write only their own logs
          and report groups (CDK grants codebuild:StartBuild on `*`, every /aws/codebuild/* log group
          and every report group).
        """
        artifact_key = self.resolve(self.artifact_bucket.encryption_key.key_arn)  # type: ignore[union-attr]
        for project in _codebuild_projects(self):
            if "/Assets/" in project.node.path or project.node.path.endswith("/Synth/CdkBuildProject"):
                continue  # the synth step writes its output artifacts: it keeps the whole key grant
            _rewrite_statements(project.role, lambda statement: _decrypt_only(statement, artifact_key))
        asset_projects = [p for p in _codebuild_projects(self) if "/Assets/" in p.node.path]
        own = {
            "/aws/codebuild/*": [
                arn
                for p in asset_projects
                for arn in (
                    f"{self._arn_prefix('logs')}:log-group:/aws/codebuild/{p.project_name}",
                    f"{self._arn_prefix('logs')}:log-group:/aws/codebuild/{p.project_name}:*",
                )
            ],
            "report-group/*": [
                f"{self._arn_prefix('codebuild')}:report-group/{p.project_name}-*" for p in asset_projects
            ],
            "*": [p.project_arn for p in asset_projects],
        }
        resolved = {suffix: [self.resolve(arn) for arn in arns] for suffix, arns in own.items()}
        _rewrite_statements(self._file_role(), lambda statement: _scoped_to_own(statement, resolved))

    def _harden_permissions_check(self) -> None:
        """ConfirmPermissionsBroadening's shared pieces (CodeBuild `cdk diff` + an auto-approve Lambda).

        - The check installs `aws-cdk` unpinned (npm's latest, 3.x, cannot read these assemblies) on
          the image's default Node 18: it runs Node 22 and package-lock.json's CLI like every step.
        - The auto-approver may approve only the permission-check actions (`*.Confirm`), never
          PromoteToProd: CDK grants codepipeline:PutApprovalResult on every tagged pipeline's actions.
        """
        check = self.pipeline.node.find_child("PipelinesSecurityCheck")
        project = check.node.find_child("CDKSecurityCheck")
        assert isinstance(project, codebuild.Project)
        cfn_project = _cfn(project)
        assert isinstance(cfn_project, codebuild.CfnProject)
        build_spec = self.resolve(cfn_project.source)["buildSpec"]
        # The buildspec is JSON text joined around the auto-approver's name: edited as text, each edit
        # asserted so a CDK upgrade that changes it fails synth instead of running unpinned.
        first = build_spec["Fn::Join"][1][0]
        node = self._runtime_versions()["nodejs"]
        install = (
            f'"install": {{"runtime-versions": {{"nodejs": "{node}"}}, "commands": ["{PIPELINE_NPM_CI}"]}}'
        )
        edits = {
            # Node 22 and package-lock.json's CLI, as self-mutation and asset publishing install it.
            '"phases": {\n    "build": {': f'"phases": {{\n    {install},\n    "build": {{',
            '        "npm install -g aws-cdk",\n': "",
            "if cdk diff ": f"if {PIPELINE_CDK} diff ",
        }
        for before, after in edits.items():
            assert first.count(before) == 1, f"CDK Pipelines' permission check changed: {before!r}"
            first = first.replace(before, after)
        build_spec["Fn::Join"][1][0] = first
        cfn_project.add_property_override("Source.BuildSpec", build_spec)
        # Its logs go where every other step's go (CDK leaves it on CodeBuild's default log group).
        cfn_project.logs_config = codebuild.CfnProject.LogsConfigProperty(
            cloud_watch_logs=codebuild.CfnProject.CloudWatchLogsConfigProperty(
                status="ENABLED", group_name=self.build_logs.log_group_name
            )
        )
        self.build_logs.grant_write(project)
        function = check.node.find_child("CDKPipelinesAutoApprove")
        assert isinstance(function, lambda_.Function)
        # Explicit (the default): one PutApprovalResult call per run needs no more.
        cfn_function = _cfn(function)
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.memory_size = 128
        # By name pattern, not the pipeline's ARN: the pipeline already depends on this function (its
        # check project names it), so a reference back would be a circular dependency. CDK's condition
        # (aws:ResourceTag/SECURITY_CHECK on the pipeline) still limits it to pipelines tagged for it.
        self.confirm_action_arns = [
            f"{self._arn_prefix('codepipeline')}:*/{stage.stage_name}/{stage.stage_name}PermissionsCheck.Confirm"
            for stage in (self.dev_stage, self.prod_stage)
        ]
        resolved = [self.resolve(arn) for arn in self.confirm_action_arns]
        # GetPipelineState (the function reads the approval's token) acts on the pipeline, not an action.
        self.tagged_pipelines_arn = f"{self._arn_prefix('codepipeline')}:*"

        def only_confirm_actions(statement: dict[str, Any]) -> list[dict[str, Any]]:
            actions = _as_list(statement["Action"])
            if "codepipeline:PutApprovalResult" not in actions:
                return [statement]
            assert set(actions) == {"codepipeline:GetPipelineState", "codepipeline:PutApprovalResult"}, (
                actions
            )
            return [
                {**statement, "Action": "codepipeline:PutApprovalResult", "Resource": resolved},
                {
                    **statement,
                    "Action": "codepipeline:GetPipelineState",
                    "Resource": self.resolve(self.tagged_pipelines_arn),
                },
            ]

        _rewrite_statements(function.role, only_confirm_actions)
        self.permissions_check = check
        _acknowledge_all(
            function.role,
            {
                **{self._finding(arn): _AUTO_APPROVE_ACTIONS for arn in self.confirm_action_arns},
                self._finding(self.tagged_pipelines_arn): _AUTO_APPROVE_STATE,
            },
        )
        assert function.role is not None
        acknowledge(
            function.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            _AUTO_APPROVE_LOGS,
        )
        acknowledge(function, "Serverless-LambdaDLQ", _AUTO_APPROVE_DLQ)
        skip_checkov(function, "CKV_AWS_116", _AUTO_APPROVE_DLQ)
        skip_checkov(
            function,
            "CKV_AWS_117",
            "CDK Pipelines' auto-approve function calls only the CodePipeline API (PutApprovalResult, "
            "GetPipelineState) over TLS with SigV4 and reaches no private resource; a VPC would add NAT or "
            "endpoint cost without narrowing that access.",
        )
        skip_checkov(
            function,
            "CKV_AWS_115",
            "Invoked only by this pipeline's permission check, once per stage per pipeline run; reserving "
            "concurrency would take it from the account's shared pool for a function that runs seconds "
            "a day.",
        )
        # Its log group: encrypted with the pipeline's build-log key, like every other log group here.
        for log_group in check.node.find_all():
            if isinstance(log_group, logs.CfnLogGroup):
                log_group.kms_key_id = self.build_logs_key.key_arn
        ignore_cfn_lint(
            function,
            "W3005",
            "aws-cdk-lib's Function always adds DependsOn on its role next to the Role GetAtt; the "
            "duplicate ordering is harmless and not ours to remove.",
        )
        acknowledge(function, "Serverless-LambdaTracing", _AUTO_APPROVE_TRACING)
        _acknowledge_all(
            project.role,
            {
                # (its own logs and report groups are acknowledged with every project's, below)
                "AwsSolutions-IAM5[Resource::*]": _PERMISSIONS_CHECK_DIFF,
                self._finding(f"{function.function_arn}:*"): _PERMISSIONS_CHECK_INVOKE,
                # With approverEmails, a broadening is published to the KMS-encrypted approval topic.
                **(
                    {"AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": _APPROVAL_KEY}
                    if self.approval_topic is not None
                    else {}
                ),
            },
        )

    def _file_role(self) -> iam.Role:
        file_role = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        assert isinstance(file_role, iam.Role)
        return file_role

    def _acknowledge_generated_grants(self) -> None:
        """CDK Pipelines' own grants, acknowledged role by role with the exact finding ids.

        Every one is scoped to this pipeline's artifact bucket and key, a CodeBuild project's
        own log group and report groups, or the CDK bootstrap roles.
        """
        bucket = f"<{self.get_logical_id(_cfn(self.artifact_bucket))}.Arn>"
        artifact_read = {
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": _ARTIFACTS,
            "AwsSolutions-IAM5[Action::s3:GetObject*]": _ARTIFACTS,
            "AwsSolutions-IAM5[Action::s3:List*]": _ARTIFACTS,
            f"AwsSolutions-IAM5[Resource::{bucket}/*]": _ARTIFACTS,
        }
        artifact_write = {
            **artifact_read,
            "AwsSolutions-IAM5[Action::s3:Abort*]": _ARTIFACTS,
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": _ARTIFACTS,
        }
        artifact_key = {
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": _ARTIFACT_KEY,
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": _ARTIFACT_KEY,
        }
        pipeline = self.pipeline.pipeline
        _acknowledge_all(pipeline.role, {**artifact_write, **artifact_key})
        # The source action's role CodePipeline creates (path .../Source/<action>/CodePipelineActionRole).
        for role in self.node.find_all():
            if (
                isinstance(role, iam.Role)
                and "/Source/" in role.node.path
                and role.node.id == "CodePipelineActionRole"
            ):
                _acknowledge_all(role, {**artifact_write, **artifact_key})
            # With approverEmails, the approval actions' roles publish to the KMS-encrypted topic.
            if (
                self.approval_topic is not None
                and isinstance(role, iam.Role)
                and role.node.id == "CodePipelineActionRole"
                and ("PromoteToProd/" in role.node.path or "PermissionsCheck" in role.node.path)
                and role.node.try_find_child("DefaultPolicy") is not None
            ):
                _acknowledge_all(role, {"AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": _APPROVAL_KEY})
        for project in _codebuild_projects(self):
            if "/Assets/" in project.node.path:
                continue  # the asset projects share one role, handled below
            own = self._own_codebuild_resources(project)
            if project.node.path.endswith("/Synth/CdkBuildProject"):
                _acknowledge_all(project.role, {**artifact_write, **artifact_key, **own})
                continue
            extra: dict[str, str] = {}
            if project.node.path.endswith("/SelfMutation"):
                extra = {
                    self._finding(f"arn:*:iam::{self.account}:role/*"): _SELF_MUTATION_ROLES,
                    "AwsSolutions-IAM5[Resource::*]": _SELF_MUTATION_LOOKUPS,
                }
            _acknowledge_all(project.role, {**artifact_read, **own, **extra})
        asset_projects = [p for p in _codebuild_projects(self) if "/Assets/" in p.node.path]
        _acknowledge_all(
            self._file_role(),
            {
                **artifact_read,
                **{k: v for p in asset_projects for k, v in self._own_codebuild_resources(p).items()},
            },
        )

    def _own_codebuild_resources(self, project: codebuild.Project) -> dict[str, str]:
        name = project.project_name
        return {
            self._finding(f"{self._arn_prefix('logs')}:log-group:/aws/codebuild/{name}:*"): _OWN_LOGS,
            self._finding(f"{self._arn_prefix('codebuild')}:report-group/{name}-*"): _OWN_LOGS,
        }

    def _arn_prefix(self, service: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}"

    def _finding(self, resource: str) -> str:
        """The AwsSolutions-IAM5 finding id cdk-nag prints for `resource` in this stack's template.

        Literal where the stack's env is (an explicit account or region), `<AWS::AccountId>`,
        `<LogicalId>` or `<LogicalId.Attr>` where the template has a Ref or GetAtt.
        """
        return f"AwsSolutions-IAM5[Resource::{_as_nag_text(self.resolve(resource))}]"


_ARTIFACTS = (
    "CDK Pipelines grants pipeline roles access to this pipeline's own artifact bucket; object keys "
    "are generated per execution, so the object wildcard is the bucket's content, which only pipeline "
    "artifacts occupy (KMS-encrypted, TLS-only, public access blocked)."
)
_ARTIFACT_KEY = (
    "KMS data-key and re-encrypt operations on the pipeline's own artifact key only (the resource is "
    "that key's ARN); S3 needs them to read and write SSE-KMS artifacts."
)
_OWN_LOGS = (
    "CodeBuild's default grant to a project: its own /aws/codebuild/<project> log streams and report "
    "groups named after the project; the wildcard covers stream and report names CodeBuild generates."
)
_EMAIL_REDRIVE = (
    "An e-mail subscription of the approval topic: SNS retries delivery to the approvers' mailboxes, "
    "and the approval itself waits in CodePipeline whether or not the e-mail arrives, so a dead-letter "
    "queue would only keep a notice nobody reads."
)
_SOURCE_RULE_DLQ = (
    "The CodeCommit source's EventBridge rule CDK Pipelines creates: its one target is this pipeline, "
    "EventBridge retries starting it for 24 hours, and a start that still fails is recovered by the next "
    "push or a manual release, so a dead-letter queue would hold nothing actionable."
)
_APPROVAL_KEY = (
    "Publishing to the approval topic, which is encrypted with its own customer managed key, needs "
    "kms:GenerateDataKey* on that key only (the resource is that key's ARN, not a wildcard)."
)
_AUTO_APPROVE_ACTIONS = (
    "CDK Pipelines' auto-approver may approve only the permission-check actions (<Stage>PermissionsCheck."
    "Confirm), never PromoteToProd; the pipeline name is a wildcard because the pipeline already depends on "
    "this function (a reference back is circular), and CDK's aws:ResourceTag/SECURITY_CHECK condition limits "
    "it to pipelines tagged for the check."
)
_AUTO_APPROVE_STATE = (
    "codepipeline:GetPipelineState, read-only, for the auto-approver to find the approval's token; the "
    "pipeline name is a wildcard (a reference to this pipeline would be circular) and CDK's "
    "aws:ResourceTag/SECURITY_CHECK condition limits it to pipelines tagged for the check."
)
_AUTO_APPROVE_LOGS = (
    "AWSLambdaBasicExecutionRole lets CDK Pipelines' auto-approve function write CloudWatch Logs only "
    "(CreateLogGroup, CreateLogStream, PutLogEvents); it grants no data or control-plane access."
)
_AUTO_APPROVE_DLQ = (
    "The permission check invokes the auto-approver asynchronously; a failed invocation leaves the "
    "Confirm approval waiting for a person, which is the safe outcome, so a dead-letter queue adds nothing."
)
_AUTO_APPROVE_TRACING = (
    "CDK Pipelines' auto-approve function makes one PutApprovalResult call per check; its CloudWatch log "
    "and the pipeline's execution history record it, so X-Ray tracing would add cost without insight."
)
_PERMISSIONS_CHECK_DIFF = (
    "cdk diff --security-only assumes only roles tagged aws-cdk:bootstrap-role=deploy (CDK's condition on "
    "this statement), which trust only accounts bootstrapped with --trust for this pipeline; it reads the "
    "deployed template through them, in whichever stage account that is."
)
_PERMISSIONS_CHECK_INVOKE = (
    "The permission check may invoke only CDK Pipelines' auto-approve function of this pipeline (the "
    "function and its versions); that function may approve only the permission-check actions."
)
_SELF_MUTATION_ROLES = (
    "Self-mutation may only assume roles tagged as CDK bootstrap roles (condition "
    "iam:ResourceTag/aws-cdk:bootstrap-role: deploy, file-publishing, image-publishing) in this account."
)
_SELF_MUTATION_LOOKUPS = (
    "cloudformation:DescribeStacks and s3:ListBucket, read-only calls the CDK CLI makes before "
    "assuming the bootstrap deploy role; DescribeStacks supports no narrower resource for a lookup "
    "by name."
)


def _rewrite_statements(role: iam.IRole | None, rewrite: Any) -> None:
    """Replace the role's DefaultPolicy document (the L1 property) with `rewrite` of each statement."""
    assert role is not None
    policy = role.node.find_child("DefaultPolicy").node.default_child
    assert isinstance(policy, iam.CfnPolicy)
    document = cdk.Stack.of(policy).resolve(policy.policy_document)
    rewritten = [rewrite(dict(statement)) for statement in document["Statement"]]
    # A rewrite returns a statement, or the statements one is split into.
    document["Statement"] = [s for r in rewritten for s in (r if isinstance(r, list) else [r])]
    policy.policy_document = document


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _decrypt_only(statement: dict[str, Any], artifact_key: Any) -> dict[str, Any]:
    """The artifact key statement with only the actions reading an artifact needs."""
    if statement.get("Resource") == artifact_key and "kms:Encrypt" in _as_list(statement["Action"]):
        statement["Action"] = ARTIFACT_KEY_READ
    return statement


def _scoped_to_own(statement: dict[str, Any], own: dict[str, list[Any]]) -> dict[str, Any]:
    """A statement on `*`, every /aws/codebuild/* log group or every report group: the asset projects' own."""
    resources = _as_list(statement["Resource"])
    if len(resources) == 1 and not (isinstance(resources[0], dict) and "Fn::Sub" in resources[0]):
        text = _as_nag_text(resources[0])
        for suffix, arns in own.items():
            if text == "*" if suffix == "*" else text.endswith(f":{suffix}"):
                statement["Resource"] = arns if len(arns) > 1 else arns[0]
                break
    return statement


def _as_nag_text(value: Any) -> str:
    """A resolved template value as cdk-nag renders it: joins flattened, Ref/GetAtt as <...>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_as_nag_text(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
    raise TypeError(f"cannot render {value!r} as a cdk-nag finding id")


def _cfn(construct: Construct) -> cdk.CfnElement:
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return child


def _codebuild_projects(scope: Construct) -> list[codebuild.Project]:
    return [c for c in scope.node.find_all() if isinstance(c, codebuild.Project)]


def _acknowledge_all(role: iam.IRole | None, findings: dict[str, str]) -> None:
    assert role is not None
    policy = role.node.find_child("DefaultPolicy")
    for finding_id, reason in findings.items():
        acknowledge(policy, finding_id, reason)


def _report_statement(
    report_group: codebuild.ReportGroup, sid: str = "WriteUnitTestReports"
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=[
            "codebuild:CreateReport",
            "codebuild:UpdateReport",
            "codebuild:BatchPutTestCases",
            "codebuild:BatchPutCodeCoverages",
        ],
        resources=[report_group.report_group_arn],
    )
