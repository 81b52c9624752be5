"""`python -m tools.pipeline_checks.approved_change_set`: the change set about to run is the one approved.

The prod approval (PromoteToProd) asks the approver to paste the id of the change set they reviewed
(its ARN, `ChangeSetId`) into the approval's comment. This check runs between that approval and the
deploy that executes the change set. It reads this execution's approval of APPROVAL_STAGE/
APPROVAL_ACTION (codepipeline:ListActionExecutions, the pipeline's account; the comment is the
approval's `externalExecutionSummary`) and the change set (cloudformation:DescribeChangeSet through
the stage account's CDK lookup role, built from STAGE_ACCOUNT, STAGE_REGION, STAGE_PARTITION and
BOOTSTRAP_QUALIFIER; CHANGE_SET_ROLE_ARN overrides it). It fails when the comment names no change
set id, names several, names another change set (a change set created again after the review has
a new id), or when the change set cannot be executed. Exit 0: the approved one; 1: not; 2: it
cannot ask (a missing variable, a role it cannot assume, an API error), named in one line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED_ENV = (
    "PIPELINE_EXECUTION_ID",
    "APPROVAL_STAGE",
    "APPROVAL_ACTION",
    "STACK_NAME",
    "CHANGE_SET_NAME",
)
ROLE_ENV = "CHANGE_SET_ROLE_ARN"
# A CloudFormation change set's id: arn:<partition>:cloudformation:<region>:<account>:changeSet/<name>/<uuid>
CHANGE_SET_ID = re.compile(
    r"arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:changeSet/[A-Za-z][-A-Za-z0-9]*/[-0-9a-f]+"
)


class CannotAsk(Exception):
    """The check cannot start or cannot read what it compares; the message says which."""


@dataclass(frozen=True)
class Approval:
    summary: str  # the approver's comment ("" when none)
    by: str  # who approved, when CodePipeline says


@dataclass(frozen=True)
class Verdict:
    passed: bool
    line: str


def judge(approval: Approval, change_set: Mapping[str, Any], *, where: str) -> Verdict:
    """The approval's change set id against the change set about to be executed."""
    named = sorted(set(CHANGE_SET_ID.findall(approval.summary)))
    current = str(change_set.get("ChangeSetId", ""))
    fix = (
        f"reject or let this run fail, start a new release, and approve with the id of change set "
        f"{where} in the comment (aws cloudformation describe-change-set ... --query ChangeSetId)"
    )
    if not named:
        return Verdict(False, f"FAIL: the approval of {where} names no change set id in its comment; {fix}")
    if len(named) > 1:
        return Verdict(
            False, f"FAIL: the approval names {len(named)} change set ids ({', '.join(named)}); {fix}"
        )
    if named[0] != current:
        return Verdict(
            False,
            f"FAIL: the approval names change set {named[0]}, but {where} about to be executed is {current} "
            f"(created again after the review?); {fix}",
        )
    status = change_set.get("ExecutionStatus")
    if status != "AVAILABLE":
        return Verdict(False, f"FAIL: change set {current} is {status}, not AVAILABLE: nothing to execute")
    by = f" by {approval.by}" if approval.by else ""
    return Verdict(True, f"PASS: change set {current} is the one approved{by}")


def latest_approval(details: Iterable[Mapping[str, Any]], *, stage: str, action: str) -> Approval:
    """This execution's last succeeded run of the approval action (a retried stage runs it again)."""
    runs = [
        d
        for d in details
        if d.get("stageName") == stage and d.get("actionName") == action and d.get("status") == "Succeeded"
    ]
    if not runs:
        raise CannotAsk(f"approved-change-set: no approved {stage}/{action} in this pipeline execution")
    run = max(runs, key=lambda d: str(d.get("lastUpdateTime", "")))
    result = (run.get("output") or {}).get("executionResult") or {}
    return Approval(str(result.get("externalExecutionSummary") or ""), str(run.get("updatedBy") or ""))


def pipeline_name(env: Mapping[str, str]) -> str:
    """PIPELINE_NAME, else the pipeline that started this build (CODEBUILD_INITIATOR codepipeline/<name>)."""
    if env.get("PIPELINE_NAME"):
        return env["PIPELINE_NAME"]
    initiator = env.get("CODEBUILD_INITIATOR", "")
    if not initiator.startswith("codepipeline/"):
        raise CannotAsk("approved-change-set: set PIPELINE_NAME (or run in a pipeline: CODEBUILD_INITIATOR)")
    return initiator.removeprefix("codepipeline/")


def change_set_role_arn(env: Mapping[str, str]) -> str | None:
    """CHANGE_SET_ROLE_ARN, else the stage's CDK lookup role, as Preflight finds it."""
    from tools.pipeline_checks.preflight.cli import lookup_role_arn

    return lookup_role_arn(env, ROLE_ENV)


def _stage_session(env: Mapping[str, str]) -> Any:
    import boto3

    role_arn = change_set_role_arn(env)
    if not role_arn:
        return boto3.Session()
    try:
        credentials = boto3.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName="approved-change-set"
        )["Credentials"]
    except Exception as error:  # any refusal: which role, and why
        raise CannotAsk(f"approved-change-set: cannot assume {role_arn}: {error}") from error
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def check(env: Mapping[str, str], *, codepipeline: Any = None, cloudformation: Any = None) -> Verdict:
    """The verdict; the clients default to the build's own (CodePipeline) and the lookup role's."""
    import boto3

    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise CannotAsk(f"approved-change-set: set {', '.join(missing)} (the pipeline step sets them)")
    codepipeline = codepipeline or boto3.client("codepipeline")
    pages = codepipeline.get_paginator("list_action_executions").paginate(
        pipelineName=pipeline_name(env), filter={"pipelineExecutionId": env["PIPELINE_EXECUTION_ID"]}
    )
    try:
        details = [d for page in pages for d in page["actionExecutionDetails"]]
    except Exception as error:
        raise CannotAsk(f"approved-change-set: ListActionExecutions: {error}") from error
    approval = latest_approval(details, stage=env["APPROVAL_STAGE"], action=env["APPROVAL_ACTION"])
    stack, name = env["STACK_NAME"], env["CHANGE_SET_NAME"]
    try:
        cloudformation = cloudformation or _stage_session(env).client("cloudformation")
        change_set = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
    except CannotAsk:
        raise
    except Exception as error:
        raise CannotAsk(f"approved-change-set: DescribeChangeSet {stack}/{name}: {error}") from error
    return judge(approval, change_set, where=f"{name} of {stack}")


def main(env: Mapping[str, str] | None = None) -> int:
    try:
        verdict = check(os.environ if env is None else env)
    except CannotAsk as error:
        print(error, file=sys.stderr)
        return 2
    print(verdict.line)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
