"""The CloudFormation deploy actions: change sets with the named roles, then every resource checked.

As CodePipeline's CloudFormation action does: CHANGE_SET_REPLACE (delete a change set of that
name, create one from the artifact's template with the action's capabilities and execution
role) and CHANGE_SET_EXECUTE (execute it, wait for the stack). Calls are made with the
credentials of the action's role (the CDK bootstrap deploy role), assumed through STS.

A stack status is not trusted: every resource of the template must exist, checked through its
own service's API, or be one of the types the emulator models (listed as `emulated, not
deployed`). A resource moto skipped, or recorded after a failed call, fails the action by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.common import assembly, intrinsics
from tools.review_kit.rehearse import emulator, fidelity, service_readers

WAIT_SECONDS = 120
TEMPLATE_BODY_LIMIT = 51_200  # CloudFormation's TemplateBody limit; larger goes through S3


class DeployFailed(Exception):
    pass


@dataclass
class StackCheck:
    deployed: list[str] = field(default_factory=list)  # "Type LogicalId"
    emulated: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "Type LogicalId: why"
    fidelity: fidelity.Fidelity = field(default_factory=fidelity.Fidelity)  # properties read back


def assume(session: Any, role_arn: str, name: str) -> Any:
    import boto3

    credentials = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def create_change_set(
    session: Any,
    *,
    stack_name: str,
    change_set_name: str,
    template: Mapping[str, Any],
    capabilities: list[str],
    execution_role_arn: str,
    upload_bucket: str,
    upload_session: Any = None,
) -> None:
    cloudformation = session.client("cloudformation")
    if emulator.existing_change_set(cloudformation, stack_name, change_set_name):
        cloudformation.delete_change_set(StackName=stack_name, ChangeSetName=change_set_name)
    body = json.dumps(template)
    source: dict[str, str] = {"TemplateBody": body}
    if len(body) > TEMPLATE_BODY_LIMIT:
        key = f"rehearsal/{stack_name}/{int(time.time() * 1000)}.template.json"
        (upload_session or session).client("s3").put_object(Bucket=upload_bucket, Key=key, Body=body.encode())
        source = {"TemplateURL": f"{emulator_s3_url()}/{upload_bucket}/{key}"}
    exists = _stack_status(cloudformation, stack_name) not in (None, "REVIEW_IN_PROGRESS")
    cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=change_set_name,
        ChangeSetType="UPDATE" if exists else "CREATE",
        Capabilities=capabilities,
        RoleARN=execution_role_arn,
        **source,
    )
    _wait(
        lambda: cloudformation.describe_change_set(StackName=stack_name, ChangeSetName=change_set_name)[
            "Status"
        ],
        done={"CREATE_COMPLETE"},
        failed={"FAILED"},
        what=f"change set {change_set_name} of {stack_name}",
    )


def execute_change_set(session: Any, *, stack_name: str, change_set_name: str) -> dict[str, str]:
    """Execute and wait; the stack's outputs (the action's namespace variables)."""
    cloudformation = session.client("cloudformation")
    cloudformation.execute_change_set(StackName=stack_name, ChangeSetName=change_set_name)
    _wait(
        lambda: _stack_status(cloudformation, stack_name) or "MISSING",
        done={"CREATE_COMPLETE", "UPDATE_COMPLETE"},
        failed={
            "CREATE_FAILED",
            "ROLLBACK_COMPLETE",
            "ROLLBACK_FAILED",
            "UPDATE_ROLLBACK_COMPLETE",
            "UPDATE_ROLLBACK_FAILED",
            "MISSING",
        },
        what=f"stack {stack_name}",
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def emulator_s3_url() -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL"]


def _stack_status(cloudformation: Any, stack_name: str) -> str | None:
    try:
        return str(cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"])
    except cloudformation.exceptions.ClientError:
        return None


def _wait(status: Callable[[], str], *, done: set[str], failed: set[str], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        current = status()
        if current in done:
            return
        if current in failed:
            raise DeployFailed(f"{what}: {current}")
        if time.monotonic() > deadline:
            raise DeployFailed(f"{what}: still {current} after {WAIT_SECONDS}s")
        time.sleep(0.5)


# -- Every resource, through its service ----------------------------------------------------------

Checker = Callable[[Any, str, Mapping[str, Any]], None]


def _role_policy(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    for role in props.get("Roles", []):
        s.client("iam").get_role_policy(RoleName=role, PolicyName=props["PolicyName"])


def _log_group(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    groups = s.client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
    if not any(g["logGroupName"] == physical for g in groups):
        raise LookupError(f"no log group {physical}")


def _logs_resource_policy(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    policies = s.client("logs").describe_resource_policies()["resourcePolicies"]
    if not any(p["policyName"] == physical for p in policies):
        raise LookupError(f"no CloudWatch Logs resource policy {physical}")


def _lambda_permission(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    function = str(props["FunctionName"])
    # moto routes GetPolicy by name (an unqualified function ARN answers 404): ask by name then.
    if ":function:" in function and function.count(":") == 6:
        function = function.split(":function:")[1]
    policy = json.loads(s.client("lambda").get_policy(FunctionName=function)["Policy"])
    if not any(st.get("Action") == props["Action"] for st in policy.get("Statement", [])):
        raise LookupError(f"no {props['Action']} statement in {props['FunctionName']}'s policy")


def _method(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    s.client("apigateway").get_method(
        restApiId=props["RestApiId"], resourceId=props["ResourceId"], httpMethod=props["HttpMethod"]
    )


def _project(s: Any, physical: str, props: Mapping[str, Any]) -> None:
    if not s.client("codebuild").batch_get_projects(names=[physical])["projects"]:
        raise LookupError(f"no CodeBuild project {physical}")  # BatchGetProjects answers an unknown name


# Type -> how to read one resource back from its service. A type without an entry here that the
# emulator does not model fails the check: nothing is assumed to exist.
CHECKERS: dict[str, Checker] = {
    # GetBucketLocation, not HeadBucket: HeadBucket is s3:ListBucket, which the upload bucket's
    # policy denies every principal but its function's (the operator included, as on AWS).
    "AWS::S3::Bucket": lambda s, p, _: s.client("s3").get_bucket_location(Bucket=p),
    "AWS::DynamoDB::Table": lambda s, p, _: s.client("dynamodb").describe_table(TableName=p),
    "AWS::KMS::Key": lambda s, p, _: s.client("kms").describe_key(KeyId=p),
    "AWS::IAM::Role": lambda s, p, _: s.client("iam").get_role(RoleName=p),
    "AWS::IAM::Policy": _role_policy,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::ResourcePolicy": _logs_resource_policy,
    "AWS::Lambda::Function": lambda s, p, _: s.client("lambda").get_function(FunctionName=p),
    "AWS::Lambda::Version": lambda s, p, _: s.client("lambda").get_function_configuration(FunctionName=p),
    "AWS::Lambda::Permission": _lambda_permission,
    "AWS::Lambda::Alias": lambda s, p, props: s.client("lambda").get_alias(
        FunctionName=props["FunctionName"], Name=props["Name"]
    ),
    "AWS::ApiGateway::RestApi": lambda s, p, _: s.client("apigateway").get_rest_api(restApiId=p),
    "AWS::ApiGateway::Resource": lambda s, p, props: s.client("apigateway").get_resource(
        restApiId=props["RestApiId"], resourceId=p
    ),
    "AWS::ApiGateway::Method": _method,
    "AWS::ApiGateway::Deployment": lambda s, p, props: s.client("apigateway").get_deployment(
        restApiId=props["RestApiId"], deploymentId=p
    ),
    "AWS::CloudWatch::Dashboard": lambda s, p, _: s.client("cloudwatch").get_dashboard(DashboardName=p),
    "AWS::SNS::Topic": lambda s, p, _: s.client("sns").get_topic_attributes(TopicArn=p),
    "AWS::Events::Rule": lambda s, p, _: s.client("events").describe_rule(Name=p),
    "AWS::SQS::Queue": lambda s, p, _: s.client("sqs").get_queue_attributes(QueueUrl=p),
    "AWS::CodePipeline::Pipeline": lambda s, p, _: s.client("codepipeline").get_pipeline(name=p),
    "AWS::CodeBuild::Project": _project,
}
# The types moto_models.py creates in moto's services: their read-back is their check.
CHECKERS = {**service_readers.CHECKERS, **CHECKERS}
# Every property read back: fidelity.py's readers, and service_readers.py's (which read more).
READERS: dict[str, fidelity.Reader] = {**fidelity.READERS, **service_readers.READERS}


def check_stack(
    session: Any,
    stack_name: str,
    template: Mapping[str, Any],
    *,
    modelled: Mapping[str, Any] = emulator.EMULATED_TYPES,
    checkers: Mapping[str, Checker] = CHECKERS,
    readers: Mapping[str, fidelity.Reader] = READERS,
) -> StackCheck:
    """Each template resource: deployed (read back), emulated (modelled), or missing (and why).

    The defaults are the rehearsal's moto; emulator_coverage.py reads another emulator's stack back
    with no modelled types and read-backs for the types moto's CloudFormation lacks."""
    cloudformation = session.client("cloudformation")
    stack_id = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    listed = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    # moto lists a skipped resource without a logical id: those never count as created.
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed if "LogicalResourceId" in r
    }
    where = intrinsics.Account(emulator.ACCOUNT, emulator.REGION)
    policy = intrinsics.Deployed(where, physical, assembly.Template(template).types())
    known = service_readers.attributes(session, template, physical)
    check = StackCheck()
    check.fidelity.total = len(template.get("Resources", {}))
    for logical_id, resource in template.get("Resources", {}).items():
        resource_type = resource["Type"]
        label = f"{resource_type} {logical_id}"
        if resource_type in modelled:
            if emulator.REGISTRY.get(stack_id, logical_id) is None:
                check.missing.append(f"{label}: modelled type, but the stack never created it")
            else:
                check.emulated.append(label)
                check.fidelity.modelled.append(label)
            continue
        if logical_id not in physical:
            check.missing.append(f"{label}: not in the stack's resources (skipped by the emulator)")
            continue
        checker = checkers.get(resource_type)
        if checker is None:
            check.missing.append(
                f"{label}: no read-back check for this type in tools/review_kit/rehearse/deploy.py"
            )
            continue
        properties = intrinsics.resolve_tree(resource.get("Properties", {}), policy)
        written = intrinsics.resolve_tree(
            resource.get("Properties", {}), fidelity.Written(where, physical, policy.types, known)
        )
        try:
            checker(session, physical[logical_id], properties)
        except Exception as error:  # any failure to read it back: it does not exist as declared
            check.missing.append(f"{label}: {type(error).__name__}: {error}")
            continue
        check.deployed.append(label)
        gaps = fidelity.compare(session, resource_type, physical[logical_id], written, readers)
        if gaps:
            check.fidelity.lost[label] = gaps
        else:
            check.fidelity.created_as_written.append(label)
    return check
