"""Does the pipeline change this run would self-mutate need a person? Run by the deployed pipeline.

The PipelineChangeGate's CodeBuild project runs this file with python3 and the AWS CLI only: the
pipeline stack inlines it into the project's buildspec at synth (stages/pipeline/self_mutation_gate.py),
so the copy that judges a commit is the one already deployed, never the commit's. It compares the
pipeline template in the synth artifact (the one SelfMutate would deploy) with the deployed stack's
template. Auto-approved: only when the two are equal once what CloudFormation does not act on is set
aside (CDK's path metadata, scanner acknowledgements, the CDK analytics resource). Every other
difference is listed for a person; an assembly SelfMutate could deploy something else from is refused.

Standard library only; Python 3.9 and later (CodeBuild standard:7.0 has 3.11 and 3.12).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

try:  # the repository's package (tests, the rehearsal, `make`)
    from stages.pipeline import assembly_check as rules
except ImportError:  # the gate's build: the embedded copy written beside this file
    import assembly_check as rules  # type: ignore[no-redef]

Refused = rules.Refused

AUTO_APPROVE, NEEDS_A_PERSON, REFUSED = 0, 10, 2
# Resource metadata CloudFormation does not act on: CDK's construct paths, asset markers, and the
# scanners' acknowledgements (their reasons are reviewed in stages/compliance.py).
INERT_METADATA_PREFIXES = ("aws:cdk:", "aws:asset:", "cdk_nag", "checkov", "cfn-lint", "cfn_nag", "guard")
CDK_ANALYTICS = ("AWS::CDK::Metadata", "CDKMetadataAvailable")
TRUST_TYPES = {
    "AWS::S3::BucketPolicy": "bucket policy",
    "AWS::KMS::Key": "key policy",
    "AWS::SNS::TopicPolicy": "topic policy",
    "AWS::Lambda::Permission": "function permission",
}
Runner = Callable[[list[str]], str]


# -- the templates ---------------------------------------------------------------------------------


def normalized(template: Mapping[str, Any]) -> dict[str, Any]:
    """`template` without what CloudFormation does not act on."""
    result = {key: value for key, value in template.items() if key not in ("Resources", "Conditions")}
    conditions = {k: v for k, v in template.get("Conditions", {}).items() if k != CDK_ANALYTICS[1]}
    if conditions:
        result["Conditions"] = conditions
    resources: dict[str, Any] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == CDK_ANALYTICS[0]:
            continue
        resource = dict(resource)
        metadata = {
            key: value
            for key, value in resource.pop("Metadata", {}).items()
            if not key.startswith(INERT_METADATA_PREFIXES)
        }
        if metadata:
            resource["Metadata"] = metadata
        resources[logical_id] = resource
    result["Resources"] = resources
    return result


def template_changes(deployed: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every difference that needs a person, one line each; [] when the templates act the same."""
    old, now = normalized(deployed), normalized(new)
    changes = [
        f"template section {section} changed"
        for section in sorted(set(old) | set(now))
        if section != "Resources" and old.get(section) != now.get(section)
    ]
    old_resources, new_resources = old["Resources"], now["Resources"]
    for logical_id in sorted(set(old_resources) | set(new_resources)):
        before, after = old_resources.get(logical_id), new_resources.get(logical_id)
        if before == after:
            continue
        if before is None or after is None:
            resource = after if before is None else before
            verb = "added" if before is None else "removed"
            changes.append(f"{_kind(resource)} {logical_id} ({resource.get('Type')}) {verb}")
        else:
            changes += resource_changes(logical_id, before, after)
    return changes


def resource_changes(logical_id: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    kind, resource_type = _kind(after), after.get("Type")
    if before.get("Type") != resource_type:
        return [f"{kind} {logical_id}: type {before.get('Type')} became {resource_type}"]
    if resource_type == "AWS::CodePipeline::Pipeline":
        return [f"pipeline {logical_id}: {line}" for line in pipeline_changes(before, after)]
    keys = _changed_keys(before, after, exclude=("Properties",))
    keys += [
        f"Properties.{key}"
        for key in _changed_keys(before.get("Properties", {}), after.get("Properties", {}))
    ]
    return [f"{kind} {logical_id} ({resource_type}): {', '.join(keys)} changed"]


def pipeline_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Stages, their order, each action (approvals and checks named as such) and its configuration."""
    old_props, new_props = before.get("Properties", {}), after.get("Properties", {})
    old_stages = {s["Name"]: s for s in old_props.get("Stages", [])}
    new_stages = {s["Name"]: s for s in new_props.get("Stages", [])}
    changes: list[str] = []
    if list(old_stages) != list(new_stages):
        changes.append(f"stages {' > '.join(old_stages)} became {' > '.join(new_stages)}")
    for name in [n for n in old_stages if n in new_stages]:
        changes += [f"stage {name}: {line}" for line in _stage_changes(old_stages[name], new_stages[name])]
    keys = _changed_keys(before, after, exclude=("Properties",))
    keys += [f"Properties.{key}" for key in _changed_keys(old_props, new_props, exclude=("Stages",))]
    if keys:
        changes.append(f"{', '.join(keys)} changed")
    return changes


def _stage_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old_actions = {a["Name"]: a for a in before.get("Actions", [])}
    new_actions = {a["Name"]: a for a in after.get("Actions", [])}
    changes = [
        f"{_action_kind(a)} {name} removed" for name, a in old_actions.items() if name not in new_actions
    ]
    changes += [
        f"{_action_kind(a)} {name} added" for name, a in new_actions.items() if name not in old_actions
    ]
    for name in [n for n in old_actions if n in new_actions]:
        old, new = old_actions[name], new_actions[name]
        if old.get("RunOrder", 1) != new.get("RunOrder", 1):
            order = f"run order {old.get('RunOrder', 1)} became {new.get('RunOrder', 1)}"
            changes.append(f"{_action_kind(new)} {name} moved: {order}")
        keys = _changed_keys(old, new, exclude=("RunOrder",))
        if keys:
            changes.append(f"{_action_kind(new)} {name}: {', '.join(keys)} changed")
    keys = _changed_keys(before, after, exclude=("Actions",))
    if keys:
        changes.append(f"{', '.join(keys)} changed")
    return changes


def _action_kind(action: Mapping[str, Any]) -> str:
    provider = action.get("ActionTypeId", {}).get("Provider")
    if provider == "Manual":
        return "approval"
    if str(action.get("Name", "")).endswith(".Check"):
        return "check"
    return f"{provider} action"


def _kind(resource: Mapping[str, Any]) -> str:
    resource_type = str(resource.get("Type", ""))
    if resource_type.startswith("AWS::IAM::"):
        return "IAM"
    if resource_type in TRUST_TYPES:
        return f"trust ({TRUST_TYPES[resource_type]})"
    if resource_type == "AWS::CodeBuild::Project":
        return "CodeBuild project"
    return "resource"


def _changed_keys(
    before: Mapping[str, Any], after: Mapping[str, Any], exclude: Iterable[str] = ()
) -> list[str]:
    return [k for k in sorted(set(before) | set(after)) if k not in exclude and before.get(k) != after.get(k)]


def deployed_template(path: Path) -> dict[str, Any]:
    """`aws cloudformation get-template --query TemplateBody --output json`: an object (a string if YAML)."""
    body = rules.read_json(path)
    return json.loads(body) if isinstance(body, str) else body


# -- the approval beside the check ------------------------------------------------------------------


def aws(arguments: list[str]) -> str:
    """The AWS CLI on the build image, with fixed subcommands and this build's own values."""
    command = ["aws", *arguments, "--output", "json"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603


def approval_state(run: Runner, pipeline: str, stage: str, action: str, execution: str) -> dict[str, Any]:
    """The approval's latest execution in this pipeline execution ({} if it has not started)."""
    state = json.loads(run(["codepipeline", "get-pipeline-state", "--name", pipeline]))
    for stage_state in state.get("stageStates", []):
        if stage_state.get("stageName") != stage:
            continue
        if stage_state.get("latestExecution", {}).get("pipelineExecutionId") != execution:
            return {}
        for action_state in stage_state.get("actionStates", []):
            if action_state.get("actionName") == action:
                return dict(action_state.get("latestExecution", {}))
    return {}


def waiting_approval(run: Runner, where: Mapping[str, str], attempts: int = 60, pause: float = 5.0) -> str:
    """The token of this execution's approval once it waits (it starts beside this check).

    Only a waiting approval is surely this run's (an earlier run's shows Succeeded or Rejected), so
    one decided before the check saw it waiting is never taken for a wait: the check gives up.
    """
    for _ in range(attempts):
        state = approval_state(run, where["pipeline"], where["stage"], where["action"], where["execution"])
        if state.get("status") == "InProgress" and state.get("token"):
            return str(state["token"])
        time.sleep(pause)
    raise Refused(
        f"{where['action']} was not seen waiting within {attempts * pause:.0f} s (decided before the check "
        "had judged, or not started): nothing approved, retry the stage"
    )


def approve(run: Runner, where: Mapping[str, str], token: str) -> None:
    summary = "No pipeline change needing a person: the new template acts as the deployed one."
    run([
        "codepipeline", "put-approval-result", "--pipeline-name", where["pipeline"],
        "--stage-name", where["stage"], "--action-name", where["action"], "--token", token,
        "--result", json.dumps({"summary": summary, "status": "Approved"}),
    ])  # fmt: skip


def judge(assembly: Path, deployed: Path, stack_id: str, tools: str, qualifier: str) -> list[str]:
    """What needs a person ([] for nothing); Refused if the assembly cannot be vouched for.
    `qualifier`: the pipeline's bootstrap, whose bucket and roles SelfMutate's deploy must use."""
    changes = rules.unexpected_entries(assembly)
    new = rules.pipeline_template(assembly, stack_id, qualifier)
    rules.stage_template_paths(assembly, new, stack_id)
    changes += rules.stack_property_changes(assembly, stack_id, qualifier)
    old = deployed_template(deployed)
    changes += rules.unbound_assets(assembly, old)
    changes += template_changes(old, new)
    if rules.assembly_tools_digest(assembly) != tools:
        changes.append(
            f"{rules.PIPELINE_TOOLS}/ (the CDK CLI SelfMutate and asset publishing install) changed"
        )
    return changes


def main(argv: list[str] | None = None, run: Runner = aws) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assembly", type=Path, required=True)
    parser.add_argument("--deployed", type=Path, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--tools-digest", required=True)
    parser.add_argument("--qualifier", required=True, help="the pipeline's bootstrap qualifier")
    parser.add_argument("--approval", required=True, help="<pipeline>/<stage>/<action>")
    parser.add_argument("--execution", required=True)
    args = parser.parse_args(argv)
    pipeline, stage, action = args.approval.split("/")
    where = {"pipeline": pipeline, "stage": stage, "action": action, "execution": args.execution}
    try:
        changes = judge(args.assembly, args.deployed, args.stack, args.tools_digest, args.qualifier)
        token = waiting_approval(run, where)
        if not changes:
            approve(run, where, token)
            print(f"{args.stack}: no change needing a person; {action} approved")
            return AUTO_APPROVE
    except Refused as refused:
        print(f"{args.stack}: refused, nothing approved: {refused}", file=sys.stderr)
        return REFUSED
    print(f"{args.stack}: {len(changes)} change(s) wait for a person at {action}:")
    print("\n".join(f"  - {change}" for change in changes))
    if approval_state(run, pipeline, stage, action, args.execution).get("token") != token:
        print(f"{action} was decided before this list was written: retry the stage", file=sys.stderr)
        return REFUSED
    return NEEDS_A_PERSON


if __name__ == "__main__":
    sys.exit(main())
