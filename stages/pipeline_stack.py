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
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import pipelines
from constructs import Construct

from stages.buckets import access_logs_bucket
from stages.connections import use_the_connections_prefix
from stages.encryption import customer_managed_key, log_group_key
from stages.nag import acknowledge, ignore_cfn_lint, skip_checkov
from stages.pipeline_settings import REPO_ROOT, PipelineSettings
from stages.settings import StageSettings
from stages.upload_stack import API_STAGE_NAME
from stages.upload_stage import UploadApiStage

BUILDSPEC_PATH = REPO_ROOT / "buildspec.yml"
# A push that changes only these starts nothing: a README-only push deploys nothing. Excludes,
# not includes: a V2 trigger takes at most 8 include paths, and a new code folder should deploy.
NON_DEPLOY_PATHS = ["*.md", "**/*.md", "docs/**", "LICENSE", ".gitignore", ".ci/**"]
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
# The synth build's peak is mypy's cold run, ~3.5 GB (tools/rehearse/measured.json): more than
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
VERIFY_COMMAND = "make verify-deployed MODE={mode}"
# The synth step's outputs: the cloud assembly the pipeline deploys, then the build's reports
# (security review, gate results, SBOMs, JUnit) kept as an artifact of every run for reviewers.
SYNTH_OUTPUT = "cdk.out"
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
                "CodeConnections connection ARN in cdk.json before deploying (README: First-time set-up).",
            )
        self.build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=log_group_key(self, "BuildLogsKey", "Encrypts the pipeline's CodeBuild logs"),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.artifact_bucket = self._artifact_bucket()
        self.unit_test_reports = codebuild.ReportGroup(
            self, "UnitTestReports", type=codebuild.ReportGroupType.TEST
        )
        # One test case per security finding (tools/review/junit.py): failed, acknowledged, skipped.
        self.security_findings_reports = codebuild.ReportGroup(
            self, "SecurityFindingsReports", type=codebuild.ReportGroupType.TEST
        )
        # buildspec.yml's reports, by name -> the report group each is bound to.
        self.synth_report_groups = {
            "UnitTests": self.unit_test_reports,
            "SecurityFindings": self.security_findings_reports,
        }
        self.buildspec = load_buildspec()
        # Verify step id -> (execute-api ARN, API stage ARN) it is granted; acknowledged per role below.
        self._verifier_arns: dict[str, tuple[str, str | None]] = {}
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

        self.dev_stage = UploadApiStage(
            self, "Dev", settings=dev, invoker_account_id=self._other_account_than_pipeline(dev)
        )
        self.pipeline.add_stage(self.dev_stage, post=[self._verify_step("dev", self.dev_stage, source)])
        self.approval_topic = self._approval_topic()
        self.prod_stage = UploadApiStage(
            self, "Prod", settings=prod, invoker_account_id=self._other_account_than_pipeline(prod)
        )
        self.pipeline.add_stage(
            self.prod_stage,
            pre=[
                pipelines.ManualApprovalStep(
                    "PromoteToProd",
                    comment="Dev is deployed and verified. Read the synth step's reports, then approve prod.",
                    notification_topic=self.approval_topic,
                )
            ],
            post=[self._verify_step("prod", self.prod_stage, source)],
        )
        self.pipeline.build_pipeline()
        self._run_generated_projects_on_pinned_node_tools()
        self._add_push_trigger()
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
            "commands": [f"npm ci --prefix {PIPELINE_TOOLS} --no-audit --no-fund"],
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
                "bind a new one to a report group in stages/pipeline_stack.py"
            )
        spec["reports"] = {
            self.synth_report_groups[name].report_group_arn: report for name, report in named.items()
        }
        return spec

    def _verify_step(
        self, mode: str, stage: UploadApiStage, source: pipelines.IFileSetProducer
    ) -> pipelines.Step:
        """The post-deploy verifier, allowed to call this stage's POST /upload and read its API config."""
        stack = stage.stack
        upload_arn = cdk.Arn.format(
            cdk.ArnComponents(
                service="execute-api",
                account=stack.account,
                region=stack.region,
                resource="*",  # the API id exists only once the stage is deployed
                resource_name=f"{API_STAGE_NAME}/POST/upload",
            ),
            stack,
        )
        step_id = f"Verify{mode.capitalize()}"
        env = {"STACK_NAME": stack.stack_name}
        stage_arn: str | None = None
        if self._other_account_than_pipeline(stack.settings) is None:
            stage_arn = (
                f"arn:{cdk.Aws.PARTITION}:apigateway:{stack.region}::/restapis/*/stages/{API_STAGE_NAME}"
            )
            read_config = iam.PolicyStatement(
                sid="ReadThisStagesApiConfig", actions=["apigateway:GET"], resources=[stage_arn]
            )
        else:
            # The API is in another account: read its stage through that account's CDK bootstrap
            # lookup role (read-only, trusted by the pipeline account with `cdk bootstrap --trust`).
            lookup_role = cdk.Arn.format(
                cdk.ArnComponents(
                    service="iam",
                    region="",
                    account=stack.account,
                    resource="role",
                    resource_name=f"cdk-{cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER}-lookup-role-"
                    f"{stack.account}-{stack.region}",
                ),
                stack,
            )
            env["STAGE_READ_ROLE_ARN"] = lookup_role
            read_config = iam.PolicyStatement(
                sid="ReadThisStagesApiConfigViaLookupRole",
                actions=["sts:AssumeRole"],
                resources=[lookup_role],
            )
        self._verifier_arns[step_id] = (upload_arn, stage_arn)
        reports = codebuild.ReportGroup(self, f"{step_id}Reports", type=codebuild.ReportGroupType.TEST)
        return pipelines.CodeBuildStep(
            step_id,
            input=source,
            env_from_cfn_outputs={
                "API_URL": stack.api_url_output,
                "UPLOAD_ENDPOINT": stack.upload_endpoint_output,
            },
            env=env,
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
                    sid="InvokeThisStagesUpload", actions=["execute-api:Invoke"], resources=[upload_arn]
                ),
                read_config,
                _report_statement(reports),
            ],
            timeout=cdk.Duration.minutes(20),
        )

    def _other_account_than_pipeline(self, settings: StageSettings) -> str | None:
        """The pipeline's account when `settings` deploys to another (explicit) account, else None."""
        pipeline_account = self.pipeline_settings.account
        if settings.account and pipeline_account and settings.account != pipeline_account:
            return pipeline_account
        return None

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
            # With approverEmails, the approval action's role publishes to the KMS-encrypted topic.
            if (
                self.approval_topic is not None
                and isinstance(role, iam.Role)
                and "/PromoteToProd/" in role.node.path
                and role.node.id == "CodePipelineActionRole"
            ):
                _acknowledge_all(role, {"AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": _APPROVAL_KEY})
        for project in _codebuild_projects(self):
            own = self._own_codebuild_resources(project)
            grants = artifact_write if project.node.path.endswith("/Synth/CdkBuildProject") else artifact_read
            extra: dict[str, str] = {}
            if project.node.id in self._verifier_arns:
                upload_arn, stage_arn = self._verifier_arns[project.node.id]
                extra = {self._finding(upload_arn): _VERIFIER_INVOKE}
                if stage_arn is not None:
                    extra[self._finding(stage_arn)] = _VERIFIER_READ
            if project.node.path.endswith("/SelfMutation"):
                extra = {
                    self._finding(f"arn:*:iam::{self.account}:role/*"): _SELF_MUTATION_ROLES,
                    "AwsSolutions-IAM5[Resource::*]": _SELF_MUTATION_LOOKUPS,
                }
            if "/Assets/" in project.node.path:
                continue  # the asset projects share one role, handled below
            _acknowledge_all(project.role, {**grants, **artifact_key, **own, **extra})
        file_role = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        assert isinstance(file_role, iam.Role)
        _acknowledge_all(
            file_role,
            {
                **artifact_read,
                "AwsSolutions-IAM5[Resource::*]": _ASSET_PUBLISHING,
                self._finding(f"{self._arn_prefix('logs')}:log-group:/aws/codebuild/*"): _OWN_LOGS,
                self._finding(f"{self._arn_prefix('codebuild')}:report-group/*"): _OWN_LOGS,
            },
        )
        skip_checkov(
            file_role.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "codebuild:StartBuild/StopBuild on '*' in the asset-publishing role CDK Pipelines generates: "
            "the role trusts only the CodeBuild service and is attached to this pipeline's asset projects "
            "(using it elsewhere needs iam:PassRole); it publishes through the CDK bootstrap "
            "file-publishing role.",
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
_VERIFIER_INVOKE = (
    "The verifier may invoke only POST /upload on the prod stage of an API in the stage's account "
    "and region; the API id is generated at deploy time, after the pipeline exists, so it is a wildcard."
)
_VERIFIER_READ = (
    "Read-only apigateway:GET of the stage configuration (throttling) of the deployed API; the API id "
    "is generated at deploy time, so it is a wildcard limited to the stage resource."
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
_ASSET_PUBLISHING = (
    "codebuild:StartBuild/BatchGetBuilds/StopBuild for the asset publishing actions CDK Pipelines "
    "generates; the role trusts only the CodeBuild service and is attached to this pipeline's asset "
    "projects (attaching it elsewhere needs iam:PassRole)."
)


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
