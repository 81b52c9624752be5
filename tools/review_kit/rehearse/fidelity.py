"""How faithfully a deploy created what the template says: each property read back and compared.

For every resource moto created (deploy.py read it back), each of its template properties is read
back through the resource's own API and compared with the template's value (as CloudFormation
resolved it): every key and list item the template gives must be in what the service answers.
A property is `applied` when it compares equal, `lost` when the service answers without it (or
otherwise), and `not proven` when this module has no read-back for it. A resource is *created as
written* only when it was created and every one of its properties was applied: nothing is counted
that was not read back.

Per deploy action (summary.json `resources`): total (template resources), createdAsWritten,
modelled (types emulator.py only models), propertiesLost ("Type LogicalId: Property, ..." for the
lost and the unproven, each marked).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tools.common import intrinsics
from tools.review_kit.rehearse import s3_readback
from tools.review_kit.rehearse.service_models import MODELS

MISSING = object()  # the service's answer has no such property
UNRESOLVED = "\u27e8unresolved attribute\u27e9"  # a Fn::GetAtt whose value the rehearsal does not know


@dataclass(frozen=True)
class Written(intrinsics.Deployed):
    """The template's values as CloudFormation resolved them, where the rehearsal knows them: Ref is
    the physical id; a Fn::GetAtt it cannot compute (a Version, a stage's attribute) is UNRESOLVED,
    and a property holding one is not proven (never compared with a guess)."""

    def get_att(self, logical_id: str, attribute: str) -> str:
        w, physical = self.where, self.ref(logical_id)
        if attribute == "Arn" and physical.startswith("arn:"):
            return physical  # a type whose Ref is its ARN (a CodeBuild report group)
        value = super().get_att(logical_id, attribute)
        if value != f"{physical}.{attribute}":
            return value
        # ARNs AWS (and moto) build from the physical id alone.
        arns = {
            "AWS::CodeBuild::Project": (
                f"arn:{w.partition}:codebuild:{w.region}:{w.account}:project/{physical}"
            ),
            "AWS::KMS::Key": f"arn:{w.partition}:kms:{w.region}:{w.account}:key/{physical}",
            "AWS::S3::Bucket": f"arn:{w.partition}:s3:::{physical}",
            "AWS::DynamoDB::Table": f"arn:{w.partition}:dynamodb:{w.region}:{w.account}:table/{physical}",
            "AWS::Logs::LogGroup": f"arn:{w.partition}:logs:{w.region}:{w.account}:log-group:{physical}:*",
            "AWS::SQS::Queue": f"arn:{w.partition}:sqs:{w.region}:{w.account}:{physical.rsplit('/', 1)[-1]}",
            # a rule on the default event bus, an alarm: by name (the Ref).
            "AWS::Events::Rule": f"arn:{w.partition}:events:{w.region}:{w.account}:rule/{physical}",
            "AWS::CloudWatch::Alarm": f"arn:{w.partition}:cloudwatch:{w.region}:{w.account}:alarm:{physical}",
        }
        resource_type = self.types.get(logical_id, "")
        if resource_type == "AWS::Lambda::Version" and attribute == "Version" and physical.count(":") == 7:
            return physical.rsplit(":", 1)[1]  # the Ref is the version's ARN, qualified by its number
        known = arns.get(resource_type)
        return known if attribute == "Arn" and known else UNRESOLVED


Reader = Callable[[Any, str, Mapping[str, Any]], dict[str, Any]]  # session, physical id, props


@dataclass
class Fidelity:
    total: int = 0
    created_as_written: list[str] = field(default_factory=list)
    modelled: list[str] = field(default_factory=list)
    lost: dict[str, list[str]] = field(default_factory=dict)  # label -> properties lost / unproven

    def by_rehearsal_models(self) -> int:
        """Of those created as written, how many are of a type moto's CloudFormation lacks, created in
        moto's own service by the rehearsal's model of it (service_models.py), not by moto's code."""
        return sum(1 for label in self.created_as_written if label.split(" ", 1)[0] in MODELS)

    def as_summary(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "createdAsWritten": len(self.created_as_written),
            "createdByRehearsalModels": self.by_rehearsal_models(),
            "modelled": len(self.modelled),
            "propertiesLost": [f"{label}: {', '.join(props)}" for label, props in sorted(self.lost.items())],
        }

    def line(self) -> str:
        share = 100 * len(self.created_as_written) / self.total if self.total else 0.0
        return (
            f"resources {self.total}: {len(self.created_as_written)} created as written ({share:.0f}%; "
            f"{self.by_rehearsal_models()} of them by the rehearsal's models of types moto lacks), "
            f"{len(self.modelled)} modelled, {len(self.lost)} created with properties lost or unproven"
        )


# The least share of a deployed stack's resources the rehearsal must create as written
# (docs/rehearsal.md): below it the emulator has stopped exercising what the rehearsal claims to,
# and the run fails naming the stack, even when every action passed.
FLOOR = 0.85


def below_floor(rows: list[dict[str, Any]], floor: float = FLOOR) -> list[str]:
    """One line per action whose stack was created as written below `floor` (summary.json rows)."""
    short = []
    for row in rows:
        resources = row.get("resources")
        if not resources or not resources.get("total"):
            continue
        share = resources["createdAsWritten"] / resources["total"]
        if share < floor:
            short.append(
                f"{row['stage']}/{row['action']}: {resources['createdAsWritten']} of {resources['total']} "
                f"resources created as written ({100 * share:.0f}%), below the rehearsal's floor of "
                f"{100 * floor:.0f}% (docs/rehearsal.md: what the emulator creates as written)"
            )
    return short


def contains(read: Any, written: Any) -> bool:
    """Whether the service's answer holds what the template wrote (keys and items it gives)."""
    if read is MISSING:
        return False
    if isinstance(written, str) and written[:1] in "{[" and not isinstance(read, str):
        with contextlib.suppress(ValueError):
            written = json.loads(written)
    if isinstance(read, str) and read[:1] in "{[" and not isinstance(written, str):
        try:
            read = json.loads(read)
        except ValueError:
            return False
    if isinstance(written, Mapping):
        return isinstance(read, Mapping) and all(
            k in read and contains(read[k], v) for k, v in written.items()
        )
    if isinstance(written, list):
        return isinstance(read, list) and all(any(contains(r, w) for r in read) for w in written)
    return str(read).lower() == str(written).lower()


def _tags(pairs: Any) -> list[dict[str, Any]]:
    """Tags as CloudFormation writes them (Key/Value), from any of the services' shapes."""
    if isinstance(pairs, Mapping):
        return [{"Key": k, "Value": v} for k, v in pairs.items()]
    return [
        {
            "Key": p.get("Key", p.get("key", p.get("TagKey"))),
            "Value": p.get("Value", p.get("value", p.get("TagValue"))),
        }
        for p in pairs
    ]


def _call(call: Callable[[], Any], default: Any = MISSING) -> Any:
    try:
        return call()
    except Exception:  # the service has no such configuration: the property was not applied
        return default


def _bucket(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    s3 = s.client("s3")
    return {
        "BucketEncryption": _call(
            lambda: s3_readback.encryption(
                s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
            )
        ),
        "VersioningConfiguration": _call(lambda: s3.get_bucket_versioning(Bucket=name)),
        "PublicAccessBlockConfiguration": _call(
            lambda: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        ),
        "LifecycleConfiguration": _call(
            lambda: s3_readback.lifecycle(s3.get_bucket_lifecycle_configuration(Bucket=name))
        ),
        "LoggingConfiguration": _call(lambda: s3_readback.logging(s3.get_bucket_logging(Bucket=name))),
        "NotificationConfiguration": _call(
            lambda: s3_readback.notification(s3.get_bucket_notification_configuration(Bucket=name))
        ),
        "OwnershipControls": _call(
            lambda: s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
        ),
        "Tags": _call(lambda: s3.get_bucket_tagging(Bucket=name)["TagSet"]),
    }


def _table(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    dynamodb = s.client("dynamodb")
    table = dynamodb.describe_table(TableName=name)["Table"]
    backups = _call(
        lambda: dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    )
    pitr = (backups or {}).get("PointInTimeRecoveryDescription", {}) if backups is not MISSING else {}
    ttl = _call(lambda: dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"])
    sse = table.get("SSEDescription") or {}
    return {
        "AttributeDefinitions": table.get("AttributeDefinitions", MISSING),
        "KeySchema": table.get("KeySchema", MISSING),
        "BillingMode": (table.get("BillingModeSummary") or {}).get("BillingMode", MISSING),
        "DeletionProtectionEnabled": table.get("DeletionProtectionEnabled", MISSING),
        "SSESpecification": {
            "SSEEnabled": sse.get("Status") == "ENABLED",
            "SSEType": sse.get("SSEType"),
            "KMSMasterKeyId": sse.get("KMSMasterKeyArn"),
        }
        if sse
        else MISSING,
        "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": pitr.get("PointInTimeRecoveryStatus") == "ENABLED"
        },
        "TimeToLiveSpecification": MISSING
        if ttl is MISSING or "AttributeName" not in ttl
        else {"AttributeName": ttl["AttributeName"], "Enabled": ttl.get("TimeToLiveStatus") == "ENABLED"},
        "Tags": _call(lambda: dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]),
    }


def _log_group(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    logs = s.client("logs")
    (group,) = [
        g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name
    ]
    arn = group["arn"].removesuffix(":*")
    return {
        "LogGroupName": group["logGroupName"],
        "RetentionInDays": group.get("retentionInDays", MISSING),
        "KmsKeyId": group.get("kmsKeyId", MISSING),
        "Tags": _call(lambda: _tags(logs.list_tags_for_resource(resourceArn=arn)["tags"])),
    }


def _function(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    client = s.client("lambda")
    found = client.get_function(FunctionName=name)
    config = found["Configuration"]
    return {
        "Code": found.get("Code", MISSING)
        and props.get("Code"),  # the code is there; its bytes are the asset
        "Handler": config.get("Handler", MISSING),
        "Runtime": config.get("Runtime", MISSING),
        "Role": config.get("Role", MISSING),
        "MemorySize": config.get("MemorySize", MISSING),
        "Timeout": config.get("Timeout", MISSING),
        "Description": config.get("Description", MISSING),
        "Environment": config.get("Environment", MISSING),
        "TracingConfig": config.get("TracingConfig", MISSING),
        "Architectures": config.get("Architectures", MISSING),
        "LoggingConfig": config.get("LoggingConfig", MISSING),
        "DeadLetterConfig": config.get("DeadLetterConfig", MISSING),
        "ReservedConcurrentExecutions": (found.get("Concurrency") or {}).get(
            "ReservedConcurrentExecutions", MISSING
        ),
        "Tags": _tags(found.get("Tags") or {}),
    }


def _role(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    iam = s.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    return {
        "AssumeRolePolicyDocument": role.get("AssumeRolePolicyDocument", MISSING),
        "Description": role.get("Description", MISSING),
        "MaxSessionDuration": role.get("MaxSessionDuration", MISSING),
        "PermissionsBoundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", MISSING),
        "ManagedPolicyArns": [a["PolicyArn"] for a in attached],
        "Policies": [
            {
                "PolicyName": n,
                "PolicyDocument": iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"],
            }
            for n in inline
        ],
        "RoleName": role["RoleName"],
        "Tags": role.get("Tags", MISSING),
    }


def _policy(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    iam = s.client("iam")
    roles = [
        role
        for role in props.get("Roles", [])
        if _call(partial(iam.get_role_policy, RoleName=role, PolicyName=props["PolicyName"])) is not MISSING
    ]
    document = iam.get_role_policy(RoleName=roles[0], PolicyName=props["PolicyName"])["PolicyDocument"]
    return {"PolicyName": props["PolicyName"], "Roles": roles, "PolicyDocument": document}


def _key(s: Any, key_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    kms = s.client("kms")
    key = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return {
        "Description": key.get("Description", MISSING),
        "EnableKeyRotation": _call(lambda: kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]),
        "RotationPeriodInDays": _call(
            lambda: kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"]
        ),
        "KeyPolicy": _call(lambda: kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]),
        "Tags": _call(lambda: _tags(kms.list_resource_tags(KeyId=key_id)["Tags"])),
    }


def _queue(s: Any, url: str, props: Mapping[str, Any]) -> dict[str, Any]:
    sqs = s.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {
        "MessageRetentionPeriod": attributes.get("MessageRetentionPeriod", MISSING),
        "SqsManagedSseEnabled": attributes.get("SqsManagedSseEnabled", MISSING),
        "Tags": _call(lambda: _tags(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}))),
    }


def _topic(s: Any, arn: str, props: Mapping[str, Any]) -> dict[str, Any]:
    sns = s.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    return {
        "DisplayName": attributes.get("DisplayName", MISSING),
        "KmsMasterKeyId": attributes.get("KmsMasterKeyId", MISSING),
        "Tags": _call(lambda: sns.list_tags_for_resource(ResourceArn=arn)["Tags"]),
    }


def _rest_api(s: Any, api_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
    api = s.client("apigateway").get_rest_api(restApiId=api_id)
    return {
        "Name": api.get("name", MISSING),
        "Description": api.get("description", MISSING),
        "EndpointConfiguration": {"Types": (api.get("endpointConfiguration") or {}).get("types", MISSING)},
        "Policy": api.get("policy", MISSING),
        "SecurityPolicy": api.get("securityPolicy", MISSING),
        "EndpointAccessMode": api.get("endpointAccessMode", MISSING),
        "Tags": _tags(api.get("tags") or {}),
    }


def _lambda_permission(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    function = str(props["FunctionName"])
    if ":function:" in function and function.count(":") == 6:
        function = function.split(":function:")[1]
    policy = json.loads(s.client("lambda").get_policy(FunctionName=function)["Policy"])
    statement: dict[str, Any] = next(
        (st for st in policy["Statement"] if st.get("Action") == props["Action"]), {}
    )
    principal = statement.get("Principal", {})
    return {
        "Action": statement.get("Action", MISSING),
        "FunctionName": props["FunctionName"] if statement else MISSING,
        "Principal": principal.get("Service", principal) if isinstance(principal, Mapping) else principal,
        "SourceArn": ((statement.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn", MISSING),
    }


def _alias(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
    alias = s.client("lambda").get_alias(FunctionName=props["FunctionName"], Name=props["Name"])
    return {
        "Name": alias["Name"],
        "FunctionName": props["FunctionName"],  # asked by it
        "FunctionVersion": alias.get("FunctionVersion", MISSING),
        "Description": alias.get("Description", MISSING),
    }


def _pipeline(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    from tools.review_kit.rehearse.pipeline_services import cfn_shape

    codepipeline = s.client("codepipeline")
    answer = codepipeline.get_pipeline(name=name)
    pipeline = cfn_shape(answer["pipeline"])
    arn = answer["metadata"]["pipelineArn"]
    read = {
        key: pipeline.get(key, MISSING) for key in props if key not in ("Tags", "RestartExecutionOnUpdate")
    }
    read["Tags"] = _call(lambda: _tags(codepipeline.list_tags_for_resource(resourceArn=arn)["tags"]))
    return read  # RestartExecutionOnUpdate: CodePipeline's API has no such field (not proven)


def _project(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    from tools.review_kit.rehearse.pipeline_services import cfn_shape

    (project,) = s.client("codebuild").batch_get_projects(names=[name])["projects"]
    read = {key: value for key, value in cfn_shape(project).items() if key != "Tags"}
    return {**read, "Tags": _tags(project.get("tags") or [])}


def _same_as_asked(*names: str) -> Reader:
    """Properties the read-back call itself is keyed by: the resource answering proves them."""

    def read(s: Any, physical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        return {name: props[name] for name in names if name in props}

    return read


def _logs_resource_policy(s: Any, name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    policies = s.client("logs").describe_resource_policies()["resourcePolicies"]
    (policy,) = [p for p in policies if p["policyName"] == name]
    return {"PolicyName": policy["policyName"], "PolicyDocument": policy["policyDocument"]}


READERS: dict[str, Reader] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::DynamoDB::Table": _table,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::ResourcePolicy": _logs_resource_policy,
    "AWS::Lambda::Function": _function,
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _policy,
    "AWS::KMS::Key": _key,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::Lambda::Permission": _lambda_permission,
    "AWS::Lambda::Alias": _alias,
    "AWS::Lambda::Version": _same_as_asked("FunctionName"),
    "AWS::ApiGateway::Resource": _same_as_asked("RestApiId"),
    "AWS::CodePipeline::Pipeline": _pipeline,
    "AWS::CodeBuild::Project": _project,
}


def compare(
    session: Any,
    resource_type: str,
    physical: str,
    props: Mapping[str, Any],
    readers: Mapping[str, Reader] = READERS,
) -> list[str]:
    """The template properties not applied ("X (lost)") or with no read-back ("X (not proven)")."""
    reader = readers.get(resource_type)
    if reader is None:
        return [f"{name} (not proven)" for name in sorted(props)]
    try:
        read = reader(session, physical, props)
    except Exception as error:  # the resource answered its existence check but not this read
        return [f"{name} (not proven: {type(error).__name__})" for name in sorted(props)]
    gaps = []
    for name, written in sorted(props.items()):
        if UNRESOLVED in json.dumps(written, default=str, ensure_ascii=False):  # not as \u27e8
            gaps.append(f"{name} (not proven: an attribute the rehearsal cannot resolve)")
        elif name not in read:
            gaps.append(f"{name} (not proven)")
        elif not contains(read[name], written):
            gaps.append(f"{name} (lost)")
    return gaps
