"""The names and ARNs a synthesized template's resources will get, before they exist.

CloudFormation names a resource whose template gives it no name: `{stack}-{logicalId}-{suffix}`
(stack name and logical id cut to fit the service's length limit, suffix 12 random
characters; S3 lowercases it). Random parts (KMS key ids, REST API ids, suffixes) are fixed
placeholders here: every policy we check scopes by the parts CloudFormation makes
predictable (prefix, account, region) or by tags, never by a random part.

Exception: CodeBuild projects and report groups get `{logicalId}-{suffix}` without the stack
name (what CloudFormation does for CodeBuild), so no name prefix can scope them; policies scope
them by the app's tag instead.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tools.common import assembly, intrinsics
from tools.common.intrinsics import TemplateValue

SUFFIX = "RANDOMSUFFIX"
KEY_ID = "00000000-0000-0000-0000-000000000000"
REST_API_ID = "restapiid0"
PLAN_ID = "0123456789abcdef0123"  # GuardDuty malware protection plan ids are random
CHILD_ID = "x1y2z3"


@dataclass(frozen=True)
class Env:
    """Where a stack is deployed: its CloudFormation stack name, account, region, partition."""

    stack_name: str
    account: str
    region: str
    partition: str = "aws"


# type -> (longest name the service allows, lowercase, property that names it, stack prefix)
_NAMING: dict[str, tuple[int, bool, str | None, bool]] = {
    "AWS::S3::Bucket": (63, True, "BucketName", True),
    "AWS::IAM::Role": (64, False, "RoleName", True),
    "AWS::Lambda::Function": (64, False, "FunctionName", True),
    "AWS::DynamoDB::Table": (255, False, "TableName", True),
    "AWS::Logs::LogGroup": (512, False, "LogGroupName", True),
    "AWS::SNS::Topic": (256, False, "TopicName", True),
    "AWS::Events::Rule": (64, False, "Name", True),
    "AWS::CloudWatch::Alarm": (255, False, "AlarmName", True),
    "AWS::CloudWatch::Dashboard": (255, False, "DashboardName", True),
    "AWS::CodeDeploy::Application": (100, False, "ApplicationName", True),
    "AWS::CodeDeploy::DeploymentGroup": (100, False, "DeploymentGroupName", True),
    "AWS::CodePipeline::Pipeline": (100, False, "Name", True),
    "AWS::CodeBuild::Project": (255, False, "Name", False),
    "AWS::CodeBuild::ReportGroup": (128, False, "Name", False),
    "AWS::ApiGateway::Model": (255, False, "Name", False),
    "AWS::ApiGateway::Stage": (128, False, "StageName", False),
    "AWS::SQS::Queue": (80, False, "QueueName", True),
}

# What an unnamed resource's Ref returns when it is not its name (CloudFormation docs, per type).
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::CodeBuild::ReportGroup"}
_SERVICE = re.compile(r"^AWS::(\w+)::")


def generated_name(env: Env, logical_id: str, resource_type: str) -> str:
    max_length, lowercase, _, with_stack = _NAMING.get(resource_type, (255, False, None, True))
    head = f"{env.stack_name}-" if with_stack else ""
    room = max_length - len(head) - len(SUFFIX) - 1
    name = f"{head}{logical_id[:room]}-{SUFFIX}"
    return name.lower() if lowercase else name


class Template(assembly.Template, intrinsics.Policy):
    """One synthesized template, its resources' names and ARNs, and its intrinsics resolved: the
    resolution policy of the IAM checks (the values CloudFormation will give, before they exist)."""

    def __init__(self, template: Mapping[str, Any], env: Env) -> None:
        super().__init__(template)
        self.env = env
        self._account = intrinsics.Account(env.account, env.region, env.partition, env.stack_name)

    # -- names and ARNs ------------------------------------------------------------------------

    def name(self, logical_id: str) -> str:
        """The physical name: the one the template sets, else CloudFormation's generated one."""
        resource_type = self.type_of(logical_id)
        naming = _NAMING.get(resource_type)
        if naming and naming[2] and naming[2] in self.props(logical_id):
            return self.resolve(self.props(logical_id)[naming[2]])
        return generated_name(self.env, logical_id, resource_type)

    def arns(self, logical_id: str) -> list[str]:
        """The ARNs a handler's calls on this resource act on: its own first, then what it is part of."""
        e, t, p = self.env, self.type_of(logical_id), self.props(logical_id)
        head = f"arn:{e.partition}"
        region_account = f"{e.region}:{e.account}"
        if t.startswith("AWS::ApiGateway::"):
            return self._api_gateway_arns(logical_id)
        match t:
            case "AWS::S3::Bucket":
                return [f"{head}:s3:::{self.name(logical_id)}"]
            case "AWS::S3::BucketPolicy":
                return [f"{head}:s3:::{self.resolve(p['Bucket'])}"]
            case "AWS::IAM::Role":
                return [f"{head}:iam::{e.account}:role{p.get('Path', '/')}{self.name(logical_id)}"]
            case "AWS::IAM::Policy":
                return [f"{head}:iam::{e.account}:role/{self.resolve(role)}" for role in p.get("Roles", [])]
            case "AWS::KMS::Key":
                return [f"{head}:kms:{region_account}:key/{KEY_ID}"]
            case "AWS::Lambda::Function":
                return [f"{head}:lambda:{region_account}:function:{self.name(logical_id)}"]
            case (
                "AWS::Lambda::Version"
                | "AWS::Lambda::Alias"
                | "AWS::Lambda::Permission"
                | "AWS::Lambda::EventInvokeConfig"
            ):  # EventInvokeConfig's calls act on the function (the reference lists no qualified form)
                return [self._function_arn(p["FunctionName"])]
            case "AWS::DynamoDB::Table":
                return [f"{head}:dynamodb:{region_account}:table/{self.name(logical_id)}"]
            case "AWS::Logs::LogGroup":
                return [f"{head}:logs:{region_account}:log-group:{self.name(logical_id)}"]
            case "AWS::Logs::MetricFilter":
                return [f"{head}:logs:{region_account}:log-group:{self.resolve(p['LogGroupName'])}"]
            case "AWS::Logs::QueryDefinition":
                return ["*"]
            case "AWS::SNS::Topic":
                return [f"{head}:sns:{region_account}:{self.name(logical_id)}"]
            case "AWS::SQS::Queue":
                return [f"{head}:sqs:{region_account}:{self.name(logical_id)}"]
            case "AWS::SQS::QueuePolicy":  # Queues are queue URLs (a queue's Ref)
                return [self._queue_arn(self.resolve(queue)) for queue in p.get("Queues", [])]
            case "AWS::GuardDuty::MalwareProtectionPlan":
                return [f"{head}:guardduty:{region_account}:malware-protection-plan/{PLAN_ID}"]
            case "AWS::SNS::TopicPolicy":
                return [self.resolve(topic) for topic in p.get("Topics", [])]
            case "AWS::CloudWatch::Alarm":
                return [f"{head}:cloudwatch:{region_account}:alarm:{self.name(logical_id)}"]
            case "AWS::CloudWatch::Dashboard":
                return [f"{head}:cloudwatch::{e.account}:dashboard/{self.name(logical_id)}"]
            case "AWS::CodeDeploy::Application":
                return [f"{head}:codedeploy:{region_account}:application:{self.name(logical_id)}"]
            case "AWS::CodeDeploy::DeploymentGroup":
                application = self.resolve(p["ApplicationName"])
                config = self.resolve(p.get("DeploymentConfigName", "CodeDeployDefault.OneAtATime"))
                return [
                    f"{head}:codedeploy:{region_account}:deploymentgroup:{application}/{self.name(logical_id)}",
                    f"{head}:codedeploy:{region_account}:application:{application}",
                    f"{head}:codedeploy:{region_account}:deploymentconfig:{config}",
                ]
            case "AWS::Events::Rule":  # on the default event bus (the template names no other)
                return [f"{head}:events:{region_account}:rule/{self.name(logical_id)}"]
            case "AWS::CodePipeline::Pipeline":
                return [f"{head}:codepipeline:{region_account}:{self.name(logical_id)}"]
            case "AWS::CodeBuild::Project":
                return [f"{head}:codebuild:{region_account}:project/{self.name(logical_id)}"]
            case "AWS::CodeBuild::ReportGroup":
                return [f"{head}:codebuild:{region_account}:report-group/{self.name(logical_id)}"]
        raise KeyError(f"no ARN rule for {t} ({logical_id}): add one to tools/review_kit/iam/arns.py")

    def _api_gateway_arns(self, logical_id: str) -> list[str]:
        """API Gateway's resources are paths under the REST API's (`/restapis/{id}/...`); the taggable
        ones (the REST API, a stage) also the `/tags/...` ARN their tag calls act on."""
        e, t, p = self.env, self.type_of(logical_id), self.props(logical_id)
        rest_api = f"arn:{e.partition}:apigateway:{e.region}::/restapis"
        match t:
            case "AWS::ApiGateway::RestApi":
                api = f"{rest_api}/{REST_API_ID}"
                return [api, rest_api, self._tags_arn(api)]
            case "AWS::ApiGateway::Account":
                return [f"arn:{e.partition}:apigateway:{e.region}::/account"]
            case "AWS::ApiGateway::Stage":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                stage = f"{api}/stages/{self.name(logical_id)}"
                return [stage, f"{api}/stages", api, self._tags_arn(stage)]
            case "AWS::ApiGateway::Deployment":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                return [f"{api}/deployments/{CHILD_ID}", f"{api}/deployments", f"{api}/stages", api]
            case "AWS::ApiGateway::Resource":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                return [f"{api}/resources/{CHILD_ID}", f"{api}/resources", api]
            case "AWS::ApiGateway::Method":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                method = f"{api}/resources/{self.resolve(p['ResourceId'])}/methods/{p['HttpMethod']}"
                return [method, f"{api}/resources/{self.resolve(p['ResourceId'])}", api]
            case "AWS::ApiGateway::Model":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                return [f"{api}/models/{self.name(logical_id)}", f"{api}/models", api]
            case "AWS::ApiGateway::GatewayResponse":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                response = f"{api}/gatewayresponses/{self.resolve(p['ResponseType'])}"
                return [response, f"{api}/gatewayresponses", api]
            case "AWS::ApiGateway::RequestValidator":
                api = f"{rest_api}/{self.resolve(p['RestApiId'])}"
                return [f"{api}/requestvalidators/{CHILD_ID}", f"{api}/requestvalidators", api]
        raise KeyError(f"no ARN rule for {t} ({logical_id}): add one to tools/review_kit/iam/arns.py")

    def _tags_arn(self, arn: str) -> str:
        """What API Gateway's TagResource/UntagResource/GetTags act on: `/tags/{the URL-encoded ARN}`."""
        e = self.env
        return f"arn:{e.partition}:apigateway:{e.region}::/tags/{urllib.parse.quote(arn, safe='')}"

    def fill(self, logical_id: str, arn_format: str) -> str:
        """A reference ARN format filled for a type without a rule above: its name in every slot."""
        e = self.env
        known = {"Partition": e.partition, "Region": e.region, "Account": e.account}
        name = self.name(logical_id)
        return re.sub(r"\$\{([^}]+)\}", lambda m: known.get(m.group(1), name), arn_format)

    def _function_arn(self, function_name: TemplateValue) -> str:
        value = self.resolve(function_name)
        if value.startswith("arn:"):
            return value
        e = self.env
        return f"arn:{e.partition}:lambda:{e.region}:{e.account}:function:{value}"

    def _queue_arn(self, queue_url: str) -> str:
        """`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` -> the queue's ARN."""
        account, name = queue_url.rstrip("/").split("/")[-2:]
        return f"arn:{self.env.partition}:sqs:{self.env.region}:{account}:{name}"

    def ref(self, logical_id: str) -> str:
        resource_type = self.type_of(logical_id)
        if resource_type == "AWS::SQS::Queue":  # a queue's Ref is its URL
            e = self.env
            return f"https://sqs.{e.region}.amazonaws.com/{e.account}/{self.name(logical_id)}"
        if resource_type == "AWS::GuardDuty::MalwareProtectionPlan":  # Ref: the plan id
            return PLAN_ID
        if resource_type in _REF_IS_ARN:
            if resource_type == "AWS::Lambda::Alias":
                props = self.props(logical_id)
                return f"{self._function_arn(props['FunctionName'])}:{self.resolve(props['Name'])}"
            if resource_type == "AWS::Lambda::Version":
                return f"{self._function_arn(self.props(logical_id)['FunctionName'])}:1"
            return self.arns(logical_id)[0]
        if resource_type == "AWS::KMS::Key":
            return KEY_ID
        if resource_type == "AWS::ApiGateway::RestApi":
            return REST_API_ID
        if resource_type.startswith("AWS::ApiGateway::") and resource_type not in _NAMING:
            return CHILD_ID
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.type_of(logical_id)
        if attribute == "Arn":
            if resource_type == "AWS::Logs::LogGroup":  # CloudFormation's log group Arn ends in ":*"
                return f"{self.arns(logical_id)[0]}:*"
            return self.ref(logical_id) if resource_type in _REF_IS_ARN else self.arns(logical_id)[0]
        if attribute == "RootResourceId":
            return CHILD_ID
        if attribute == "KeyId":
            return KEY_ID
        if attribute in ("RoleId", "Id"):
            return f"ID{logical_id}"[:21].upper()
        return f"{self.ref(logical_id)}.{attribute}"

    # -- intrinsic functions ---------------------------------------------------------------------

    def pseudo(self, name: str) -> str | None:
        return self._account.pseudo(name)

    def resolve(self, value: TemplateValue) -> str:
        """A template value as the string it will be at deploy time (intrinsics evaluated)."""
        return intrinsics.resolve(value, self)

    def references(self, value: TemplateValue) -> Iterator[str]:
        """Logical ids a template value refers to (Ref, Fn::GetAtt, ${Id} in Fn::Sub)."""
        return intrinsics.references(value, self.resources)

    def literal_arns(self, value: TemplateValue) -> Iterator[str]:
        """ARN strings in a template value (after resolving joins) that name no template resource."""
        if isinstance(value, Mapping):
            if len(value) == 1 and next(iter(value)) in ("Fn::Join", "Fn::Sub"):
                try:
                    text = self.resolve(value)
                except (ValueError, KeyError):
                    return
                if text.startswith("arn:"):
                    yield text
                return
            for item in value.values():
                yield from self.literal_arns(item)
        elif isinstance(value, list):
            for item in value:
                yield from self.literal_arns(item)
        elif isinstance(value, str) and value.startswith("arn:"):
            yield value


def service_of(resource_type: str) -> str:
    """`AWS::CodeDeploy::Application` -> `codedeploy` (the IAM prefix of the type's own actions)."""
    match = _SERVICE.match(resource_type)
    return match.group(1).lower() if match else ""
