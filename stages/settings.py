"""Typed, validated settings for one deployment stage (dev, prod).

Read once from cdk.json context at the app's edge (main.py) and passed down as
keyword-only arguments; no construct reads context itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

CONTEXT_KEY = "uploadApi"
STAGE_NAMES = ("dev", "prod")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
DEPRECATED_RUNTIMES = {
    "python3.9": (
        "lambdaRuntime python3.9 is deprecated: AWS Lambda deprecated it on 2025-12-15 and blocks "
        "creating functions on it from 2027-02-01. Use python3.13 (the default)."
    ),
}
API_AUTH_MODES = ("iam", "none")
# The TLS security policies API Gateway accepts for a regional REST API's default endpoint
# (API Gateway Developer Guide, "Supported security policies"), strictest first. TLS_1_0 is
# left out on purpose: it is the default this setting exists to replace.
API_SECURITY_POLICIES = (
    "SecurityPolicy_TLS13_1_3_2025_09",
    "SecurityPolicy_TLS13_1_3_FIPS_2025_09",
    "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
    "SecurityPolicy_TLS13_1_2_FIPS_PFS_PQ_2025_09",
    "TLS_1_2",
)
# Lambda refuses a reservation that leaves the account fewer than 100 unreserved executions;
# the default account quota is 1000.
MAX_RESERVED_CONCURRENCY = 10_000
# reservedConcurrency's explicit "no reservation": the function then shares the account's pool.
UNRESERVED = "unreserved"
# CodeDeploy's predefined Lambda deployment configurations (stages/upload/deployment.py maps each to CDK's).
DEPLOYMENT_CONFIGS = (
    "ALL_AT_ONCE",
    "CANARY_10PERCENT_5MINUTES",
    "CANARY_10PERCENT_10MINUTES",
    "CANARY_10PERCENT_15MINUTES",
    "CANARY_10PERCENT_30MINUTES",
    "LINEAR_10PERCENT_EVERY_1MINUTE",
    "LINEAR_10PERCENT_EVERY_2MINUTES",
    "LINEAR_10PERCENT_EVERY_3MINUTES",
    "LINEAR_10PERCENT_EVERY_10MINUTES",
)
# Deliberately simple: one address, no display name, no spaces; SNS confirms it by e-mail anyway.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
# An IAM role or user ARN (no wildcards: the API's resource policy matches them exactly), or an
# account root, which admits every principal of that account and so must be named on purpose.
# A CDK bootstrap qualifier: it becomes part of role and bucket names (`cdk-<qualifier>-assets-...`),
# so lowercase letters and digits, at most 10 (the CDK CLI's limit).
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")
# Each stage's own bootstrap (docs/bootstrap.md): its execution role, boundary and asset bucket apart
# from the other stage's and the pipeline's (CDK's default qualifier, stages/guardrails.py), also
# when they share one account.
DEFAULT_BOOTSTRAP_QUALIFIERS = {"dev": "uploaddev", "prod": "uploadprod"}
_CALLER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:((role|user)/[\w+=,.@/-]{1,512}|root)$")


class SettingsError(ValueError):
    """A cdk.json setting is missing or wrong; the message names it and says why."""


@dataclass(frozen=True)
class StageSettings:
    """Everything that may differ between dev and prod. Defaults are the safe choice."""

    stage: str
    account: str | None = None
    region: str | None = None
    throttling_rate_limit: int = 1000
    throttling_burst_limit: int = 2000
    api_auth: str = "iam"
    lambda_runtime: str = "python3.13"
    lambda_memory_mb: int = 1024
    lambda_timeout_seconds: int = 25
    log_retention_days: int = 90
    noncurrent_version_expiration_days: int = 90
    break_glass_role_arns: tuple[str, ...] = field(default_factory=tuple)
    create_api_gateway_account_role: bool = True
    # Alarms (stages/upload/observability.py) and how a new Lambda version takes traffic
    # (stages/upload/deployment.py).
    alarm_email: str | None = None
    api_5xx_rate_threshold_percent: float = 1.0
    lambda_errors_threshold: int = 1
    p99_latency_threshold_ms: int = 3000
    lambda_throttles_threshold: int = 1
    dynamodb_throttles_threshold: int = 1
    deployment_config: str = "CANARY_10PERCENT_5MINUTES"
    # Stored content (contract v2): HTML, SVG, script... refused unless this is true.
    allow_active_content: bool = False
    # GuardDuty Malware Protection for S3 (stages/upload/malware_scanning.py). None: the stage's default,
    # on in prod and off in dev; cdk.json malwareScanning true/false decides otherwise.
    malware_scanning: bool | None = None
    # Who may call POST /upload besides the stage's verifier role (the API's resource policy).
    allowed_callers: tuple[str, ...] = field(default_factory=tuple)
    # TLS on the API's default endpoint, and the function's reserved concurrency (docs/capacity.md).
    api_security_policy: str = "SecurityPolicy_TLS13_1_3_2025_09"
    reserved_concurrency: int | None = 100
    # Who may manage (never use) this stage's KMS keys besides the deploy role (stages/upload/encryption.py).
    key_administrator_arns: tuple[str, ...] = field(default_factory=tuple)
    # The CDK bootstrap qualifier this stage deploys with (None: DEFAULT_BOOTSTRAP_QUALIFIERS).
    bootstrap_qualifier: str | None = None

    @property
    def qualifier(self) -> str:
        """The CDK bootstrap qualifier of this stage's account set-up (docs/bootstrap.md)."""
        return self.bootstrap_qualifier or DEFAULT_BOOTSTRAP_QUALIFIERS[self.stage]

    @property
    def runtime_deprecation_warning(self) -> str | None:
        return DEPRECATED_RUNTIMES.get(self.lambda_runtime)

    @property
    def scans_uploads(self) -> bool:
        """Whether GuardDuty scans this stage's uploads (malwareScanning, or the stage default)."""
        return self.malware_scanning if self.malware_scanning is not None else self.stage == "prod"


# cdk.json spells settings in camelCase; each maps to one field above.
_CONTEXT_NAMES = {
    "account": "account",
    "region": "region",
    "throttlingRateLimit": "throttling_rate_limit",
    "throttlingBurstLimit": "throttling_burst_limit",
    "apiAuth": "api_auth",
    "lambdaRuntime": "lambda_runtime",
    "lambdaMemoryMb": "lambda_memory_mb",
    "lambdaTimeoutSeconds": "lambda_timeout_seconds",
    "logRetentionDays": "log_retention_days",
    "noncurrentVersionExpirationDays": "noncurrent_version_expiration_days",
    "breakGlassRoleArns": "break_glass_role_arns",
    "createApiGatewayAccountRole": "create_api_gateway_account_role",
    "alarmEmail": "alarm_email",
    "api5xxRateThresholdPercent": "api_5xx_rate_threshold_percent",
    "lambdaErrorsThreshold": "lambda_errors_threshold",
    "p99LatencyThresholdMs": "p99_latency_threshold_ms",
    "lambdaThrottlesThreshold": "lambda_throttles_threshold",
    "dynamodbThrottlesThreshold": "dynamodb_throttles_threshold",
    "deploymentConfig": "deployment_config",
    "allowActiveContent": "allow_active_content",
    "malwareScanning": "malware_scanning",
    "allowedCallers": "allowed_callers",
    "apiSecurityPolicy": "api_security_policy",
    "reservedConcurrency": "reserved_concurrency",
    "keyAdministratorArns": "key_administrator_arns",
    "bootstrapQualifier": "bootstrap_qualifier",
}
assert set(_CONTEXT_NAMES.values()) == {f.name for f in fields(StageSettings)} - {"stage"}


def load_stage_settings(upload_api_context: Any, stage: str) -> StageSettings:
    """Merge `uploadApi.defaults` and `uploadApi.stages.<stage>` and validate every value.

    `upload_api_context` is the value of the `uploadApi` context key in cdk.json.
    """
    if stage not in STAGE_NAMES:
        raise SettingsError(f"stage {stage!r} is unknown: use one of {', '.join(STAGE_NAMES)}")
    root = require_mapping(upload_api_context, f"cdk.json context {CONTEXT_KEY}")
    defaults = require_mapping(root.get("defaults", {}), f"cdk.json context {CONTEXT_KEY}.defaults")
    stages = require_mapping(root.get("stages", {}), f"cdk.json context {CONTEXT_KEY}.stages")
    own = require_mapping(stages.get(stage, {}), f"cdk.json context {CONTEXT_KEY}.stages.{stage}")
    values: dict[str, Any] = {}
    for source, where in ((defaults, f"{CONTEXT_KEY}.defaults"), (own, f"{CONTEXT_KEY}.stages.{stage}")):
        for key, value in source.items():
            if key not in _CONTEXT_NAMES:
                raise SettingsError(
                    f"cdk.json context {where}.{key} is not a setting; known settings: "
                    + ", ".join(sorted(_CONTEXT_NAMES))
                )
            # The path names where the value was written, so the error points at the line to fix.
            values[_CONTEXT_NAMES[key]] = (f"{where}.{key}", value)
    checked = {name: _check(name, where, value) for name, (where, value) in values.items()}
    settings = StageSettings(stage=stage, **checked)
    if settings.throttling_burst_limit < settings.throttling_rate_limit:
        burst_where = values.get(
            "throttling_burst_limit", (f"{CONTEXT_KEY}.stages.{stage}.throttlingBurstLimit",)
        )[0]
        raise SettingsError(
            f"cdk.json context {burst_where} "
            f"({settings.throttling_burst_limit}) must be >= throttlingRateLimit "
            f"({settings.throttling_rate_limit}): a burst below the rate throttles steady traffic"
        )
    return settings


def require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """`value` as a JSON object, or a SettingsError naming `where` (a setting's full path)."""
    if value is None:
        raise SettingsError(f"{where} is missing: see docs/configuration.md")
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where} must be a JSON object (got {type(value).__name__})")
    return value


_NOT_MINE = object()  # a checker's answer for a setting it does not check


def _check(name: str, where: str, value: Any) -> Any:
    """The setting's value, checked (and normalized), or a SettingsError naming it in one line."""

    def fail(why: str) -> SettingsError:
        return SettingsError(f"cdk.json context {where} {why} (got {value!r})")

    for checker in (_check_place_and_api, _check_capacity_and_alarms):
        checked = checker(name, value, fail)
        if checked is not _NOT_MINE:
            return checked
    raise AssertionError(f"no check for setting {name}")


def _check_place_and_api(name: str, value: Any, fail: Callable[[str], SettingsError]) -> Any:
    if name == "account":
        if value is not None and not (isinstance(value, str) and _ACCOUNT.match(value)):
            raise fail("must be a 12-digit AWS account id or null")
        return value
    if name == "region":
        if value is not None and not (isinstance(value, str) and _REGION.match(value)):
            raise fail("must be an AWS region such as eu-west-1, or null")
        return value
    if name in ("throttling_rate_limit", "throttling_burst_limit"):
        return _int_in(value, 1, 10_000, fail)
    if name == "lambda_memory_mb":
        return _int_in(value, 128, 10_240, fail)
    if name == "lambda_timeout_seconds":
        # API Gateway stops waiting after 29 s; a longer Lambda timeout only hides failures.
        return _int_in(value, 3, 29, fail)
    if name == "noncurrent_version_expiration_days":
        return _int_in(value, 1, 3650, fail)
    if name == "log_retention_days":
        if value not in LOG_RETENTION_DAYS or isinstance(value, bool):
            raise fail(f"must be one of CloudWatch's retention periods: {LOG_RETENTION_DAYS}")
        return value
    if name == "api_auth":
        if value not in API_AUTH_MODES:
            raise fail("must be 'iam' (SigV4, the default) or 'none' (public, only on purpose)")
        return value
    if name == "lambda_runtime":
        if value not in SUPPORTED_RUNTIMES and value not in DEPRECATED_RUNTIMES:
            raise fail(f"must be one of {', '.join(SUPPORTED_RUNTIMES + tuple(DEPRECATED_RUNTIMES))}")
        return value
    if name == "bootstrap_qualifier":
        if not (isinstance(value, str) and _QUALIFIER.match(value)):
            raise fail(
                "must be a CDK bootstrap qualifier: 1 to 10 lowercase letters or digits, the one the stage's "
                "account was bootstrapped with (docs/bootstrap.md)"
            )
        return value
    if name == "api_security_policy":
        if value not in API_SECURITY_POLICIES:
            raise fail(
                "must be one of the TLS security policies of a regional REST API: "
                + ", ".join(API_SECURITY_POLICIES)
            )
        return value
    return _NOT_MINE


def _check_capacity_and_alarms(name: str, value: Any, fail: Callable[[str], SettingsError]) -> Any:
    if name == "reserved_concurrency":
        # A word, not null: a null in a stage would not reliably override the default's number.
        if value == UNRESERVED:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole or not 1 <= value <= MAX_RESERVED_CONCURRENCY:
            raise fail(
                f"must be a whole number from 1 to {MAX_RESERVED_CONCURRENCY} (docs/capacity.md), or "
                f'"{UNRESERVED}" for no reservation'
            )
        return value
    if name in ("break_glass_role_arns", "key_administrator_arns"):
        if not isinstance(value, list) or not all(isinstance(v, str) and _ROLE_ARN.match(v) for v in value):
            raise fail("must be a list of IAM role ARNs (arn:aws:iam::<account>:role/<name>)")
        return tuple(value)
    if name == "create_api_gateway_account_role":
        if not isinstance(value, bool):
            raise fail("must be true or false")
        return value
    if name == "allow_active_content":
        if not isinstance(value, bool):
            raise fail("must be true (store HTML, SVG, script... as sent) or false (refuse them)")
        return value
    if name == "malware_scanning":
        if not isinstance(value, bool):
            raise fail("must be true (GuardDuty scans every upload) or false (no scanning)")
        return value
    if name == "alarm_email":
        if value is not None and not (isinstance(value, str) and _EMAIL.match(value)):
            raise fail("must be one e-mail address (alarms are sent there) or null (no subscription)")
        return value
    if name == "api_5xx_rate_threshold_percent":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise fail("must be a percentage of requests above 0 and at most 100")
        return float(value)
    if name in ("lambda_errors_threshold", "lambda_throttles_threshold", "dynamodb_throttles_threshold"):
        return _int_in(value, 1, 100_000, fail)
    if name == "p99_latency_threshold_ms":
        # API Gateway gives up at 29 s, so a p99 threshold at or above it could never fire.
        return _int_in(value, 50, 28_999, fail)
    if name == "deployment_config":
        if value not in DEPLOYMENT_CONFIGS:
            raise fail(
                f"must be one of CodeDeploy's Lambda deployment configs: {', '.join(DEPLOYMENT_CONFIGS)}"
            )
        return value
    if name == "allowed_callers":
        if not isinstance(value, list) or not all(isinstance(v, str) and _CALLER_ARN.match(v) for v in value):
            raise fail(
                "must be a list of IAM role or user ARNs (arn:aws:iam::<account>:role/<name>), or an account "
                "root (arn:aws:iam::<account>:root) to admit a whole account; no wildcards"
            )
        return tuple(value)
    return _NOT_MINE


def _int_in(value: Any, low: int, high: int, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(f"must be a whole number from {low} to {high}")
    return value
