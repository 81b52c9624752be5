"""The delivery path: how a commit reaches dev and prod, and who on the way can become a bootstrap role.

Read from the synthesized pipeline stack (its CodePipeline, CodeBuild projects and IAM), the committed
bootstrap template, cdk.json's settings and docs/delivery-trust.md's gate table
(tools/pipeline_checks/review/delivery_context.py):

1. the pipeline's stages and actions in run order, approvals and checks named as such;
2. each CodeBuild project: the actions that run it, its commands by buildspec phase, its input
   artifacts, its role and the roles that role may assume;
3. the bootstrap roles and whom they trust; 4. the accounts; 5. what each gate sees and does not.

Two kinds of flag join the report's findings (pack `DeliveryPath`), with the role or project as construct:

- `DeliveryPath-BootstrapAssume`, one per pipeline role whose policies allow `sts:AssumeRole` on a
  bootstrap role (`cdk-<qualifier>-*-role-*`): `info` when the committed bootstrap template trusts
  that role by name for each bootstrap role it reaches; else `warning` when the grant stays in the
  role's own account (the CLI's own-account trust admits it), `error` when it reaches other accounts.
- `DeliveryPath-InstallScripts` (`error`): a project whose input is a pipeline artifact, whose role
  may assume a bootstrap role, and which runs an install that can run package lifecycle scripts
  (tools/pipeline_checks/review/commands.py says which do).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The one wording of an action's kind (approval, check): the pipeline change gate's (standard library).
from stages.pipeline.pipeline_change_check import _action_kind as action_kind
from tools.common.assembly import Assembly, AssemblyError, Resource, Stack
from tools.common.assembly import Template as AssemblyTemplate
from tools.common.intrinsics import render
from tools.common.paths import REPO_ROOT
from tools.pipeline_checks.review import commands, delivery_context
from tools.pipeline_checks.review.delivery_context import OTHER_ACCOUNT, OWN_ACCOUNT, BootstrapRole
from tools.pipeline_checks.review.iam import policy_statements as statements_of

PACK = "DeliveryPath"
ASSUME_RULE, INSTALL_RULE = f"{PACK}-BootstrapAssume", f"{PACK}-InstallScripts"
BUILDSPEC_RULE = f"{PACK}-BuildspecFromArtifact"
BOOTSTRAP_TEMPLATE = REPO_ROOT / "bootstrap" / "cdk" / "bootstrap-template.json"
GATES_DOC = REPO_ROOT / "docs" / "delivery-trust.md"
CDK_JSON = REPO_ROOT / "cdk.json"
MAKEFILE = REPO_ROOT / "Makefile"
_TAG_KEY = "iam:ResourceTag/aws-cdk:bootstrap-role"
_SHOWN_COMMAND = 240


def build(
    assembly: Assembly,
    *,
    bootstrap_template: Path = BOOTSTRAP_TEMPLATE,
    cdk_json: Path = CDK_JSON,
    gates_doc: Path = GATES_DOC,
    repo: Path = REPO_ROOT,
) -> dict[str, Any]:
    """The section: {status, pipeline, projects, assumes, bootstrap, topology, gates}, and its `flags`
    (findings: the caller adds them to the report's)."""
    try:
        stack = assembly.root_stack()
    except AssemblyError as error:
        return {"status": f"not read: {error}", "flags": []}
    pipelines = [r for r in stack.resources.values() if r.type == "AWS::CodePipeline::Pipeline"]
    try:
        template = json.loads(bootstrap_template.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {"status": f"not read: bootstrap template {bootstrap_template}: {error}", "flags": []}
    roles = delivery_context.bootstrap_roles(template)
    # Each stack deploys through its own bootstrap (docs/bootstrap.md): a grant may reach any of them.
    qualifiers = dict.fromkeys(AssemblyTemplate(s.template).bootstrap_qualifier for s in assembly.stacks)
    targets = [r for q in qualifiers for r in delivery_context.bootstrap_roles(template, q)]
    topology = delivery_context.topology(cdk_json)
    stages = [_stage(stack, s) for p in pipelines for s in p.properties.get("Stages") or []]
    every_role = [_assume(stack, role, targets) for role in _roles(stack)]
    assumes = [a for a in every_role if a["grants"]]
    projects = _projects(stack, stages, every_role, commands.Makefile.read(repo / "Makefile"), repo)
    actions = [(s["name"], a["name"], a["runOrder"]) for s in stages for a in s["actions"]]
    section: dict[str, Any] = {
        "status": "read" if pipelines else f"no CodePipeline in {stack.stack_name}",
        "stack": stack.stack_name,
        "pipeline": stages,
        "projects": projects,
        "assumes": assumes,
        "bootstrap": _bootstrap(stack, template, roles, topology),
        "topology": topology,
        "gates": delivery_context.gates_table(gates_doc, actions),
    }
    section["environments"] = environments(assembly)
    stage_here = any(e["inPipelineAccount"] for e in section["environments"] if e["stage"] != stack.stage)
    section["flags"] = [_assume_flag(stack, a, stage_here) for a in assumes]
    section["flags"] += [f for f in (_install_flag(stack, p) for p in projects) if f]
    section["flags"] += [f for f in (_buildspec_flag(stack, p) for p in projects) if f]
    return section


# -- 1. stages and actions ------------------------------------------------------------------------


def _stage(stack: Stack, stage: dict[str, Any]) -> dict[str, Any]:
    actions = []
    for action in sorted(stage.get("Actions") or [], key=lambda a: a.get("RunOrder", 1)):
        type_id = action.get("ActionTypeId") or {}
        configuration = action.get("Configuration") or {}
        project = configuration.get("ProjectName")
        actions.append(
            {
                "name": str(action.get("Name", "")),
                "runOrder": int(action.get("RunOrder", 1)),
                "kind": action_kind(action),
                "category": str(type_id.get("Category", "")),
                "provider": str(type_id.get("Provider", "")),
                "project": project.get("Ref", "") if isinstance(project, dict) else "",
                "inputs": [str(i.get("Name")) for i in action.get("InputArtifacts") or []],
                "outputs": [str(o.get("Name")) for o in action.get("OutputArtifacts") or []],
                "role": render(action["RoleArn"], stack.name_of) if "RoleArn" in action else "",
                "stackName": str(configuration.get("StackName", "")),
            }
        )
    return {"name": str(stage.get("Name", "")), "actions": actions}


# -- who may assume a bootstrap role ----------------------------------------------------------------


@dataclass
class _RolePolicies:
    """A role of the stack, the statements of its inline and attached policies, and the attached policies
    this report cannot read (an AWS managed policy, another stack's)."""

    role: Resource
    statements: list[dict[str, Any]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


# The partition may be rendered as `${AWS::Partition}`: match from the service on.
_AWS_MANAGED_ARN = re.compile(r"^arn:.*:iam::aws:policy/(?:[^/]+/)*(?P<name>[^/]+)$")


@functools.cache
def _aws_managed_documents() -> dict[str, Any]:
    """AWS managed policies' documents by name, from moto's snapshot of them (moto is in the dev lock)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return {name: body.get("Document") for name, body in data.items()}


def _aws_managed_document(arn: str) -> Any:
    """The document of an AWS managed policy ARN (`arn:*:iam::aws:policy/...`), or None if unknown."""
    found = _AWS_MANAGED_ARN.match(arn)
    return _aws_managed_documents().get(found["name"]) if found else None


def _roles(stack: Stack) -> list[_RolePolicies]:
    """Every role with its policies: inline (Policies), attached by a policy's Roles, or by the role's
    ManagedPolicyArns (a managed policy of this template, or an AWS managed policy moto's snapshot
    holds, is read; any other is listed unread)."""
    found = {lid: _RolePolicies(r) for lid, r in stack.resources.items() if r.type == "AWS::IAM::Role"}
    for entry in found.values():
        for policy in entry.role.properties.get("Policies") or []:
            entry.statements.extend(statements_of(policy.get("PolicyDocument")))
        for arn in entry.role.properties.get("ManagedPolicyArns") or []:
            attached = stack.resources.get(arn.get("Ref", "")) if isinstance(arn, dict) else None
            aws_managed = _aws_managed_document(render(arn, stack.name_of))
            if attached is not None and attached.type == "AWS::IAM::ManagedPolicy":
                entry.statements.extend(statements_of(attached.properties.get("PolicyDocument")))
            elif aws_managed is not None:
                entry.statements.extend(statements_of(aws_managed))
            else:
                entry.unread.append(render(arn, stack.name_of))
    for resource in stack.resources.values():
        if resource.type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for target in resource.properties.get("Roles") or []:
                logical_id = target.get("Ref") if isinstance(target, dict) else None
                if logical_id in found:
                    found[logical_id].statements.extend(
                        statements_of(resource.properties.get("PolicyDocument"))
                    )
    return list(found.values())


def _assume(stack: Stack, entry: _RolePolicies, roles: list[BootstrapRole]) -> dict[str, Any]:
    """The bootstrap roles a role's policies let it assume, each with its reach and whether it is trusted.
    An attached policy the report cannot read is taken to reach every bootstrap role."""
    role, statements = entry.role, entry.statements
    name_value = role.properties.get("RoleName")
    role_name = render(name_value, stack.name_of) if name_value is not None else None
    grants, targets = [], []
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow" or not _allows_assume(statement):
            continue
        condition = json.dumps(statement["Condition"]) if statement.get("Condition") else ""
        resources = _assume_resources(statement)
        targets += [render(r, stack.name_of) + (f" if {condition}" if condition else "") for r in resources]
        for resource in resources:
            for target in roles:
                reach = _reach(stack, resource, target, statement)
                if not reach:
                    continue
                arn = delivery_context.pipeline_role_arn(
                    stack.stack_name, role.logical_id, role_name, OWN_ACCOUNT
                )
                grants.append(
                    {
                        "kind": target.kind,
                        "bootstrapRole": target.name(),
                        "reach": reach,
                        "resource": render(resource, stack.name_of),
                        "condition": json.dumps(statement.get("Condition"))
                        if statement.get("Condition")
                        else "",
                        "trustedByName": target.trusts_by_name(arn),
                    }
                )
    grants += [_unread_grant(f"attached managed policy {arn}") for arn in entry.unread]
    targets += [f"{arn} (attached, not read here)" for arn in entry.unread]
    return {
        "role": stack.relative_path(role.path) or role.logical_id,
        "logicalId": role.logical_id,
        "constructPath": role.path,
        "roleName": role_name or "",
        "why": delivery_context.why_trusted(role.logical_id),
        "grants": grants,
        "targets": list(dict.fromkeys(targets)),
    }


def _assume_resources(statement: dict[str, Any]) -> list[Any]:
    """What an Allow statement's AssumeRole acts on; `NotResource` (everything but what it names) as `*`."""
    if "Resource" not in statement and "NotResource" in statement:
        return ["*"]
    resources = statement.get("Resource", [])
    return resources if isinstance(resources, list) else [resources]


def _allows_assume(statement: dict[str, Any]) -> bool:
    def matches(patterns: Any) -> bool:
        items = patterns if isinstance(patterns, list) else [patterns]
        return any(isinstance(p, str) and fnmatch.fnmatchcase("sts:assumerole", p.lower()) for p in items)

    if "NotAction" in statement:
        return not matches(statement["NotAction"])
    return matches(statement.get("Action", []))


def _reach(stack: Stack, resource: Any, target: BootstrapRole, statement: dict[str, Any]) -> str:
    """'own account', 'any account', 'account N' or '' (the grant does not reach that bootstrap role)."""
    tags = _tag_values(statement.get("Condition"))
    if tags is not None and target.tag not in tags:
        return ""
    pattern = delivery_context.concrete(resource, stack.name_of)
    account = pattern.split(":")[4] if pattern.count(":") >= 5 else "*"
    region = delivery_context.region_in(pattern)
    if account in (OWN_ACCOUNT, stack.environment.partition("://")[2].partition("/")[0]):
        return "own account" if fnmatch.fnmatchcase(target.arn(account, region), pattern) else ""
    if account.isdigit():
        return f"account {account}" if fnmatch.fnmatchcase(target.arn(account, region), pattern) else ""
    return "any account" if fnmatch.fnmatchcase(target.arn(OTHER_ACCOUNT, region), pattern) else ""


def _tag_values(condition: Any) -> set[str] | None:
    """The bootstrap-role tags a condition allows (`iam:ResourceTag/aws-cdk:bootstrap-role`); None: any."""
    if not isinstance(condition, dict):
        return None
    for operator, tests in condition.items():
        if "StringEquals" in operator and isinstance(tests, dict) and _TAG_KEY in tests:
            values = tests[_TAG_KEY]
            return {str(v) for v in (values if isinstance(values, list) else [values])}
    return None


def _assume_flag(stack: Stack, assume: dict[str, Any], stage_here: bool) -> dict[str, Any]:
    """stage_here: a stage stack is synthesized into the pipeline's account."""
    verdicts: dict[str, list[str]] = {}
    severity = "info"
    for grant in assume["grants"]:
        if grant["trustedByName"]:
            verdict = "trusted by name in the bootstrap template"
        elif grant["reach"] == "own account":
            verdict = "NOT trusted by name: only the CLI's own-account trust admits it"
            if stage_here:
                verdict += " (a stage is synthesized into the pipeline's account: that is the stage's role)"
            severity = "error" if severity == "error" else "warning"
        else:
            verdict = "NOT trusted by name: reaches other accounts' bootstrap roles"
            severity = "error"
        where = f"{grant['reach']}, {grant['resource']}" + (
            f" if {grant['condition']}" if grant["condition"] else ""
        )
        kinds = verdicts.setdefault(f"({where}): {verdict}", [])
        if grant["kind"] not in kinds:
            kinds.append(grant["kind"])
    parts = [f"{', '.join(kinds)} {text}" for text, kinds in verdicts.items()]
    description = f"{assume['role']} may assume bootstrap roles: " + "; ".join(parts)
    if assume["why"]:
        description += f". Expected: {assume['why']}"
    return _finding(
        stack,
        ASSUME_RULE,
        severity,
        assume["constructPath"],
        assume["logicalId"],
        "AWS::IAM::Role",
        description,
    )


def environments(assembly: Assembly) -> list[dict[str, Any]]:
    """Each stack's account and region as synthesized; an environment-agnostic stage stack deploys
    into the pipeline's account (CDK Pipelines), so it counts as in the pipeline's account."""
    root = assembly.root_stack()

    def parts(stack: Stack) -> tuple[str, str]:
        _, _, rest = stack.environment.partition("://")
        account, _, region = rest.partition("/")
        return account or "unknown-account", region or "unknown-region"

    pipeline_account = parts(root)[0]
    found = []
    for stack in assembly.stacks:
        account, region = parts(stack)
        here = account in (pipeline_account, "unknown-account")
        found.append({"stage": stack.stage, "stack": stack.stack_name, "account": account, "region": region,
                      "inPipelineAccount": here})  # fmt: skip
    return found


# -- 2. projects ------------------------------------------------------------------------------------


def _projects(
    stack: Stack,
    stages: list[dict[str, Any]],
    assumes: list[dict[str, Any]],
    makefile: commands.Makefile,
    repo: Path,
) -> list[dict[str, Any]]:
    producers = {o: f"{s['name']} / {a['name']}" for s in stages for a in s["actions"] for o in a["outputs"]}
    by_role = {a["logicalId"]: a for a in assumes}
    found = []
    for resource in stack.resources.values():
        if resource.type != "AWS::CodeBuild::Project":
            continue
        runs = [(s["name"], a) for s in stages for a in s["actions"] if a["project"] == resource.logical_id]
        inputs = list(dict.fromkeys(i for _, a in runs for i in a["inputs"]))
        where, spec = commands.buildspec(dict(resource.properties), stack.name_of, repo)
        phases = commands.phase_commands(spec)
        installs = commands.installs([c for p in phases for c in p["commands"]], makefile, repo)
        role_value = resource.properties.get("ServiceRole")
        role_id = _role_id(role_value)
        found.append(
            {
                "project": stack.relative_path(resource.path) or resource.logical_id,
                "logicalId": resource.logical_id,
                "constructPath": resource.path,
                "actions": [f"{stage} / {a['name']}" for stage, a in runs],
                "buildspec": where,
                "phases": [{**p, "commands": [_shown(c) for c in p["commands"]]} for p in phases],
                "inputs": [
                    {"artifact": i, "from": producers.get(i, "outside this pipeline")} for i in inputs
                ],
                "role": render(role_value, stack.name_of) if role_value is not None else "",
                "assumes": (by_role.get(role_id) or {}).get("grants", [])
                if role_id or role_value is None
                else [_unread_grant(render(role_value, stack.name_of))],
                "assumeTargets": (by_role.get(role_id) or {}).get("targets", []),
                "installs": [i.as_dict() for i in installs],
            }
        )
    return found


def _unread_grant(what: str) -> dict[str, Any]:
    """A grant this report cannot read (a project whose role is not one of this stack's, an attached
    managed policy not in the template): taken to reach every bootstrap role, never shown harmless."""
    return {
        "kind": "any (not read here)",
        "bootstrapRole": "*",
        "reach": "unknown",
        "resource": what,
        "condition": "",
        "trustedByName": False,
    }


def _role_id(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value.get("Ref", "")) if isinstance(value, dict) else ""


def _shown(command: str) -> str:
    if len(command) <= _SHOWN_COMMAND:
        return command
    return f"{command[:_SHOWN_COMMAND]}… ({len(command)} characters)"


def _install_flag(stack: Stack, project: dict[str, Any]) -> dict[str, Any] | None:
    risky = [i for i in project["installs"] if i["verdict"] == commands.RUNS_SCRIPTS]
    if not (risky and project["inputs"] and project["assumes"]):
        return None
    installs = "; ".join(f"`{_shown(i['command'])}` (via {i['via']}: {i['why']})" for i in risky)
    kinds = ", ".join(sorted({g["kind"] for g in project["assumes"]}))
    artifacts = ", ".join(i["artifact"] for i in project["inputs"])
    description = (
        f"{project['project']} runs {installs} on pipeline artifact(s) {artifacts}, as {project['role']}, "
        f"which may assume the bootstrap role(s) {kinds}: a package's install script runs with them"
    )
    return _finding(
        stack,
        INSTALL_RULE,
        "error",
        project["constructPath"],
        project["logicalId"],
        "AWS::CodeBuild::Project",
        description,
    )


def _buildspec_flag(stack: Stack, project: dict[str, Any]) -> dict[str, Any] | None:
    """A project that runs a buildspec file (not inline) from its input artifact, as a role that may
    assume a bootstrap role: the commit decides its commands without changing the pipeline template, so
    neither the deployed change gate nor this report's reading of the checkout's copy binds them."""
    if not (project["buildspec"].startswith("file ") and project["inputs"] and project["assumes"]):
        return None
    kinds = ", ".join(sorted({g["kind"] for g in project["assumes"]}))
    artifacts = ", ".join(i["artifact"] for i in project["inputs"])
    description = (
        f"{project['project']} runs the buildspec {project['buildspec']} from its input artifact(s) "
        f"{artifacts}, as {project['role']}, which may assume the bootstrap role(s) {kinds}: what it runs "
        "changes with the commit, not with the pipeline template. Write the buildspec inline."
    )
    return _finding(
        stack,
        BUILDSPEC_RULE,
        "error",
        project["constructPath"],
        project["logicalId"],
        "AWS::CodeBuild::Project",
        description,
    )


# -- 3. the bootstrap roles -------------------------------------------------------------------------


def _bootstrap(
    stack: Stack, template: dict[str, Any], roles: list[BootstrapRole], topology: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each bootstrap role: its trust in a stage account and the pipeline roles it names."""
    pipeline_account = topology.get("pipelineAccount") or "PIPELINE_ACCOUNT"
    pipeline_roles = [r for r in stack.resources.values() if r.type == "AWS::IAM::Role"]
    found = []
    for role in roles:
        named = []
        for candidate in pipeline_roles:
            name_value = candidate.properties.get("RoleName")
            role_name = render(name_value, stack.name_of) if name_value is not None else None
            arn = delivery_context.pipeline_role_arn(
                stack.stack_name, candidate.logical_id, role_name, OWN_ACCOUNT
            )
            if role.trusts_by_name(arn):
                named.append(stack.relative_path(candidate.path) or candidate.logical_id)
        found.append(
            {
                "logicalId": role.logical_id,
                "kind": role.kind,
                "name": role.name(),
                "patterns": list(role.patterns),
                "namesPipelineRoles": named,
                "trustRows": delivery_context.trust_rows(template, role, "STAGE_ACCOUNT", pipeline_account),
                "boundary": delivery_context.boundary_of(template, role, "STAGE_ACCOUNT"),
            }
        )
    return found


def _finding(
    stack: Stack, rule: str, severity: str, path: str, logical_id: str, resource_type: str, description: str
) -> dict[str, Any]:
    """A flag in the shape of the report's findings (tools/pipeline_checks/review/nag.py)."""
    return {
        "stage": stack.stage,
        "stack": stack.stack_name,
        "pack": PACK,
        "rule": rule,
        "severity": severity,
        "constructPath": path,
        "construct": stack.relative_path(path) or path,
        "logicalId": logical_id,
        "resourceType": resource_type,
        "description": description,
        "key": f"{rule} @ {path}",
    }
