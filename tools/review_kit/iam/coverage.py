"""Does the CloudFormation execution policy allow every call CloudFormation makes for a template?

For each resource of a synthesized template, the calls are the handler permissions AWS
publishes in the CloudFormation resource schemas (cfn-lint ships them), each judged by
tools.review_kit.iam.evaluator with the ARN the call acts on and the request context it carries.

Which handler permissions apply (the rules, in order):
1. Handlers: create, read, update and delete, always. The pipeline updates every stack on every
   push (any property may change in a later commit), and a failed create or update rolls back
   through update and delete. `list` is not used by stack operations.
2. Tagging permissions (the schema's `tagging.permissions`) when the template tags the resource.
3. Each action is matched to what it acts on, from the service authorization reference
   (tools.review_kit.iam.reference): the resource's own ARNs and the ARNs of what its properties refer to
   (Ref, Fn::GetAtt, ARNs spelled out, and the Lambda code object). An action that acts on none of
   them serves a feature the template does not use (a layer, a VPC, a stream, a replica) and is
   left out; an action with no resource-level permissions needs `*` when its service is the
   resource's own or one the resource refers to.
4. `FEATURE_ACTIONS`: the own-service actions that serve one property, left out while the
   template does not set it (DynamoDB import, Kinesis streaming, replicas...); and
   `ONLY_WHEN_REMOVED`: iam:DeleteRolePermissionsBoundary, left out while the role keeps its boundary.
5. iam:AttachRolePolicy/DetachRolePolicy: once per managed policy the role lists (iam:PolicyARN).
Types whose schema lists no handler permissions (legacy types such as AWS::CodeBuild::Project)
take theirs from `LEGACY_HANDLERS` (from the service's API reference); AWS::CDK::Metadata makes
no call. Custom resources (Custom::*, AWS::CloudFormation::CustomResource): CloudFormation
invokes the ServiceToken with the execution role, so lambda:InvokeFunction (or sns:Publish) on
it; what the provider function itself does is its own role's business. A type in none of these
is reported as a gap with action `?`, so a new type cannot pass unexamined.

Request context: the action's own condition keys only (as the reference lists them):
aws:RequestTag/* and aws:TagKeys on the creating call and tagging calls, aws:ResourceTag/* on
calls on an existing resource (all services here tag at creation; API Gateway's children carry
their REST API's tags: tools.review_kit.iam.tags), kms:RotationPeriodInDays (the key's period) on
EnableKeyRotation, iam:PermissionsBoundary (the
role's boundary), iam:PolicyARN, iam:PassedToService (the service of the resource the role is
passed to), kms:ViaService on the KMS calls a service makes for the caller (`_KMS_VIA_SERVICE`),
plus aws:ResourceAccount and aws:SecureTransport. Bucket policies in the template are judged as
the bucket's resource policy (their Deny statements apply to the execution role too).

First deployment (`first_deployment=True`): KMS documents that a key's tags can take five minutes
to affect authorization, so the create-handler calls on the template's own keys are judged without
aws:ResourceTag (`_as_first_deployed`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from tools.common import assembly
from tools.review_kit.iam.arns import Env, Template, service_of
from tools.review_kit.iam.evaluator import ContextValue, Request, evaluate
from tools.review_kit.iam.reference import ActionInfo, action_info, arn_fits_format
from tools.review_kit.iam.tags import call_tags, template_tags

HANDLERS = ("create", "read", "update", "delete")
SCHEMA_REGION = "us-east-1"
CFN_EXEC_ROLE = "arn:{partition}:iam::{account}:role/cdk-{qualifier}-cfn-exec-role-{account}-{region}"

# Own-service actions that serve one property: left out while the template does not set it.
FEATURE_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "AWS::DynamoDB::Table": {
        "ImportSourceSpecification": ("dynamodb:ImportTable", "dynamodb:DescribeImport"),
        "KinesisStreamSpecification": (
            "dynamodb:EnableKinesisStreamingDestination",
            "dynamodb:DisableKinesisStreamingDestination",
            "dynamodb:DescribeKinesisStreamingDestination",
            "dynamodb:UpdateKinesisStreamingDestination",
        ),
        "ContributorInsightsSpecification": ("dynamodb:UpdateContributorInsights",),
        "ResourcePolicy": (
            "dynamodb:PutResourcePolicy",
            "dynamodb:DeleteResourcePolicy",
        ),
        # Replicas are AWS::DynamoDB::GlobalTable's; the Table handler lists them for imports.
        "Replicas": ("dynamodb:CreateTableReplica", "dynamodb:AssociateTableReplica"),
    },
    "AWS::Lambda::Function": {
        "ReservedConcurrentExecutions": ("lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"),
        # The handler's KMS calls encrypt the environment with a customer managed key: a key the
        # function only names in a variable (an ARN its code uses) is no KmsKeyArn.
        "KmsKeyArn": (
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:Encrypt",
            "kms:GenerateDataKey",
        ),
        "CodeSigningConfigArn": (
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
        ),
        "CapacityProviderConfig": ("lambda:PassCapacityProvider", "lambda:PutFunctionScalingConfig"),
        "RuntimeManagementConfig": ("lambda:PutRuntimeManagementConfig",),
        "RecursiveLoop": ("lambda:PutFunctionRecursionConfig",),
    },
    "AWS::Lambda::Version": {
        "ProvisionedConcurrencyConfig": ("lambda:PutProvisionedConcurrencyConfig",),
        "RuntimePolicy": ("lambda:PutRuntimeManagementConfig",),
        "FunctionScalingConfig": ("lambda:PutFunctionScalingConfig",),
    },
    "AWS::Lambda::Alias": {
        "ProvisionedConcurrencyConfig": (
            "lambda:PutProvisionedConcurrencyConfig",
            "lambda:DeleteProvisionedConcurrencyConfig",
        ),
    },
    "AWS::Logs::LogGroup": {
        "DataProtectionPolicy": ("logs:PutDataProtectionPolicy", "logs:DeleteDataProtectionPolicy"),
        "FieldIndexPolicies": ("logs:PutIndexPolicy", "logs:DeleteIndexPolicy"),
        "ResourcePolicyDocument": ("logs:PutResourcePolicy", "logs:DeleteResourcePolicy"),
        "BearerTokenAuthenticationEnabled": ("logs:PutBearerTokenAuthentication",),
        "DeletionProtectionEnabled": ("logs:PutLogGroupDeletionProtection",),
    },
    "AWS::S3::Bucket": {
        "ReplicationConfiguration": ("s3:PutBucketReplication", "s3:PutReplicationConfiguration"),
        "WebsiteConfiguration": ("s3:PutBucketWebsite", "s3:DeleteBucketWebsite"),
        "AccelerateConfiguration": ("s3:PutAccelerateConfiguration",),
        "AnalyticsConfigurations": ("s3:PutAnalyticsConfiguration", "s3:DeleteBucketAnalyticsConfiguration"),
        "InventoryConfigurations": ("s3:PutInventoryConfiguration",),
        "MetricsConfigurations": ("s3:PutMetricsConfiguration", "s3:DeleteBucketMetricsConfiguration"),
        "IntelligentTieringConfigurations": ("s3:PutIntelligentTieringConfiguration",),
        "ObjectLockConfiguration": ("s3:PutBucketObjectLockConfiguration", "s3:PutObjectLockConfiguration"),
        "NotificationConfiguration": ("s3:PutBucketNotification",),
        "CorsConfiguration": ("s3:PutBucketCORS", "s3:DeleteBucketCors"),
        "MetadataTableConfiguration": (
            "s3:CreateBucketMetadataTableConfiguration",
            "s3:DeleteBucketMetadataTableConfiguration",
            "s3:UpdateBucketMetadataJournalTableConfiguration",
            "s3:UpdateBucketMetadataInventoryTableConfiguration",
            "s3:UpdateBucketMetadataAnnotationTableConfiguration",
        ),
        "MetadataConfiguration": (
            "s3:CreateBucketMetadataTableConfiguration",
            "s3:DeleteBucketMetadataTableConfiguration",
        ),
        "AbacStatus": ("s3:PutBucketAbac",),
        "AccessControl": ("s3:PutBucketAcl",),
    },
}

# Calls a handler makes only when the template takes something away: the role update handler
# removes a boundary only when a template drops PermissionsBoundary from a role that had one.
# Every role here keeps it (tests/iam/test_guardrails.py) and both policies deny the call.
ONLY_WHEN_REMOVED: dict[str, dict[str, str]] = {
    "AWS::IAM::Role": {"iam:deleterolepermissionsboundary": "PermissionsBoundary"},
}

# Types whose schema lists no handler permissions: the calls CloudFormation makes, from the
# service's API reference (CreateProject/UpdateProject/DeleteProject/BatchGetProjects and the
# role it is given).
LEGACY_HANDLERS: dict[str, dict[str, tuple[str, ...]]] = {
    "AWS::CodeBuild::Project": {
        "create": ("codebuild:CreateProject", "iam:PassRole"),
        "read": ("codebuild:BatchGetProjects",),
        "update": ("codebuild:UpdateProject", "iam:PassRole"),
        "delete": ("codebuild:DeleteProject",),
    },
    "AWS::CDK::Metadata": {},  # CloudFormation keeps it; no service is called
}

# The service principal a role is passed to, for iam:PassedToService.
_PASSED_TO = {
    "apigateway": "apigateway.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "codedeploy": "codedeploy.amazonaws.com",
    "codebuild": "codebuild.amazonaws.com",
    "codepipeline": "codepipeline.amazonaws.com",
    "sns": "sns.amazonaws.com",
    "events": "events.amazonaws.com",
    # GuardDuty Malware Protection for S3 takes its role as this principal (GuardDuty User Guide,
    # "Permissions to pass the IAM role": iam:PassedToService).
    "guardduty": "malware-protection-plan.guardduty.amazonaws.com",
}

# Services whose handlers' KMS permissions are calls the service makes on the caller's behalf,
# so KMS sees kms:ViaService: DynamoDB checks a table's key and makes the table's grant
# (DynamoDB Developer Guide, "How Amazon DynamoDB uses AWS KMS").
_KMS_VIA_SERVICE = {"AWS::DynamoDB::Table": "dynamodb"}


@dataclass(frozen=True)
class Gap:
    """One call CloudFormation makes for a resource that the execution policy does not allow."""

    resource_type: str
    logical_id: str
    action: str
    resource: str
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class Call:
    """One call a handler makes: the action, what it acts on, its request context."""

    resource_type: str
    logical_id: str
    handler: str
    action: str
    resource: str
    context: Mapping[str, ContextValue]
    resource_policy: Mapping[str, Any] | None = None


@functools.cache
def _schema(resource_type: str) -> Mapping[str, Any] | None:
    try:
        return PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type).schema
    except Exception:  # cfn-lint raises its own ResourceNotFoundError for unknown types
        return None


def handler_actions(resource_type: str, tagged: bool) -> dict[str, tuple[str, ...]] | None:
    """handler -> actions, from the schema (or LEGACY_HANDLERS); None for a type nobody describes."""
    if resource_type in LEGACY_HANDLERS:
        return LEGACY_HANDLERS[resource_type]
    schema = _schema(resource_type)
    if schema is None:
        return None
    handlers = schema.get("handlers", {})
    found = {h: tuple(handlers.get(h, {}).get("permissions", [])) for h in HANDLERS}
    if not any(found.values()):
        return None
    if tagged:
        tagging = schema.get("tagging", {})
        permissions = tuple(tagging.get("permissions", [])) if isinstance(tagging, Mapping) else ()
        found["update"] = found["update"] + permissions
    return found


def _resolved(template: Template, value: Any) -> Any:
    """A policy document with every intrinsic resolved."""
    if isinstance(value, list):
        return [_resolved(template, v) for v in value]
    if isinstance(value, Mapping):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return template.resolve(value)
        return {k: _resolved(template, v) for k, v in value.items()}
    return value


class _Targets:
    """What a resource's calls may act on: ARN -> the logical id it belongs to (None: outside)."""

    def __init__(self, template: Template, logical_id: str) -> None:
        try:
            self.own = template.arns(logical_id)
            self.generic = False
        except KeyError:  # a type tools/review_kit/iam/arns.py has no rule for: fill the reference's formats
            self.own, self.generic = [], True
        self.by_arn: dict[str, str | None] = dict.fromkeys(self.own, logical_id)
        resource = template.resources[logical_id]
        scope = {
            "Properties": resource.get("Properties", {}),
            "UpdatePolicy": resource.get("UpdatePolicy", {}),
        }
        for ref in template.references(scope):
            try:
                arns = template.arns(ref)
            except KeyError:
                arns = []  # a type without a rule: its calls are checked on it, not through others
            for arn in arns:
                self.by_arn.setdefault(arn, ref)
            if template.type_of(ref) in ("AWS::Lambda::Alias", "AWS::Lambda::Version", "AWS::SNS::Topic"):
                self.by_arn.setdefault(template.ref(ref), ref)
        for arn in template.literal_arns(scope["Properties"]):
            self.by_arn.setdefault(arn, None)
        code = resource.get("Properties", {}).get("Code", {})
        if resource["Type"] == "AWS::Lambda::Function" and "S3Bucket" in code:
            bucket, key = template.resolve(code["S3Bucket"]), template.resolve(code["S3Key"])
            self.by_arn.setdefault(f"arn:{template.env.partition}:s3:::{bucket}/{key}", None)
        self.own_targets = {arn: self.by_arn[arn] for arn in self.own}
        self.referenced = {arn: owner for arn, owner in self.by_arn.items() if arn not in self.own}
        self.services = {arn.split(":")[2] for arn in self.referenced if arn.count(":") >= 5}


def calls(template: Template, logical_id: str) -> Iterator[Call | Gap]:
    """Every call CloudFormation makes for one resource (a Gap with action `?` if unknown)."""
    resource_type = template.type_of(logical_id)
    props = template.props(logical_id)
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        token = template.resolve(props["ServiceToken"])
        action = "sns:Publish" if token.split(":")[2] == "sns" else "lambda:InvokeFunction"
        for handler in ("create", "update", "delete"):
            yield Call(resource_type, logical_id, handler, action, token, {})
        return
    tags = template_tags(template, logical_id)
    handlers = handler_actions(resource_type, tagged=bool(tags))
    if handlers is None:
        yield Gap(resource_type, logical_id, "?", "?", "no handler permissions known for this type")
        return
    if not handlers:
        return
    unused = {
        action.lower()
        for prop, actions in FEATURE_ACTIONS.get(resource_type, {}).items()
        if prop not in props
        for action in actions
    } | {action for action, prop in ONLY_WHEN_REMOVED.get(resource_type, {}).items() if prop in props}
    targets = _Targets(template, logical_id)
    own_service = service_of(resource_type)
    for handler, actions in handlers.items():
        for action in dict.fromkeys(actions):
            info = action_info(action)
            if info is None or action.lower() in unused:
                continue  # not an IAM action (e.g. s3:REST.PUT.OBJECT), or a feature not used
            service = info.action.split(":")[0]
            if info.wildcard_only:
                if service == own_service or service in targets.services:
                    owner = logical_id if service == own_service else None
                    yield from _requests(template, resource_type, logical_id, handler, info, "*", owner)
                continue
            # The own service's calls act on the resource itself (its own ARNs include what it is
            # part of); another service's calls act on what the resource refers to.
            candidates = targets.own_targets if service == own_service else targets.referenced
            if service == own_service and targets.generic:
                candidates = {template.fill(logical_id, f): logical_id for f in info.formats}
            if service == "iam" and resource_type == "AWS::CodePipeline::Pipeline":
                # CodePipeline passes its own service role; the roles its actions name are assumed at
                # run time by that role (the deploy roles of `cdk bootstrap`), not passed.
                candidates = {arn: owner for arn, owner in candidates.items() if owner is not None}
            for arn, owner in candidates.items():
                if any(arn_fits_format(arn, f) for f in info.formats):
                    yield from _requests(template, resource_type, logical_id, handler, info, arn, owner)


def _requests(
    template: Template,
    resource_type: str,
    logical_id: str,
    handler: str,
    info: ActionInfo,
    arn: str,
    owner: str | None,
) -> Iterator[Call]:
    keys = {key.lower() for key in info.condition_keys}
    props = template.props(logical_id)
    context: dict[str, ContextValue] = {"aws:SecureTransport": True}
    if arn != "*":
        account = arn.split(":")[4] if arn.count(":") >= 5 else ""
        context["aws:ResourceAccount"] = account or template.env.account
    resource_tags, request_tags = call_tags(template, logical_id, handler, info.action, arn, owner)
    if "aws:resourcetag/${tagkey}" in keys:
        for key, value in resource_tags.items():
            context[f"aws:ResourceTag/{key}"] = value
    if "aws:requesttag/${tagkey}" in keys and request_tags:
        for key, value in request_tags.items():
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = list(request_tags)
    if "kms:rotationperiodindays" in keys and owner == logical_id and "RotationPeriodInDays" in props:
        # EnableKeyRotation sends the key's period (the KMS key handler passes the property)
        context["kms:RotationPeriodInDays"] = str(template.resolve(props["RotationPeriodInDays"]))
    if "kms:viaservice" in keys and resource_type in _KMS_VIA_SERVICE:
        context["kms:ViaService"] = f"{_KMS_VIA_SERVICE[resource_type]}.{template.env.region}.amazonaws.com"
    if "iam:permissionsboundary" in keys:
        boundary = _boundary_of(template, owner)
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
    if "iam:passedtoservice" in keys and service_of(resource_type) in _PASSED_TO:
        context["iam:PassedToService"] = _PASSED_TO[service_of(resource_type)]
    policy = _bucket_policy(template, arn)
    if "iam:policyarn" in keys:
        for managed in template.props(logical_id).get("ManagedPolicyArns", []):
            with_policy = {**context, "iam:PolicyARN": template.resolve(managed)}
            yield Call(resource_type, logical_id, handler, info.action, arn, with_policy, policy)
        return
    yield Call(resource_type, logical_id, handler, info.action, arn, context, policy)


def _boundary_of(template: Template, owner: str | None) -> str | None:
    """The permissions boundary of the role a call is about (an inline policy: its role's)."""
    if owner is None:
        return None
    if template.type_of(owner) == "AWS::IAM::Policy":
        roles = [ref for ref in template.references(template.props(owner).get("Roles", []))]
        owner = roles[0] if roles else None
        if owner is None:
            return None
    if template.type_of(owner) != "AWS::IAM::Role":
        return None
    boundary = template.props(owner).get("PermissionsBoundary")
    return template.resolve(boundary) if boundary is not None else None


def _bucket_policy(template: Template, arn: str) -> Mapping[str, Any] | None:
    """The template's bucket policy for the bucket `arn` is (or is an object of), if any."""
    if not arn.startswith(f"arn:{template.env.partition}:s3:::"):
        return None
    bucket = arn.split(":::", 1)[1].split("/", 1)[0]
    for logical_id, resource in template.resources.items():
        if (
            resource["Type"] == "AWS::S3::BucketPolicy"
            and template.resolve(resource["Properties"]["Bucket"]) == bucket
        ):
            return _resolved(template, template.props(logical_id)["PolicyDocument"])
    return None


def all_calls(model: Template) -> Iterator[Call | Gap]:
    for logical_id in model.resources:
        yield from calls(model, logical_id)


def _key_arns(model: Template) -> frozenset[str]:
    """The ARNs of the KMS keys the template creates."""
    return frozenset(
        arn
        for logical_id in model.resources
        if model.type_of(logical_id) == "AWS::KMS::Key"
        for arn in model.arns(logical_id)
    )


def _key_create_path(props: Mapping[str, Any]) -> frozenset[str]:
    """What AWS::KMS::Key's create handler calls (aws-cloudformation-resource-providers-kms):
    CreateKey with the policy and tags, EnableKeyRotation when asked, DisableKey when not Enabled.
    The schema also lists PutKeyPolicy for create; the handler passes the policy to CreateKey."""
    path = {"kms:CreateKey", "kms:TagResource"}
    if props.get("EnableKeyRotation") is True:
        path.add("kms:EnableKeyRotation")
    if props.get("Enabled") is False:
        path.add("kms:DisableKey")
    return frozenset(path)


def _as_first_deployed(template: Template, call: Call, new_keys: frozenset[str]) -> Call | None:
    """The call as the stack's first deployment makes it (None: that deployment does not make it).

    KMS documents that a tag can take up to five minutes to affect authorization. On the first
    deployment every create-handler call on one of the template's own keys (the key's own
    EnableKeyRotation, a table's grant on its key) falls inside that window: it is judged without
    aws:ResourceTag. Read, update and delete handlers run on later deployments.
    """
    if call.handler != "create" or call.resource not in new_keys:
        return call
    own_key = call.resource_type == "AWS::KMS::Key"
    if own_key and call.action not in _key_create_path(template.props(call.logical_id)):
        return None
    context = {k: v for k, v in call.context.items() if not k.startswith("aws:ResourceTag/")}
    return dataclasses.replace(call, context=context)


def missing_permissions(
    template: Mapping[str, Any],
    policy: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    stack_name: str,
    account: str,
    region: str,
    partition: str = "aws",
    boundary: Mapping[str, Any] | None = None,
    first_deployment: bool = False,
) -> list[Gap]:
    """The calls for `template` that `policy` (one document or several, as the execution role has
    them attached; within `boundary`, if the role has one) denies. With `first_deployment`, the
    create-handler calls on the template's own KMS keys are judged as the stack's first deployment
    makes them: before the keys' tags take effect. The caller is the execution role of the
    template's bootstrap qualifier."""
    policies = [policy] if isinstance(policy, Mapping) else list(policy)
    env = Env(stack_name, account, region, partition)
    qualifier = assembly.Template(template).bootstrap_qualifier
    principal = CFN_EXEC_ROLE.format(partition=partition, account=account, region=region, qualifier=qualifier)
    model = Template(template, env)
    new_keys = _key_arns(model) if first_deployment else frozenset()
    gaps: dict[Gap, None] = {}
    for call in all_calls(model):
        if isinstance(call, Gap):
            gaps[call] = None
            continue
        if new_keys:
            first = _as_first_deployed(model, call, new_keys)
            if first is None:
                continue
            call = first
        context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": account, **call.context}
        request = Request(call.action, call.resource, context, principal_arn=principal)
        decision = evaluate(request, policies, boundary=boundary, resource_policy=call.resource_policy)
        if not decision.allowed:
            gap = Gap(call.resource_type, call.logical_id, call.action, call.resource, decision.reason)
            gaps.setdefault(gap, None)
    return list(gaps)
