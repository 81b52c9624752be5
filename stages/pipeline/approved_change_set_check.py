"""Is the change set about to run the one approved? The deployed pipeline runs this: ApprovedChangeSet.

The prod approval (PromoteToProd) asks the approver to paste the id of the change set they reviewed
(its ARN, `ChangeSetId`) into the approval's comment. This check runs between that approval and the
deploy that executes the change set. The step's CodeBuild project runs this file with python3 and the
AWS CLI only: the pipeline stack inlines it into the project's buildspec at synth
(stages/pipeline/approved_change_set.py), so the copy that judges a release is the one already
deployed, never the commit's; changing it is a pipeline change PipelineChangeGate shows a person.

It reads this execution's approval of APPROVAL_STAGE/APPROVAL_ACTION (`aws codepipeline
list-action-executions`, the build's own role; the comment is the approval's
`externalExecutionSummary`) and the change set (`aws cloudformation describe-change-set` through the
stage account's CDK lookup role, built from STAGE_ACCOUNT, STAGE_REGION, STAGE_PARTITION and
BOOTSTRAP_QUALIFIER; CHANGE_SET_ROLE_ARN overrides it). It fails when the comment names no change
set id, names several, names another change set (a change set created again after the review has
a new id), when the change set cannot be executed, or, with APPROVER_ROLE_ARN (set when
`uploadApi.pipeline.approvers` names people), when the approval was not given through that role
(CodePipeline's `updatedBy`): someone allowed to call PutApprovalResult directly is not an
approver. Exit 0: the approved one; 1: not; 2: it
cannot ask (a missing variable, a role it cannot assume, an API error), named in one line.

With the argument `who-approved` it judges only who gave this execution's approval of
APPROVAL_STAGE/APPROVAL_ACTION: PipelineChange.Approved runs it after PipelineChange.Confirm, and each
stage's PermissionsCheck.Approved after its PermissionsCheck.Confirm (stages/pipeline/who_approved.py).
It passes when the approval was given by a session of AUTO_APPROVER_ROLE_ARN (the role of what approves
it itself: PipelineChange.Check's build; CDK Pipelines' CDKPipelinesAutoApprove function, whose
sessions are named after the function), or through APPROVER_ROLE_ARN; with no APPROVER_ROLE_ARN (no
approvers named) any approval counts.

Standard library only, Python 3.9 and later (`make approved-change-set` runs this same file by hand).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PASSED, FAILED, CANNOT_ASK = 0, 1, 2
NAME = "approved-change-set"  # how its messages and its session with the lookup role are named
REQUIRED_ENV = (
    "PIPELINE_EXECUTION_ID",
    "APPROVAL_STAGE",
    "APPROVAL_ACTION",
    "STACK_NAME",
    "CHANGE_SET_NAME",
)
ROLE_ENV = "CHANGE_SET_ROLE_ARN"
APPROVER_ENV = "APPROVER_ROLE_ARN"
# `who-approved`: who gave the approval, nothing else; the role of what approves it itself.
WHO_APPROVED = "who-approved"
AUTO_APPROVER_ENV = "AUTO_APPROVER_ROLE_ARN"
WHO_APPROVED_ENV = ("PIPELINE_EXECUTION_ID", "APPROVAL_STAGE", "APPROVAL_ACTION", AUTO_APPROVER_ENV)
# A stage's permission check: what this execution's `cdk diff --security-only` build exported as
# MESSAGE. The auto-approve function approves whichever approval is waiting when it acts (it reads
# the stage's latest token), so its approval counts only when this execution's check found nothing.
CHECK_MESSAGE_ENV = "CHECK_MESSAGE"
NOTHING_BROADENS = "No security-impacting changes detected."
# A CloudFormation change set's id: arn:<partition>:cloudformation:<region>:<account>:changeSet/<name>/<uuid>
CHANGE_SET_ID = re.compile(
    r"arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:changeSet/[A-Za-z][-A-Za-z0-9]*/[-0-9a-f]+"
)
# Credentials from the environment that must not outrank the assumed role's in the CLI's chain.
_PROFILE_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
# The AWS CLI: (arguments after `aws`, the environment to run it in) -> its JSON output.
Runner = Callable[[list[str], Mapping[str, str]], str]


class CannotAsk(Exception):
    """The check cannot start or cannot read what it compares; the message says which."""


class AwsError(Exception):
    """The AWS CLI failed; the message is its last line of error output."""


@dataclass(frozen=True)
class Approval:
    summary: str  # the approver's comment ("" when none)
    by: str  # who approved, when CodePipeline says


@dataclass(frozen=True)
class Verdict:
    passed: bool
    line: str


def given_through(by: str, role_arn: str) -> bool:
    """Was `by` (CodePipeline's updatedBy) a session of `role_arn`, or the role itself?

    A role `arn:<partition>:iam::<account>:role/<path/><name>` acts as
    `arn:<partition>:sts::<account>:assumed-role/<name>/<session>` (STS drops the path)."""
    role = role_arn.split(":")
    if len(role) != 6 or not role[5].startswith("role/"):
        return False
    if by == role_arn:
        return True
    name = role[5].rsplit("/", 1)[-1]
    session_of = f"arn:{role[1]}:sts::{role[4]}:assumed-role/{name}/"
    return by.startswith(session_of) and len(by) > len(session_of) and "/" not in by[len(session_of) :]


def judge(
    approval: Approval, change_set: Mapping[str, Any], *, where: str, approver_role: str = ""
) -> Verdict:
    """The approval's change set id against the change set about to be executed; with `approver_role`,
    the approval given through that role."""
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
    if approver_role and not given_through(approval.by, approver_role):
        who = approval.by or "a principal CodePipeline did not name"
        return Verdict(
            False,
            f"FAIL: the approval of {where} was given by {who}, not through the approver role "
            f"{approver_role} (uploadApi.pipeline.approvers assume it); {fix} through that role",
        )
    status = change_set.get("ExecutionStatus")
    if status != "AVAILABLE":
        return Verdict(False, f"FAIL: change set {current} is {status}, not AVAILABLE: nothing to execute")
    by = f" by {approval.by}" if approval.by else ""
    return Verdict(True, f"PASS: change set {current} is the one approved{by}")


def judge_approver(
    approval: Approval,
    *,
    where: str,
    auto_approver: str,
    approver_role: str = "",
    check_message: str | None = None,
) -> Verdict:
    """Given by `auto_approver`'s session (what approves it itself), or through
    `approver_role`; with no `approver_role` (no approvers named), by anyone. With `check_message`
    (a stage's permission check), the auto-approver's approval counts only after a check that found
    nothing: otherwise it approved a wait meant for a person."""
    who = approval.by or "a principal CodePipeline did not name"
    if given_through(approval.by, auto_approver):
        if check_message is not None and check_message != NOTHING_BROADENS:
            return Verdict(
                False,
                f"FAIL: {where}: this execution's check did not find the change harmless, yet its "
                f"auto-approver's role approved it ({approval.by}; the check said {check_message!r}): that "
                "approval was a person's to give; start the pipeline again and approve through the "
                "approver role",
            )
        return Verdict(True, f"PASS: {where} was approved by its auto-approver's role: {approval.by}")
    if not approver_role:
        return Verdict(True, f"PASS: {where} was approved by {who} (no approvers named: any approval counts)")
    if given_through(approval.by, approver_role):
        return Verdict(True, f"PASS: {where} was approved through the approver role: {approval.by}")
    return Verdict(
        False,
        f"FAIL: {where} was approved by {who}, neither its auto-approver's role {auto_approver} nor "
        f"through the approver role {approver_role} (uploadApi.pipeline.approvers assume it); nothing "
        "after it runs: start the pipeline again and approve through that role",
    )


def _when(value: Any) -> float:
    """An action execution's lastUpdateTime: epoch seconds (the API's) or ISO 8601 (the CLI v2's)."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


def latest_approval(details: Iterable[Mapping[str, Any]], *, stage: str, action: str) -> Approval:
    """This execution's last succeeded run of the approval action (a retried stage runs it again)."""
    runs = [
        d
        for d in details
        if d.get("stageName") == stage and d.get("actionName") == action and d.get("status") == "Succeeded"
    ]
    if not runs:
        raise CannotAsk(f"approved-change-set: no approved {stage}/{action} in this pipeline execution")
    run = max(runs, key=lambda d: _when(d.get("lastUpdateTime")))
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


def lookup_role_arn(env: Mapping[str, str], role_env: str = ROLE_ENV) -> str | None:
    """`role_env`, else the CDK lookup role of STAGE_ACCOUNT in STAGE_REGION (None: neither), as
    `cdk bootstrap` names it. Preflight (tools/pipeline_checks/preflight) builds its role here too."""
    if env.get(role_env):
        return env[role_env]
    account, region = env.get("STAGE_ACCOUNT"), env.get("STAGE_REGION")
    if not (account and region):
        return None
    partition = env.get("STAGE_PARTITION") or "aws"
    qualifier = env.get("BOOTSTRAP_QUALIFIER", "hnb659fds")
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{region}"


def aws(arguments: list[str], env: Mapping[str, str]) -> str:
    """The AWS CLI on the build image, with fixed subcommands and this build's own values."""
    command = ["aws", *arguments, "--output", "json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=dict(env), check=False)  # noqa: S603
    except OSError as error:
        raise AwsError(f"cannot run the AWS CLI: {error}") from error
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        raise AwsError(lines[-1])
    return done.stdout


def ask(
    run: Runner, what: str, arguments: list[str], env: Mapping[str, str], *, check: str = NAME
) -> dict[str, Any]:
    """The CLI's JSON answer, an object; CannotAsk, prefixed with the `check`'s name, when there is none.
    (judged_change_set_check.py asks through this too, under its own name.)"""
    try:
        answer = json.loads(run(arguments, env))
    except (AwsError, ValueError) as error:
        raise CannotAsk(f"{check}: {what}: {error}") from error
    if not isinstance(answer, dict):
        raise CannotAsk(f"{check}: {what}: not a JSON object")
    return answer


def stage_env(env: Mapping[str, str], run: Runner, *, check: str = NAME) -> Mapping[str, str]:
    """`env` with the lookup role's credentials (`env` itself when no role is named); the session is
    named after the `check`."""
    role_arn = lookup_role_arn(env)
    if not role_arn:
        return env
    arguments = ["sts", "assume-role", "--role-arn", role_arn, "--role-session-name", check]
    credentials = ask(run, f"cannot assume {role_arn}", arguments, env, check=check).get("Credentials") or {}
    keys = ("AccessKeyId", "SecretAccessKey", "SessionToken")
    if not all(credentials.get(key) for key in keys):
        raise CannotAsk(f"{check}: cannot assume {role_arn}: no credentials in the answer")
    assumed = {k: v for k, v in env.items() if k not in _PROFILE_ENV}
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    assumed.update({name: str(credentials[key]) for name, key in zip(names, keys)})  # noqa: B905 (3.9)
    return assumed


def required(env: Mapping[str, str], names: Iterable[str], *, check: str = NAME) -> None:
    """CannotAsk, prefixed with the `check`'s name, unless every variable in `names` is set."""
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise CannotAsk(f"{check}: set {', '.join(missing)} (the pipeline step sets them)")


def this_executions_approval(env: Mapping[str, str], run: Runner) -> Approval:
    """This execution's approval of APPROVAL_STAGE/APPROVAL_ACTION, read as the build's own role."""
    listing = [
        "codepipeline", "list-action-executions", "--pipeline-name", pipeline_name(env),
        "--filter", f"pipelineExecutionId={env['PIPELINE_EXECUTION_ID']}",
    ]  # fmt: skip
    details = ask(run, "ListActionExecutions", listing, env).get("actionExecutionDetails") or []
    return latest_approval(details, stage=env["APPROVAL_STAGE"], action=env["APPROVAL_ACTION"])


def check_who_approved(env: Mapping[str, str], run: Runner = aws) -> Verdict:
    """Who gave this execution's approval (`who-approved`)."""
    required(env, WHO_APPROVED_ENV)
    approval = this_executions_approval(env, run)
    return judge_approver(
        approval,
        where=f"{env['APPROVAL_STAGE']}/{env['APPROVAL_ACTION']}",
        auto_approver=env[AUTO_APPROVER_ENV],
        approver_role=env.get(APPROVER_ENV, ""),
        check_message=env.get(CHECK_MESSAGE_ENV),
    )


def check(env: Mapping[str, str], run: Runner = aws) -> Verdict:
    """This execution's approval (read as the build's role) against the change set (as the lookup role)."""
    required(env, REQUIRED_ENV)
    approval = this_executions_approval(env, run)
    stack, name = env["STACK_NAME"], env["CHANGE_SET_NAME"]
    describe = ["cloudformation", "describe-change-set", "--stack-name", stack, "--change-set-name", name]
    change_set = ask(run, f"DescribeChangeSet {stack}/{name}", describe, stage_env(env, run))
    return judge(approval, change_set, where=f"{name} of {stack}", approver_role=env.get(APPROVER_ENV, ""))


def verdict_exit(
    judged: Callable[[Mapping[str, str], Runner], Verdict], env: Mapping[str, str], run: Runner
) -> int:
    """Print `judged`'s verdict (or why it cannot ask, on stderr) and return the exit code: 0, 1 or 2.
    The judged-change-set check (run beside this file) ends the same way."""
    try:
        verdict = judged(env, run)
    except CannotAsk as error:
        print(error, file=sys.stderr)
        return CANNOT_ASK
    print(verdict.line)
    return PASSED if verdict.passed else FAILED


def main(env: Mapping[str, str] | None = None, run: Runner = aws, argv: list[str] | None = None) -> int:
    arguments = argv or []
    if arguments not in ([], [WHO_APPROVED]):
        print(f"approved-change-set: arguments: none, or {WHO_APPROVED} (not {arguments})", file=sys.stderr)
        return CANNOT_ASK
    return verdict_exit(check_who_approved if arguments else check, os.environ if env is None else env, run)


if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:]))
