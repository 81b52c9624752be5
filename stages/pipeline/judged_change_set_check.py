"""Is the change set about to be deployed the template the checks judged? The deployed pipeline runs this.

Each stage's `UploadApi.Prepare` (a CloudFormation action: it runs no command) creates change set
PipelineChange from the synth artifact as the bucket holds it then; the artifact's digest was checked
before (`<Stage>PermissionsCheck.Check`), not at that moment. `UploadApi.JudgedChangeSet` runs after
Prepare and before anything executes the change set: its build first checks the digest of the
artifact it extracted (the one PipelineChange.Check judged: artifact_digest.py), then this file reads
the change set (`aws cloudformation describe-change-set`, then `get-template --change-set-name <its id>
--template-stage Original`, through the stage account's read-only CDK lookup role) and compares its
template, parsed as JSON, with the stack's template file in that artifact (TEMPLATE_PATH, the path
Prepare's TemplatePath names). It fails when they differ (naming each differing entry), when the change
set passes a parameter value other than the template's default (Prepare passes none), or when the change
set is neither ready to execute nor empty. Exit 0: the judged template; 1: not; 2: it cannot ask (a
missing variable, an unreadable template, a role it cannot assume, an API error), in one line.

The pipeline stack inlines this file and approved_change_set_check.py (whose AWS CLI and lookup-role
plumbing it uses) into the step's buildspec at synth (stages/pipeline/judged_change_set.py): the copy
that runs is the deployed pipeline's; nothing from the commit runs. Standard library only, Python 3.9.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

try:  # as the pipeline runs it: written out beside this file, from the same buildspec
    import approved_change_set_check as shared
except ImportError:  # from the repository (its tests)
    from stages.pipeline import approved_change_set_check as shared

CANNOT_ASK, FAILED, PASSED = shared.CANNOT_ASK, shared.FAILED, shared.PASSED
CannotAsk, Verdict = shared.CannotAsk, shared.Verdict
ask, aws, stage_env = shared.ask, shared.aws, shared.stage_env

NAME = "judged-change-set"
REQUIRED_ENV = ("STACK_NAME", "CHANGE_SET_NAME", "TEMPLATE_PATH", "JUDGED_BY")
# The template's sections whose entries are named one by one in a difference.
NAMED_SECTIONS = ("Parameters", "Rules", "Mappings", "Conditions", "Resources", "Outputs")
SHOWN_DIFFERENCES = 8
# CloudFormation's status reason for a change set with nothing to change (CodePipeline's Deploy then
# executes nothing; the action succeeds).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_ABSENT = object()


def differences(judged: Mapping[str, Any], change_set: Any) -> list[str]:
    """What differs between the judged template and the change set's, one entry each, in template order."""
    if not isinstance(change_set, Mapping):
        return ["the change set's template is not a JSON object"]
    found: list[str] = []
    for key in _keys(judged, change_set):
        mine, theirs = judged.get(key, _ABSENT), change_set.get(key, _ABSENT)
        if mine == theirs:
            continue
        if key in NAMED_SECTIONS and isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            found.extend(
                _difference(f"{key}.{name}", mine.get(name, _ABSENT), theirs.get(name, _ABSENT))
                for name in _keys(mine, theirs)
                if mine.get(name, _ABSENT) != theirs.get(name, _ABSENT)
            )
        else:
            found.append(_difference(key, mine, theirs))
    return found


def _keys(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    return [*first, *(key for key in second if key not in first)]


def _difference(where: str, judged: Any, change_set: Any) -> str:
    if judged is _ABSENT:
        return f"{where} only in the change set"
    if change_set is _ABSENT:
        return f"{where} missing from the change set"
    return f"{where} differs"


def parameter_differences(judged: Mapping[str, Any], described: Mapping[str, Any]) -> list[str]:
    """The change set's parameters that are not the template's own at their defaults (Prepare passes none)."""
    declared = judged.get("Parameters") or {}
    found = []
    for parameter in described.get("Parameters") or []:
        key = str(parameter.get("ParameterKey", ""))
        if key not in declared:
            found.append(f"parameter {key} is not the template's")
        elif parameter.get("UsePreviousValue"):
            found.append(f"parameter {key} keeps its previous value")
        elif str(parameter.get("ParameterValue")) != str(declared[key].get("Default")):
            found.append(f"parameter {key} is not its default")
    return found


def _status(described: Mapping[str, Any]) -> tuple[bool, str]:
    """(deployable, what Deploy does with it)."""
    status, execution = described.get("Status"), described.get("ExecutionStatus")
    reason = str(described.get("StatusReason") or "")
    if status == "CREATE_COMPLETE" and execution == "AVAILABLE":
        return True, "AVAILABLE: Deploy executes it"
    if status == "FAILED" and any(text in reason for text in NO_CHANGES):
        return True, "empty: no change to the stack, Deploy executes nothing"
    return False, f"{status}/{execution}" + (f" ({reason})" if reason else "")


def judge(
    judged: Mapping[str, Any], described: Mapping[str, Any], template: Any, *, judged_by: str, path: str
) -> shared.Verdict:
    """The change set (DescribeChangeSet's answer and its template) against the template in the artifact."""
    where = f"change set {described.get('ChangeSetId', '?')} of {described.get('StackName', '?')}"
    found = differences(judged, template) + parameter_differences(judged, described)
    if found:
        more = len(found) - SHOWN_DIFFERENCES
        shown = ", ".join(found[:SHOWN_DIFFERENCES]) + (f" and {more} more" if more > 0 else "")
        return Verdict(
            False,
            f"FAIL: {where} is not the template {judged_by} judged ({path}): {shown}; the artifact was "
            "rewritten between the check and Prepare? Start a new release",
        )
    deployable, status = _status(described)
    if not deployable:
        return Verdict(False, f"FAIL: {where} is the template {judged_by} judged, but it is {status}")
    resources = len(judged.get("Resources") or {})
    parameters = sorted(judged.get("Parameters") or {})
    at_defaults = f"parameters {', '.join(parameters)} at their defaults" if parameters else "no parameters"
    return Verdict(
        True,
        f"PASS: {where} is the template {judged_by} judged ({path}: {resources} resources, {at_defaults}); "
        f"{status}",
    )


def artifact_template(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """TEMPLATE_PATH inside the artifact (CODEBUILD_SRC_DIR, else the working directory), parsed."""
    relative = PurePosixPath(env["TEMPLATE_PATH"])
    if relative.is_absolute() or ".." in relative.parts:
        raise CannotAsk(f"{NAME}: TEMPLATE_PATH {relative} is not a path inside the artifact")
    path = Path(env.get("CODEBUILD_SRC_DIR") or ".") / relative
    try:
        template = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CannotAsk(f"{NAME}: the artifact's template {relative}: {error}") from error
    if not isinstance(template, dict):
        raise CannotAsk(f"{NAME}: the artifact's template {relative}: not a JSON object")
    return str(relative), template


def _template_body(answer: Mapping[str, Any]) -> Any:
    """GetTemplate's TemplateBody: the CLI decodes a JSON body into an object; a string stays one."""
    body = answer.get("TemplateBody")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def check(env: Mapping[str, str], run: shared.Runner = aws) -> shared.Verdict:
    shared.required(env, REQUIRED_ENV, check=NAME)
    path, judged = artifact_template(env)
    stack, name = env["STACK_NAME"], env["CHANGE_SET_NAME"]
    as_stage = stage_env(env, run, check=NAME)
    describe = ["cloudformation", "describe-change-set", "--stack-name", stack, "--change-set-name", name]
    described = ask(run, f"DescribeChangeSet {stack}/{name}", describe, as_stage, check=NAME)
    change_set_id = str(described.get("ChangeSetId") or "")
    if not change_set_id:
        raise CannotAsk(f"{NAME}: DescribeChangeSet {stack}/{name}: no ChangeSetId in the answer")
    # By id: the template read is the one of the change set just described, not one created since.
    get_template = [
        "cloudformation", "get-template", "--stack-name", stack,
        "--change-set-name", change_set_id, "--template-stage", "Original",
    ]  # fmt: skip
    answer = ask(run, f"GetTemplate of {stack}/{name}", get_template, as_stage, check=NAME)
    described = {"StackName": stack, **described}
    return judge(judged, described, _template_body(answer), judged_by=env["JUDGED_BY"], path=path)


def main(env: Mapping[str, str] | None = None, run: shared.Runner = aws) -> int:
    return shared.verdict_exit(check, os.environ if env is None else env, run)


if __name__ == "__main__":
    sys.exit(main())
