"""`python -m tools.pipeline_checks.preflight`: the stage's needs from the environment the pipeline
step sets, the account's answers through the stage account's CDK lookup role (built from STAGE_ACCOUNT,
STAGE_REGION, STAGE_PARTITION and BOOTSTRAP_QUALIFIER; PREFLIGHT_ROLE_ARN overrides it),
one line per check; exit 1 when any check fails, 2 when it cannot ask."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from stages.pipeline.approved_change_set_check import lookup_role_arn as stage_lookup_role_arn
from tools.pipeline_checks.preflight.checks import Finding, StageNeeds, run_checks
from tools.pipeline_checks.preflight.facts import gather

ROLE_ENV = "PREFLIGHT_ROLE_ARN"
REQUIRED_ENV = (
    "STAGE",
    "STACK_NAME",
    "RESERVED_CONCURRENCY",
    "BOOTSTRAP_QUALIFIER",
    "MINIMUM_BOOTSTRAP_VERSION",
    "MALWARE_SCANNING",
    "CREATES_API_GATEWAY_ACCOUNT_ROLE",
)


class SetupError(Exception):
    """Preflight cannot start: a missing variable or an unassumable role. The message says which."""


def needs_from(env: Mapping[str, str]) -> StageNeeds:
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise SetupError(f"preflight: set {', '.join(missing)} (the pipeline step sets them)")
    return StageNeeds(
        stage=env["STAGE"],
        stack_name=env["STACK_NAME"],
        reserved_concurrency=int(env["RESERVED_CONCURRENCY"]),
        bootstrap_qualifier=env["BOOTSTRAP_QUALIFIER"],
        minimum_bootstrap_version=int(env["MINIMUM_BOOTSTRAP_VERSION"]),
        malware_scanning=env["MALWARE_SCANNING"] == "true",
        creates_api_gateway_account_role=env["CREATES_API_GATEWAY_ACCOUNT_ROLE"] == "true",
        # Set only where dev and prod share one account (stages/pipeline/preflight.py).
        shared_account_stacks=tuple(s for s in env.get("SHARED_ACCOUNT_STACKS", "").split(",") if s),
    )


def lookup_role_arn(env: Mapping[str, str], role_env: str = ROLE_ENV) -> str | None:
    """`role_env` (PREFLIGHT_ROLE_ARN), else the CDK lookup role of STAGE_ACCOUNT in STAGE_REGION
    (None: neither), built as prod's ApprovedChangeSet check builds the role it reads its stage through."""
    return stage_lookup_role_arn(env, role_env)


def session_for(env: Mapping[str, str]) -> Any:
    import boto3  # the verifier's pins; imported here so `--help`-style errors need none

    role_arn = lookup_role_arn(env)
    if not role_arn:
        return boto3.Session()
    try:
        credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="preflight")[
            "Credentials"
        ]
    except Exception as error:  # any refusal: say which role and why, in one line
        raise SetupError(f"preflight: cannot assume {ROLE_ENV} {role_arn}: {error}") from error
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def report(findings: list[Finding]) -> int:
    for finding in findings:
        print(f"{'PASS' if finding.ok else 'FAIL'} {finding.check}: {finding.line}")
    failed = [f for f in findings if not f.ok]
    if failed:
        print(
            f"preflight: {len(failed)} of {len(findings)} checks failed; nothing was changed", file=sys.stderr
        )
        return 1
    print(f"preflight: {len(findings)} of {len(findings)} checks passed")
    return 0


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        needs = needs_from(env)
        return report(run_checks(needs, gather(session_for(env), needs)))
    except SetupError as error:
        print(error, file=sys.stderr)
        return 2
    except ClientError as error:  # a refused read: the role or the account, not the stage, is wrong
        operation = getattr(error, "operation_name", "a read")
        print(
            f"preflight: the account refused {operation}: {error} (is {ROLE_ENV} the lookup role?)",
            file=sys.stderr,
        )
        return 2
