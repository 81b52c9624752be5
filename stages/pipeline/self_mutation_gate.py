"""The deployed pipeline gates its own changes: PipelineChangeGate, the stage just before UpdatePipeline.

Self-mutation (`cdk deploy` of the pipeline stack from the synth artifact) applies whatever the
commit's pipeline template says. So before it, the gate's CodeBuild project compares that template
with the deployed stack's (pipeline_change_check.py, inlined into the project's buildspec here at
synth, embedded.py: the copy that runs is the deployed one, and changing it is itself a pipeline
change this gate judges). A change a person must see (stages, action order, approvals, checks, IAM, trust,
a project's buildspec or role, a new resource, the CDK CLI lock) leaves PipelineChange.Confirm
waiting; no such change, and the check approves it itself, as ConfirmPermissionsBroadening's
auto-approver does (GetPipelineState for the approval's token, then PutApprovalResult).

The approval starts beside the check (same run order), not after it: the check's build must still be
running while the approval waits to approve it without a second principal (CDK's check hands that to
a Lambda function invoked asynchronously). A person who approves before the check has listed the
changes fails the stage (the check refuses an approval it did not see).

The gate runs only in a deployed pipeline: the pipeline's first deployment is a person's `cdk deploy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stages import compliance
from stages.guardrails import PIPELINE_QUALIFIER
from stages.pipeline import assembly_check, asset_content, pipeline_change_check
from stages.pipeline.embedded import write_out
from stages.pipeline.patches import artifact_digest
from stages.pipeline.patches.acknowledgements import APPROVAL_KEY_GRANT, acknowledge_grants
from stages.pipeline.patches.generated import (
    arn_prefix,
    as_list,
    expect,
    nag_resource,
    only,
    patch_of,
    rewrite_statements,
)
from stages.pipeline.settings import REPO_ROOT

GATE_STAGE = "PipelineChangeGate"
CHECK_ACTION = "PipelineChange.Check"
APPROVAL_ACTION = "PipelineChange.Confirm"
UPDATE_STAGE, SELF_MUTATE_ACTION = "UpdatePipeline", "SelfMutate"
CHECK_SCRIPT = Path(pipeline_change_check.__file__)
# The check's own modules, written out beside it (imported by these names): the assembly rules and
# the asset fingerprint they recompute.
ASSEMBLY_SCRIPT = Path(assembly_check.__file__)
RULE_SCRIPTS = (ASSEMBLY_SCRIPT, Path(asset_content.__file__))
# What the check reads: the pipeline tools `make synth` copies into the cloud assembly.
ARTIFACT_READ_GRANTS = ("Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*")
PIPELINE_TOOLS_SOURCES = {name: REPO_ROOT / name for name in assembly_check.PIPELINE_TOOLS_FILES}


def pipeline_tools_digest() -> str:
    return assembly_check.tools_digest(
        {name: path.read_bytes() for name, path in PIPELINE_TOOLS_SOURCES.items()}
    )


def gate_build_spec(script: Path = CHECK_SCRIPT, rules: tuple[Path, ...] = RULE_SCRIPTS) -> dict[str, object]:
    """Digest the artifact, write the check out, read the deployed template, judge; exit 10 leaves the
    approval to a person.

    The check runs from its own directory (a subshell), never the artifact's, and with -E -s: the
    artifact (which the commit fills) is no directory Python imports from or pyenv reads a version
    from; the only directory on sys.path besides the standard library's is the check's own."""
    check = (
        '(cd "$GATE_DIR" && python3 -E -s check.py --assembly "$CODEBUILD_SRC_DIR" '
        '--deployed "$GATE_DIR/deployed.json" '
        '--stack "$PIPELINE_STACK" --tools-digest "$PIPELINE_TOOLS_DIGEST" --qualifier "$PIPELINE_QUALIFIER" '
        '--approval "${CODEBUILD_INITIATOR#codepipeline/}/$GATE_STAGE/$APPROVAL_ACTION" '
        '--execution "$PIPELINE_EXECUTION_ID")'
    )
    return {
        "version": "0.2",
        # The artifact's digest, before any command runs, for the builds after the gate to check
        # (patches/artifact_digest.py): CodePipeline keeps it as #{PipelineChangeCheck.ARTIFACT_DIGEST}.
        "env": {"exported-variables": [artifact_digest.VARIABLE]},
        "phases": {
            "install": {"commands": [artifact_digest.compute_command()]},
            "build": {
                "commands": [
                    'GATE_DIR="$(mktemp -d)"',
                    write_out(script, '"$GATE_DIR/check.py"'),
                    *(write_out(module, f'"$GATE_DIR/{module.name}"') for module in rules),
                    'aws cloudformation get-template --stack-name "$PIPELINE_STACK" --query TemplateBody '
                    '--output json > "$GATE_DIR/deployed.json"',
                    f"{check} || [ $? -eq {pipeline_change_check.NEEDS_A_PERSON} ]",
                ]
            },
        },
    }


def gate_stage_project(
    scope: Construct,
    *,
    description: str,
    role: iam.IRole,
    build_spec: dict[str, object],
    variables: dict[str, str],
    build_logs: logs.ILogGroup,
    artifact_bucket: s3.IBucket,
    build_image: codebuild.IBuildImage,
    timeout: cdk.Duration,
) -> codebuild.PipelineProject:
    """The gate's check's project, or a who-approved build's (who_approved.py): its own role and
    inline buildspec, plain variables, SMALL, the artifact bucket's key, logs to the build log group."""
    return codebuild.PipelineProject(
        scope,
        "Project",
        description=description,
        role=role,
        build_spec=codebuild.BuildSpec.from_object(build_spec),
        environment=codebuild.BuildEnvironment(
            build_image=build_image, compute_type=codebuild.ComputeType.SMALL
        ),
        environment_variables={
            name: codebuild.BuildEnvironmentVariable(value=value) for name, value in variables.items()
        },
        encryption_key=artifact_bucket.encryption_key,
        logging=codebuild.LoggingOptions(
            cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)
        ),
        timeout=timeout,
    )


class SelfMutationGate(Construct):
    """The gate's project and role; `add_to` puts its stage into the built pipeline."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        build_logs: logs.ILogGroup,
        artifact_bucket: s3.IBucket,
        build_image: codebuild.IBuildImage,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.artifact_bucket = artifact_bucket
        self.stack_arn = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{stack.stack_name}/*"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=(
                f"CodeBuild role of {GATE_STAGE}: reads the pipeline stack's template, approves only "
                f"{APPROVAL_ACTION}; assumes no role"
            ),
        )
        self.project = gate_stage_project(
            self,
            description=f"{GATE_STAGE}: does the pipeline change self-mutation would apply need a person?",
            role=self.role,
            build_spec=gate_build_spec(),
            variables={
                "PIPELINE_STACK": stack.stack_name,
                "PIPELINE_TOOLS_DIGEST": pipeline_tools_digest(),
                # SelfMutate deploys through this bootstrap (the CDK default, as cdk.json leaves it).
                "PIPELINE_QUALIFIER": PIPELINE_QUALIFIER,
                "GATE_STAGE": GATE_STAGE,
                "APPROVAL_ACTION": APPROVAL_ACTION,
            },
            build_logs=build_logs,
            artifact_bucket=artifact_bucket,
            build_image=build_image,
            timeout=cdk.Duration.minutes(15),
        )

    @patch_of(f"pipeline stages ({UPDATE_STAGE}, where CDK Pipelines self-mutates)")
    def add_to(
        self, pipeline: codepipeline.Pipeline, approval_topic: sns.ITopic | None
    ) -> codepipeline.IStage:
        """The gate's stage just before UpdatePipeline, checking the artifact SelfMutate deploys."""
        update = only(
            (s for s in pipeline.stages if s.stage_name == UPDATE_STAGE), pipeline, f"{UPDATE_STAGE} stage"
        )
        self_mutate = only(
            (a for a in update.actions if a.action_properties.action_name == SELF_MUTATE_ACTION),
            pipeline,
            f"{SELF_MUTATE_ACTION} action in {UPDATE_STAGE}",
        )
        inputs = self_mutate.action_properties.inputs or []
        expect(len(inputs) == 1, pipeline, f"{SELF_MUTATE_ACTION} with one input artifact (the synth output)")
        stage = pipeline.add_stage(
            stage_name=GATE_STAGE,
            placement=codepipeline.StagePlacement(right_before=update),
            actions=[
                actions.CodeBuildAction(
                    action_name=CHECK_ACTION,
                    project=self.project,
                    input=inputs[0],
                    run_order=1,
                    variables_namespace=artifact_digest.NAMESPACE,
                    environment_variables={
                        "PIPELINE_EXECUTION_ID": codebuild.BuildEnvironmentVariable(
                            value="#{codepipeline.PipelineExecutionId}"
                        )
                    },
                ),
                actions.ManualApprovalAction(
                    action_name=APPROVAL_ACTION,
                    run_order=1,
                    notification_topic=approval_topic,
                    additional_information=(
                        f"The pipeline stack's template changed. {CHECK_ACTION}'s build log lists each "
                        "change this run's self-mutation would apply: approve once it has, and only if each "
                        "is expected."
                    ),
                ),
            ],
        )
        self._grant(pipeline)
        self._read_only_artifact_key()
        self._acknowledge(pipeline, approval_topic is not None)
        return stage

    def _grant(self, pipeline: codepipeline.Pipeline) -> None:
        """In a policy of its own: the pipeline names the project, so the role's default policy (which
        the project waits for) cannot name the pipeline."""
        iam.Policy(
            self,
            "ReadAndApprovePolicy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadThePipelineStacksTemplate",
                    actions=["cloudformation:GetTemplate"],
                    resources=[self.stack_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadThePipelinesState",
                    actions=["codepipeline:GetPipelineState"],
                    resources=[pipeline.pipeline_arn],
                ),
                iam.PolicyStatement(
                    sid="ApproveOnlyThePipelineChangeApproval",
                    actions=["codepipeline:PutApprovalResult"],
                    resources=[f"{pipeline.pipeline_arn}/{GATE_STAGE}/{APPROVAL_ACTION}"],
                ),
            ],
        )

    def _read_only_artifact_key(self) -> None:
        read_only_artifact_key(self.role)

    def _acknowledge(self, pipeline: codepipeline.Pipeline, approval_topic: bool) -> None:
        """Its own logs and its input artifact's read (as every read-only step's), its stack's read."""
        stack = cdk.Stack.of(self)
        name, own_logs = self.project.project_name, compliance.CODEBUILD_OWN_LOGS
        grants = {
            nag_resource(stack, f"{arn_prefix(stack, 'logs')}:log-group:/aws/codebuild/{name}:*"): own_logs,
            nag_resource(stack, f"{arn_prefix(stack, 'codebuild')}:report-group/{name}-*"): own_logs,
            nag_resource(stack, f"{self.artifact_bucket.bucket_arn}/*"): compliance.PIPELINE_ARTIFACTS,
            **{grant: compliance.PIPELINE_ARTIFACTS for grant in ARTIFACT_READ_GRANTS},
        }
        acknowledge_grants(self.role, grants)
        compliance.acknowledge(
            self.node.find_child("ReadAndApprovePolicy"),
            compliance.PIPELINE_CHANGE_GATE_READS_ITS_STACK,
            grant=nag_resource(stack, self.stack_arn),
        )
        approval_role = (
            pipeline.node.find_child(GATE_STAGE)
            .node.find_child(APPROVAL_ACTION)
            .node.try_find_child("CodePipelineActionRole")
        )
        if approval_topic and isinstance(approval_role, iam.Role):
            # The approval's role publishes to the KMS-encrypted approval topic, as PromoteToProd's does.
            acknowledge_grants(approval_role, {APPROVAL_KEY_GRANT: compliance.APPROVAL_TOPIC_KEY})


def read_only_artifact_key(role: iam.Role) -> None:
    """A build that only reads its input artifact: of its project's artifact key grant, Decrypt and
    DescribeKey."""
    narrowed: list[dict[str, Any]] = []

    def decrypt_only(statement: dict[str, Any]) -> dict[str, Any]:
        if "kms:Encrypt" in as_list(statement["Action"]):
            narrowed.append(statement)
            statement["Action"] = ["kms:Decrypt", "kms:DescribeKey"]
        return statement

    rewrite_statements(role, decrypt_only)
    expect(len(narrowed) == 1, role, "one artifact key statement granting kms:Encrypt and more")
