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


def api_gateway_logging_role(needs: StageNeeds, facts: AccountFacts) -> Finding:
    setting = f"uploadApi.stages.{needs.stage}.createApiGatewayAccountRole"
    if needs.creates_api_gateway_account_role:
        return Finding(
            "api-gateway-cloudwatch-role",
            True,
            f"API Gateway CloudWatch role: the stack sets it ({setting} is true)",
        )
    if facts.api_gateway_cloudwatch_role:
        return Finding(
            "api-gateway-cloudwatch-role",
            True,
            f"API Gateway CloudWatch role: {facts.api_gateway_cloudwatch_role}",
        )
    return Finding(
        "api-gateway-cloudwatch-role",
        False,
        "API Gateway CloudWatch role: the account has none and the stage's access and execution logs need "
        f"one ({setting} is false); fix: set {setting} to true, or set the account's role "
        "(apigateway update-account, docs/operations.md)",
    )


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
