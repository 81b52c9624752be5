"""Ask the stage's account what checks.py needs: read-only calls, each allowed by ReadOnlyAccess
(the CDK lookup role's policy)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tools.pipeline_checks.preflight.checks import AccountFacts, StageNeeds

LAMBDA_FUNCTION = "AWS::Lambda::Function"


def gather(session: Any, needs: StageNeeds) -> AccountFacts:
    """`session`: a boto3 Session in the stage's account and region."""
    lambda_client = session.client("lambda")
    limits = lambda_client.get_account_settings()["AccountLimit"]
    return AccountFacts(
        concurrency_quota=int(limits["ConcurrentExecutions"]),
        unreserved_concurrency=int(limits["UnreservedConcurrentExecutions"]),
        reserved_by_this_stack=_reserved_by_stack(session, lambda_client, needs.stack_name),
        bootstrap_version=_bootstrap_version(session, needs.bootstrap_qualifier),
        api_gateway_cloudwatch_role=session.client("apigateway").get_account().get("cloudwatchRoleArn"),
        malware_protection_available=_malware_protection(session) if needs.malware_scanning else None,
    )


def _reserved_by_stack(session: Any, lambda_client: Any, stack_name: str) -> int:
    """What the deployed stack's functions reserve now: a redeploy frees it before it reserves again."""
    try:
        resources = session.client("cloudformation").describe_stack_resources(StackName=stack_name)
    except ClientError as error:
        if "does not exist" in str(error):  # the stage's first deploy
            return 0
        raise
    names = [
        r["PhysicalResourceId"]
        for r in resources["StackResources"]
        if r["ResourceType"] == LAMBDA_FUNCTION and r.get("PhysicalResourceId")
    ]
    return sum(
        int(
            lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") or 0
        )
        for name in names
    )


def _bootstrap_version(session: Any, qualifier: str) -> int | None:
    try:
        value = session.client("ssm").get_parameter(Name=f"/cdk-bootstrap/{qualifier}/version")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    text = value["Parameter"]["Value"]
    return int(text) if text.isdigit() else None


def _malware_protection(session: Any) -> bool:
    """GuardDuty answers the plan API only where Malware Protection for S3 is offered."""
    try:
        session.client("guardduty").list_malware_protection_plans()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"BadRequestException", "InvalidInputException", "UnsupportedOperationException"}:
            return False
        raise
    return True
