"""After SelfMutate: the pipeline stack as deployed, read back through the services.

The SelfMutate action's `cdk deploy` of the pipeline stack is not trusted for its exit code alone.
Its stack is read back as the deploy actions read theirs (deploy.check_stack: every resource
through its service, each property held against the template as CloudFormation resolved it,
fidelity.py), and the action fails when what was deployed is not the synthesized pipeline:
- the template CloudFormation holds (GetTemplate) is not the synthesized one;
- a resource is missing;
- the pipeline (CodePipeline GetPipeline) lacks a stage, an action or an approval the template
  has, has one the template lacks, or runs one in another order or as another provider;
- a CodeBuild project's buildspec (BatchGetProjects) is not the template's, as resolved.
Roles' trust and policies are read back through IAM and counted (fidelity), as in the stages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.common import assembly, intrinsics
from tools.review_kit.rehearse import deploy, emulator, fidelity
from tools.review_kit.rehearse.pipeline_services import PIPELINE, PROJECT, cfn_shape

SELF_MUTATE = "SelfMutate"  # CDK Pipelines' name for the action that deploys the pipeline stack
_DEPLOY_COMMAND = re.compile(r"\bdeploy\s+([A-Za-z][A-Za-z0-9-]*)")


@dataclass
class ReadBack:
    check: deploy.StackCheck
    problems: list[str] = field(default_factory=list)
    stages: int = 0
    actions: int = 0
    buildspecs: int = 0

    def note(self) -> str:
        return (
            f"pipeline stack read back: {self.stages} stages, {self.actions} actions, "
            f"{self.buildspecs} buildspecs as synthesized; {self.check.fidelity.line()}"
        )


def is_self_mutation(action: Any) -> bool:
    return bool(action.name == SELF_MUTATE)


def deployed_stack(spec: Mapping[str, Any]) -> str:
    """The stack the buildspec's `cdk deploy` names."""
    commands = [
        str(c) for phase in (spec.get("phases") or {}).values() for c in (phase or {}).get("commands") or []
    ]
    names = [m.group(1) for m in (_DEPLOY_COMMAND.search(c) for c in commands) if m]
    if len(names) != 1:
        raise ValueError(f"expected one `cdk deploy <stack>` in the buildspec, found {len(names)}")
    return names[0]


def after_self_mutation(session: Any, spec: Mapping[str, Any], assembly_dir: Path) -> ReadBack:
    """The stack SelfMutate deployed, read back and held against the artifact's template."""
    stack_name = deployed_stack(spec)
    template = json.loads((assembly_dir / f"{stack_name}.template.json").read_text(encoding="utf-8"))
    return read_back(session, stack_name, template)


def read_back(session: Any, stack_name: str, template: Mapping[str, Any]) -> ReadBack:
    cloudformation = session.client("cloudformation")
    body = cloudformation.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    deployed = json.loads(body) if isinstance(body, str) else body
    result = ReadBack(deploy.check_stack(session, stack_name, template))
    result.problems += template_differences(template, deployed)
    result.problems += result.check.missing
    listed = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed}
    where = intrinsics.Account(emulator.ACCOUNT, emulator.REGION)
    written = fidelity.Written(where, physical, assembly.Template(dict(template)).types())
    for logical_id, resource in template.get("Resources", {}).items():
        if logical_id not in physical or resource["Type"] not in (PIPELINE, PROJECT):
            continue  # a missing resource is a problem already (check_stack)
        properties = intrinsics.resolve_tree(resource.get("Properties", {}), written)
        if resource["Type"] == PIPELINE:
            answer = session.client("codepipeline").get_pipeline(name=physical[logical_id])["pipeline"]
            result.problems += structure_problems(properties, cfn_shape(answer))
            result.stages += len(properties["Stages"])
            result.actions += sum(len(stage["Actions"]) for stage in properties["Stages"])
        else:
            result.problems += buildspec_problems(session, logical_id, physical[logical_id], properties)
            result.buildspecs += 1
    return result


def template_differences(synthesized: Mapping[str, Any], deployed: Mapping[str, Any]) -> list[str]:
    """Where the template CloudFormation holds is not the synthesized one (by section and resource)."""
    if synthesized == deployed:
        return []
    ours, theirs = synthesized.get("Resources", {}), deployed.get("Resources", {})
    differing = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    sections = sorted(
        k
        for k in set(synthesized) | set(deployed)
        if k != "Resources" and synthesized.get(k) != deployed.get(k)
    )
    return [
        "the template CloudFormation holds is not the synthesized one: "
        + ", ".join([*(f"section {s}" for s in sections), *(f"resource {r}" for r in differing[:5])])
        + (f" and {len(differing) - 5} more" if len(differing) > 5 else "")
    ]


def _kind(action: Mapping[str, Any]) -> str:
    type_id = action.get("ActionTypeId") or {}
    return f"{type_id.get('Category')}/{type_id.get('Provider')}"


def structure_problems(written: Mapping[str, Any], deployed: Mapping[str, Any]) -> list[str]:
    """Stages, actions (their provider and run order) and approvals: the template's against GetPipeline's."""
    problems: list[str] = []
    deployed_stages = {stage["Name"]: stage for stage in deployed.get("Stages") or []}
    written_names = [stage["Name"] for stage in written["Stages"]]
    for stage in written["Stages"]:
        found = deployed_stages.get(stage["Name"])
        if found is None:
            problems.append(f"the deployed pipeline lacks the stage {stage['Name']}")
            continue
        problems += _action_problems(stage["Name"], stage["Actions"], found.get("Actions") or [])
    extra = [name for name in deployed_stages if name not in written_names]
    problems += [f"the deployed pipeline has a stage the template lacks: {name}" for name in extra]
    order = [name for name in deployed_stages if name in written_names]
    if order != [name for name in written_names if name in deployed_stages]:
        problems.append(
            f"the deployed stages run in the order {', '.join(order)}; "
            f"the template's: {', '.join(written_names)}"
        )
    return problems


def _action_problems(
    stage: str, written: list[Mapping[str, Any]], deployed: list[Mapping[str, Any]]
) -> list[str]:
    problems: list[str] = []
    by_name = {action["Name"]: action for action in deployed}
    for action in written:
        name, kind = action["Name"], _kind(action)
        what = "approval" if kind.startswith("Approval/") else "action"
        found = by_name.get(name)
        if found is None:
            problems.append(f"the deployed pipeline's stage {stage} lacks the {what} {name} ({kind})")
        elif _kind(found) != kind:
            problems.append(f"{stage}/{name} is deployed as {_kind(found)}; the template's is {kind}")
        elif int(found.get("RunOrder") or 1) != int(action.get("RunOrder") or 1):
            problems.append(
                f"{stage}/{name} runs at order {found.get('RunOrder')}; "
                f"the template's is {action.get('RunOrder', 1)}"
            )
    names = {action["Name"] for action in written}
    problems += [
        f"the deployed pipeline's stage {stage} has an action the template lacks: {a['Name']}"
        for a in deployed
        if a["Name"] not in names
    ]
    return problems


def buildspec_problems(session: Any, logical_id: str, name: str, written: Mapping[str, Any]) -> list[str]:
    """The project's buildspec as CodeBuild holds it, against the template's as CloudFormation resolved it."""
    expected = (written.get("Source") or {}).get("BuildSpec")
    if expected is None:
        return []  # a project whose buildspec is a file of its source: nothing inline to compare
    if fidelity.UNRESOLVED in str(expected):
        return [
            f"project {logical_id}: its buildspec names an attribute the rehearsal cannot resolve "
            "(NOT COMPARED)"
        ]
    projects = session.client("codebuild").batch_get_projects(names=[name])["projects"]
    if not projects:
        return []  # a missing project is a problem already (check_stack)
    deployed = (projects[0].get("source") or {}).get("buildspec")
    if deployed != expected:
        return [f"project {logical_id}: the buildspec CodeBuild holds is not the template's"]
    return []
