"""The checks, as pure functions of what the account answered (facts.py gathers it).

Each returns a Finding: ok, and one line a person can act on (the quota or prerequisite, the
setting it comes from, the fix).
"""

from __future__ import annotations

from dataclasses import dataclass

# Lambda refuses a reservation that leaves fewer than this unreserved; an account whose whole
# quota is smaller (new accounts start as low as 10) can reserve nothing at all.
LAMBDA_MINIMUM_UNRESERVED = 100


@dataclass(frozen=True)
class StageNeeds:
    """What the stage's templates need from its account (the pipeline stack sets these at synth)."""

    stage: str
    stack_name: str
    reserved_concurrency: int  # every function of the stage, the scan-result function included
    bootstrap_qualifier: str
    minimum_bootstrap_version: int
    malware_scanning: bool
    creates_api_gateway_account_role: bool
    # Where dev and prod share the account: both stage stacks' names (their roles' names start with
    # them), else empty.
    shared_account_stacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountFacts:
    """What the account answered; None where the call was refused or the thing is absent."""

    concurrency_quota: int
    unreserved_concurrency: int
    reserved_by_this_stack: int  # already counted out of the unreserved pool, and replaced by the deploy
    bootstrap_version: int | None
    api_gateway_cloudwatch_role: str | None
    malware_protection_available: bool | None  # None: not asked (scanning is off)


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    line: str


def minimum_unreserved(quota: int) -> int:
    return min(LAMBDA_MINIMUM_UNRESERVED, quota)


def lambda_concurrency(needs: StageNeeds, facts: AccountFacts) -> Finding:
    setting = f"uploadApi.stages.{needs.stage}.reservedConcurrency"
    keep = minimum_unreserved(facts.concurrency_quota)
    available = facts.unreserved_concurrency + facts.reserved_by_this_stack
    left = available - needs.reserved_concurrency
    if left >= keep:
        return Finding(
            "lambda-concurrency",
            True,
            f"Lambda concurrency: reserving {needs.reserved_concurrency} leaves {left} unreserved "
            f"(quota {facts.concurrency_quota}, Lambda keeps {keep})",
        )
    return Finding(
        "lambda-concurrency",
        False,
        f"Lambda concurrency quota: the account allows {facts.concurrency_quota} with {available} available, "
        f"the {needs.stage} stage reserves {needs.reserved_concurrency} ({setting}, plus the scan-result "
        f"function's when malwareScanning is on) and Lambda must keep {keep} unreserved; fix: raise "
        "'Concurrent executions' in Service Quotas (Lambda) or set "
        f'{setting} to "unreserved" (docs/capacity.md)',
    )


def bootstrap_version(needs: StageNeeds, facts: AccountFacts) -> Finding:
    parameter = f"/cdk-bootstrap/{needs.bootstrap_qualifier}/version"
    if facts.bootstrap_version is not None and facts.bootstrap_version >= needs.minimum_bootstrap_version:
        return Finding(
            "cdk-bootstrap", True, f"CDK bootstrap: version {facts.bootstrap_version} ({parameter})"
        )
    found = "missing" if facts.bootstrap_version is None else f"version {facts.bootstrap_version}"
    return Finding(
        "cdk-bootstrap",
        False,
        f"CDK bootstrap: {parameter} is {found}, the stage needs {needs.minimum_bootstrap_version} or later "
        "(qualifier from cdk.json @aws-cdk/core:bootstrapQualifier); fix: bootstrap the account as "
        "docs/bootstrap.md shows",
    )


# docs/bootstrap.md, step 4: the shared account's API Gateway logging role.
SHARED_ACCOUNT_FIX = "deploy bootstrap/shared-account/apigateway-account.json (docs/bootstrap.md, step 4)"


def api_gateway_logging_role(needs: StageNeeds, facts: AccountFacts) -> Finding:
    """The account's API Gateway CloudWatch role: set (by the stack, or already in the account), and
    in a shared account not a stage stack's role, whose stage boundary denies the other stage's logs."""
    setting = f"uploadApi.stages.{needs.stage}.createApiGatewayAccountRole"
    check = "api-gateway-cloudwatch-role"
    if needs.creates_api_gateway_account_role:
        return Finding(check, True, f"API Gateway CloudWatch role: the stack sets it ({setting} is true)")
    role = facts.api_gateway_cloudwatch_role
    owner = _stage_stack_of(role, needs.shared_account_stacks) if role else None
    if role and owner:
        return Finding(
            check,
            False,
            f"API Gateway CloudWatch role: the account's is {role}, a role of {owner}, under that stage's "
            "boundary, which denies the other stage's log groups: dev and prod share this account, so one "
            f"stage's API logs would be dropped; fix: {SHARED_ACCOUNT_FIX}",
        )
    if role:
        return Finding(check, True, f"API Gateway CloudWatch role: {role}")
    if needs.shared_account_stacks:
        return Finding(
            check,
            False,
            "API Gateway CloudWatch role: the account dev and prod share has none, and the stage's access "
            "and execution logs need one (no stage's stack sets it in a shared account); "
            f"fix: {SHARED_ACCOUNT_FIX}",
        )
    return Finding(
        check,
        False,
        "API Gateway CloudWatch role: the account has none and the stage's access and execution logs need "
        f"one ({setting} is false); fix: set {setting} to true, or set the account's role (aws apigateway "
        "update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN)",
    )


def _stage_stack_of(role_arn: str, stacks: tuple[str, ...]) -> str | None:
    """The stage stack whose role `role_arn` is (CloudFormation names a stack's roles after it)."""
    name = role_arn.rsplit("/", 1)[-1]
    return next((stack for stack in stacks if name.startswith(f"{stack}-")), None)


def malware_protection(needs: StageNeeds, facts: AccountFacts) -> Finding:
    setting = f"uploadApi.stages.{needs.stage}.malwareScanning"
    if not needs.malware_scanning:
        return Finding(
            "guardduty-malware-protection", True, f"GuardDuty Malware Protection: not used ({setting})"
        )
    if facts.malware_protection_available:
        return Finding("guardduty-malware-protection", True, "GuardDuty Malware Protection for S3: available")
    return Finding(
        "guardduty-malware-protection",
        False,
        "GuardDuty Malware Protection for S3: not offered to this account in this region "
        f"({setting} is true); fix: deploy the stage to a region that offers it, or set {setting} to "
        "false (docs/malware-scanning.md)",
    )


CHECKS = (lambda_concurrency, bootstrap_version, api_gateway_logging_role, malware_protection)


def run_checks(needs: StageNeeds, facts: AccountFacts) -> list[Finding]:
    return [check(needs, facts) for check in CHECKS]
