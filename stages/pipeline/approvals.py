"""Who may approve, and the record of every approval.

- `approver_policy`: what an approver may do, written once. The pipeline stack's role
  `UploadApiPipeline-Approver` carries it; `docs/approver-policy.json` is the same document with
  placeholders (`python -m stages.pipeline.approvals` writes it; a test keeps them equal).
- `approver_role`: that role, trusted only by `uploadApi.pipeline.approvers` (by `aws:PrincipalArn`,
  as the verifier roles are; IAM users only with MFA).
- `ApprovalRecord`: EventBridge rules that write every approval action's state change, and every
  `PutApprovalResult` call (who approved, from CloudTrail), to a KMS-encrypted log group; an alarm
  (sent to the approval topic, when there is one) when EventBridge fails to write a record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from stages import compliance
from stages.guardrails import APPROVER_ROLE_NAME
from stages.pipeline.patches.generated import nag_resource
from stages.pipeline.settings import REPO_ROOT
from stages.upload.observability import let_alarms_publish

# Every approval action of the pipeline, `<stage>/<action>`: the stack checks at synth that these are
# exactly the pipeline's (a renamed approval would leave the approvers locked out).
APPROVAL_ACTIONS = (
    "PipelineChangeGate/PipelineChange.Confirm",
    "Dev/DevPermissionsCheck.Confirm",
    "Prod/ProdPermissionsCheck.Confirm",
    "Prod/UploadApi.PromoteToProd",
)
# The upload stacks whose change sets an approver reads.
UPLOAD_STACKS = {"prod": "Prod-UploadApi", "dev": "Dev-UploadApi"}
# docs/approver-policy.json's placeholders, by parameter of approver_policy.
PLACEHOLDERS = {
    "partition": "aws",
    "region": "REGION",
    "pipeline_account": "PIPELINE_ACCOUNT",
    "pipeline_name": "PIPELINE_NAME",
    "build_logs_group": "BUILD_LOGS_GROUP",
    "dev_account": "DEV_ACCOUNT",
    "prod_account": "PROD_ACCOUNT",
}
DOCUMENTED_POLICY = REPO_ROOT / "docs" / "approver-policy.json"
APPROVAL_STATE_CHANGE = "CodePipeline Action Execution State Change"
CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"


def approver_policy(
    *,
    partition: str,
    region: str,
    pipeline_account: str,
    pipeline_name: str,
    build_logs_group: str,
    dev_account: str,
    prod_account: str,
) -> dict[str, Any]:
    """See the pipeline and its runs, approve or reject its approval actions, read the pipeline
    change check's log and the upload stacks' change sets. Nothing else."""
    pipeline = f"arn:{partition}:codepipeline:{region}:{pipeline_account}:{pipeline_name}"
    build_logs = f"arn:{partition}:logs:{region}:{pipeline_account}:log-group:{build_logs_group}:*"
    accounts = {"prod": prod_account, "dev": dev_account}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SeeThePipelineAndItsApprovals",
                "Effect": "Allow",
                "Action": [
                    "codepipeline:GetPipeline",
                    "codepipeline:GetPipelineState",
                    "codepipeline:GetPipelineExecution",
                    "codepipeline:ListPipelineExecutions",
                    "codepipeline:ListActionExecutions",
                ],
                "Resource": pipeline,
            },
            {
                "Sid": "ApproveOrRejectOnlyThisPipelinesApprovals",
                "Effect": "Allow",
                "Action": "codepipeline:PutApprovalResult",
                "Resource": [f"{pipeline}/{action}" for action in APPROVAL_ACTIONS],
            },
            {
                "Sid": "ReadThePipelineChangeChecksLog",
                "Effect": "Allow",
                "Action": ["logs:GetLogEvents", "logs:FilterLogEvents"],
                "Resource": build_logs,
            },
            {
                "Sid": "ReadTheChangeSetsOfTheUploadStacks",
                "Effect": "Allow",
                "Action": [
                    "cloudformation:DescribeChangeSet",
                    "cloudformation:ListChangeSets",
                    "cloudformation:DescribeStacks",
                ],
                "Resource": [
                    f"arn:{partition}:cloudformation:{region}:{accounts[stage]}:stack/{name}/*"
                    for stage, name in UPLOAD_STACKS.items()
                ],
            },
        ],
    }


def documented_approver_policy() -> str:
    """docs/approver-policy.json: the policy with placeholders, for a role the account makes itself."""
    return json.dumps(approver_policy(**PLACEHOLDERS), indent=2) + "\n"


def check_approval_actions(pipeline: codepipeline.Pipeline) -> None:
    """Fail synth when the pipeline's approval actions are not exactly APPROVAL_ACTIONS."""
    found = tuple(
        f"{stage.stage_name}/{action.action_properties.action_name}"
        for stage in pipeline.stages
        for action in stage.actions
        if action.action_properties.category == codepipeline.ActionCategory.APPROVAL
    )
    if sorted(found) != sorted(APPROVAL_ACTIONS):
        raise ValueError(
            f"stages/pipeline/approvals.py APPROVAL_ACTIONS {sorted(APPROVAL_ACTIONS)} must be the "
            f"pipeline's approval actions {sorted(found)}: the approver role approves exactly those"
        )


def approver_role(
    scope: Construct,
    *,
    approvers: Sequence[str],
    pipeline: codepipeline.Pipeline,
    build_logs: logs.LogGroup,
    dev_account: str,
    prod_account: str,
) -> iam.Role:
    """The role `approvers` assume to approve, holding exactly approver_policy."""
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope,
        "ApproverRole",
        role_name=APPROVER_ROLE_NAME,
        # Replaced below: CDK's trust statements cannot hold one condition over several accounts.
        assumed_by=iam.AccountRootPrincipal(),
        description="Approves or rejects the pipeline's approval actions; reads what they approve",
        max_session_duration=cdk.Duration.hours(1),
    )
    trust = role.node.default_child
    assert isinstance(trust, iam.CfnRole)
    trust.add_property_override("AssumeRolePolicyDocument", approver_trust_policy(approvers))
    compliance.acknowledge(role, compliance.APPROVER_TRUST)
    document = approver_policy(
        partition=stack.partition,
        region=stack.region,
        pipeline_account=stack.account,
        pipeline_name=pipeline.pipeline_name,
        build_logs_group=build_logs.log_group_name,
        dev_account=dev_account,
        prod_account=prod_account,
    )
    policy = iam.Policy(
        scope, "ApproverPolicy", document=iam.PolicyDocument.from_json(document), roles=[role]
    )
    _, _, build_log, change_sets = document["Statement"]
    compliance.acknowledge(
        policy, compliance.APPROVER_READS, grant=nag_resource(stack, build_log["Resource"])
    )
    for stack_arn in change_sets["Resource"]:
        compliance.acknowledge(policy, compliance.APPROVER_READS, grant=nag_resource(stack, stack_arn))
    return role


def approver_trust_policy(approvers: Sequence[str]) -> dict[str, Any]:
    """Each approver by aws:PrincipalArn (the trust survives a recreated principal, and IAM need not
    find it at deploy); IAM users only with MFA. A role's session carries no MFA key when it was
    federated (IAM Identity Center, SAML): its identity provider enforces MFA."""
    statements = []
    for kind, mfa in (("role", False), ("user", True)):
        arns = sorted(arn for arn in approvers if arn.split(":")[5].startswith(f"{kind}/"))
        if not arns:
            continue
        roots = sorted({f"arn:{arn.split(':')[1]}:iam::{arn.split(':')[4]}:root" for arn in arns})
        condition: dict[str, Any] = {"ArnEquals": {"aws:PrincipalArn": arns}}
        if mfa:
            condition["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
        statements.append(
            {
                "Sid": f"Approver{kind.capitalize()}s" + ("WithMfa" if mfa else ""),
                "Effect": "Allow",
                "Principal": {"AWS": roots},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """A log group as a rule's target, its resource policy written by the log group itself
    (CDK's CloudWatchLogGroup target writes it through a custom resource Lambda instead)."""

    def __init__(self, log_group: logs.LogGroup) -> None:
        self.log_group = log_group

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        stack = cdk.Stack.of(self.log_group)
        arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        return events.RuleTargetConfig(arn=arn)


class ApprovalRecord(Construct):
    """Every approval of this pipeline in one log group: the action's state changes (CodePipeline's
    events), and each PutApprovalResult call with who made it (CloudTrail's, which reach EventBridge
    only when a trail records management events in this region)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: codepipeline.Pipeline,
        key: kms.IKey,
        topic: sns.Topic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Log",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.state_rule = events.Rule(
            self,
            "StateChanges",
            description="Every state change of the pipeline's approval actions (waiting, approved, rejected)",
            event_pattern=events.EventPattern(
                source=["aws.codepipeline"],
                detail_type=[APPROVAL_STATE_CHANGE],
                detail={"pipeline": [pipeline.pipeline_name], "type": {"category": ["Approval"]}},
            ),
        )
        self.call_rule = events.Rule(
            self,
            "ApprovalCalls",
            description="Every PutApprovalResult call on the pipeline, with the caller (CloudTrail)",
            event_pattern=events.EventPattern(
                source=["aws.codepipeline"],
                detail_type=[CLOUDTRAIL_API_CALL],
                detail={
                    "eventSource": ["codepipeline.amazonaws.com"],
                    "eventName": ["PutApprovalResult"],
                    "requestParameters": {"pipelineName": [pipeline.pipeline_name]},
                },
            ),
        )
        target = _LogGroupTarget(self.log_group)
        for rule in (self.state_rule, self.call_rule):
            rule.add_target(target)
            compliance.acknowledge(rule, compliance.APPROVAL_RECORD_NO_DLQ)
        # What EventBridge needs to write to a log group (a log group target uses no role).
        self.log_group.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeWritesTheApprovalRecord",
                principals=[
                    iam.ServicePrincipal("events.amazonaws.com"),
                    iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                ],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.undelivered_alarm = self._undelivered_alarm()
        if topic is not None:
            let_alarms_publish(topic)
            self.undelivered_alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

    def _undelivered_alarm(self) -> cloudwatch.Alarm:
        """A record EventBridge could not write (the log group's key or resource policy broke it):
        without it an approval leaves no trace, so one failed delivery is an alarm."""
        failed = cloudwatch.MathExpression(
            expression="state + calls",
            using_metrics={
                name: cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="FailedInvocations",
                    dimensions_map={"RuleName": rule.rule_name},
                    statistic="Sum",
                    period=cdk.Duration.minutes(5),
                )
                for name, rule in (("state", self.state_rule), ("calls", self.call_rule))
            },
            label="Approval records not written",
            period=cdk.Duration.minutes(5),
        )
        return cloudwatch.Alarm(
            self,
            "Undelivered",
            metric=failed,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                "EventBridge failed to write an approval record to the approval log group: an approval "
                "may have left no trace. Read the rules' targets, the log group's resource policy and its "
                "key (docs/pipeline.md, approvals)."
            ),
        )


if __name__ == "__main__":
    DOCUMENTED_POLICY.write_text(documented_approver_policy(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOCUMENTED_POLICY.relative_to(REPO_ROOT)}\n")
