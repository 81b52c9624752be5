"""How a new version of the upload function takes traffic.

API Gateway calls the alias `live`, never the function itself. Every deploy that changes
the function publishes a new version; CloudFormation then asks CodeDeploy to move the
alias to it using the stage's deployment config (`deploymentConfig` in cdk.json):
prod shifts 10 percent for 5 minutes, then everything; dev shifts everything at once.
While traffic shifts, CodeDeploy watches the error and latency alarms; if one fires,
it moves the alias back to the previous version and the stack update fails (and rolls
back), so the pipeline run stops there.

Both stages go through CodeDeploy, so dev exercises the same deployment group, role and
alarms a prod deploy uses; only the traffic-shifting config differs.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stages.settings import DEPLOYMENT_CONFIGS

LIVE_ALIAS_NAME = "live"
_C = codedeploy.LambdaDeploymentConfig
# The setting spells CodeDeploy's names as the AWS docs and console do; CDK's Python names differ.
_CONFIGS: dict[str, codedeploy.ILambdaDeploymentConfig] = {
    "ALL_AT_ONCE": _C.ALL_AT_ONCE,
    "CANARY_10PERCENT_5MINUTES": _C.CANARY_10_PERCENT_5_MINUTES,
    "CANARY_10PERCENT_10MINUTES": _C.CANARY_10_PERCENT_10_MINUTES,
    "CANARY_10PERCENT_15MINUTES": _C.CANARY_10_PERCENT_15_MINUTES,
    "CANARY_10PERCENT_30MINUTES": _C.CANARY_10_PERCENT_30_MINUTES,
    "LINEAR_10PERCENT_EVERY_1MINUTE": _C.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    "LINEAR_10PERCENT_EVERY_2MINUTES": _C.LINEAR_10_PERCENT_EVERY_2_MINUTES,
    "LINEAR_10PERCENT_EVERY_3MINUTES": _C.LINEAR_10_PERCENT_EVERY_3_MINUTES,
    "LINEAR_10PERCENT_EVERY_10MINUTES": _C.LINEAR_10_PERCENT_EVERY_10_MINUTES,
}
assert set(_CONFIGS) == set(DEPLOYMENT_CONFIGS)


def live_alias(scope: Construct, function: lambda_.Function) -> lambda_.Alias:
    """The alias API Gateway invokes; it points at the function's current version."""
    return lambda_.Alias(
        scope,
        "LiveAlias",
        alias_name=LIVE_ALIAS_NAME,
        version=function.current_version,
        description="What API Gateway invokes; CodeDeploy shifts it from version to version",
    )


def deployment_config(name: str) -> codedeploy.ILambdaDeploymentConfig:
    """CodeDeploy's predefined config for a `deploymentConfig` setting (validated in stages/settings.py)."""
    return _CONFIGS[name]


class AliasDeployment(Construct):
    """A CodeDeploy deployment group for the alias, with its own least-privilege service role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: lambda_.Alias,
        config_name: str,
        rollback_alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        # What CodeDeploy does for a Lambda deployment without hooks (the AWS managed policy
        # AWSCodeDeployRoleForLambdaLimited lists the same actions on "*"): read the alarms it
        # watches, read and move this one alias.
        function_arn = alias.version.lambda_.function_arn
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description="CodeDeploy: shift the upload function's live alias, watching its rollback alarms",
            inline_policies={
                "ShiftLiveAlias": iam.PolicyDocument(
                    statements=[
                        # Spelled out, not alias.function_arn: the alias's update waits for this
                        # group, so the group's role must not wait for the alias. GetAlias and
                        # UpdateAlias act on the function (the alias is the request's Name; the
                        # service authorization reference lists the function ARN for them), the
                        # provisioned-concurrency read on the alias ARN (tools/review_kit/iam validity).
                        iam.PolicyStatement(
                            sid="ShiftTheLiveAlias",
                            actions=["lambda:GetAlias", "lambda:UpdateAlias"],
                            resources=[function_arn],
                        ),
                        iam.PolicyStatement(
                            sid="ReadTheLiveAliasConcurrency",
                            actions=["lambda:GetProvisionedConcurrencyConfig"],
                            resources=[f"{function_arn}:{alias.alias_name}"],
                        ),
                        iam.PolicyStatement(
                            sid="WatchTheRollbackAlarms",
                            actions=["cloudwatch:DescribeAlarms"],
                            resources=[alarm.alarm_arn for alarm in rollback_alarms],
                        ),
                    ]
                )
            },
        )
        self.group = codedeploy.LambdaDeploymentGroup(
            self,
            "Group",
            alias=alias,
            deployment_config=deployment_config(config_name),
            alarms=list(rollback_alarms),
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
            # CDK attaches AWSCodeDeployRoleForLambdaLimited (every alias, every alarm) to any role
            # it may change; the inline policy above is all this deployment group needs.
            role=self.role.without_policy_updates(),
        )
