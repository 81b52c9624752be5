"""The edges of tests/iam/chain_graph.py's graph, the walk from a starting role, and what a reached
role may do in prod (admin-equivalent probes), each decided by the project's IAM evaluator."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE, STAGE_TAG_KEY
from tests.iam.chain_builds import Project
from tests.iam.chain_graph import BOUNDARY_NAME, EXEC, REGION, Graph, Role
from tests.iam.conftest import set_policies
from tools.review_kit.iam.evaluator import Request, evaluate

Tags = dict[str, str]
NEW_PROJECT = "planted-project"
KINDS = frozenset({"assume", "build", "cfn", "artifact", "tag", "create"})
# The app's stacks, each a change set a deputy may create (as well as a new stack's).
DEPUTY_STACKS = ("UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi")
STAR = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# Each bootstrap set's role names and boundary: what a role creating a role may give it.
NAME_PREFIX = {"pipeline": "UploadApiPipeline", "dev": "Dev-UploadApi", "prod": "Prod-UploadApi"}
_TAG_KEY = re.compile(r"^(?:aws|iam):ResourceTag/(.+)$", re.IGNORECASE)


def allowed(
    source: Role, action: str, resource: str, context: Mapping[str, Any] | None = None, **kw: Any
) -> bool:
    request = Request(action, resource, dict(context or {}), principal_arn=source.arn)
    return evaluate(request, source.policies, boundary=source.boundary, **kw).allowed


def _resource_tags(tags: Tags) -> dict[str, str]:
    return {f"{p}:ResourceTag/{k}": v for k, v in tags.items() for p in ("aws", "iam")}


def assumes(source: Role, target: Role, tags: Tags | None = None) -> bool:
    if target.trust is None:
        return False
    context = _resource_tags(target.tags if tags is None else tags)
    return allowed(source, "sts:AssumeRole", target.arn, context, resource_policy=target.trust)


def _project_context(project: Project) -> dict[str, str]:
    return {f"aws:ResourceTag/{k}": v for k, v in project.tags.items()}


def builds(source: Role, target_name: str, target: Role, projects: Iterable[Project]) -> bool:
    """Whether `source` runs commands as `target` through CodeBuild: StartBuild (buildspec override)
    or UpdateProject (new buildspec) on a project whose role it is, or CreateProject + PassRole."""
    for project in (p for p in projects if p.role_id == target_name):
        context = _project_context(project)
        if any(
            allowed(source, a, project.arn, context)
            for a in ("codebuild:StartBuild", "codebuild:UpdateProject")
        ):
            return True
    new_project = f"arn:aws:codebuild:{REGION}:{target.account}:project/{NEW_PROJECT}"
    request_tags = {f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE, "aws:TagKeys": [APP_TAG_KEY]}
    passed = {"iam:PassedToService": "codebuild.amazonaws.com"}
    return allowed(source, "codebuild:CreateProject", new_project, request_tags) and allowed(
        source, "iam:PassRole", target.arn, passed
    )


def deputes(source: Role, target: Role) -> bool:
    """CloudFormation as deputy: pass an execution role to it and create a change set."""
    if target.kind != EXEC or source.account != target.account:
        return False
    passed = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    if not allowed(source, "iam:PassRole", target.arn, passed):
        return False
    # A new stack, or one of the app's (the bootstrap roles' boundary admits only its own stack).
    return any(
        allowed(
            source,
            "cloudformation:CreateChangeSet",
            f"arn:aws:cloudformation:{REGION}:{target.account}:stack/{name}/*",
        )
        for name in ("planted", *DEPUTY_STACKS)
    )


def writes(graph: Graph, source: Role, artifact: str) -> bool:
    """s3:PutObject of an object of `artifact` in the artifact bucket (bucket policy included)."""
    key = f"{graph.bucket_arn}/UploadApiPipeline-Pipe/{artifact[:10]}/planted"
    account = graph.layout.pipeline
    context = {"aws:ResourceAccount": account, "s3:ResourceAccount": account, "aws:SecureTransport": True}
    return allowed(source, "s3:PutObject", key, context, resource_policy=graph.bucket_policy)


def edges_from(graph: Graph, name: str, kinds: frozenset[str] = KINDS) -> dict[str, str]:
    """target -> kind of every edge of `kinds` out of `name` but tag edges (the walk adds those)."""
    source, found = graph.roles[name], {}
    for target_name, target in graph.roles.items():
        if target_name == name:
            continue
        if "assume" in kinds and assumes(source, target):
            found[target_name] = "assume"
        elif "build" in kinds and builds(source, target_name, target, graph.projects.values()):
            found[target_name] = "build"
        elif "cfn" in kinds and deputes(source, target):
            found[target_name] = "cfn"
    for consumer in graph.consumers if "artifact" in kinds else []:
        target_name = graph.runs_as(consumer)
        unprotected = consumer.protection is None and target_name not in (name, *found)
        if unprotected and writes(graph, source, consumer.artifact):
            found[target_name] = "artifact"
    return found


def tag_conditions(graph: Graph) -> set[tuple[str, str]]:
    """(key, value) of every resource-tag condition in the graph's policies, boundaries and trusts."""
    found: set[tuple[str, str]] = set()

    def scan(document: Any) -> None:
        for statement in (document or {}).get("Statement", []):
            for keys in (statement.get("Condition") or {}).values():
                for key, values in keys.items():
                    tag = _TAG_KEY.match(key)
                    for value in [values] if not isinstance(values, list) else values:
                        if tag and isinstance(value, str):
                            found.add((tag.group(1), value))

    for role in graph.roles.values():
        for document in (*role.policies, role.boundary, role.trust):
            scan(document)
    return found


def retags(source: Role, target: Role, tags: Tags, candidates: Iterable[tuple[str, str]]) -> list[Tags]:
    """Each tag set `source` may give `target` (now tagged `tags`): one candidate tag added
    (iam:TagRole), or one of its tags removed (iam:UntagRole)."""
    context = _resource_tags(tags)
    results = []
    for key, value in sorted(candidates):
        if tags.get(key) == value:
            continue
        request = {**context, f"aws:RequestTag/{key}": value, "aws:TagKeys": [key]}
        if allowed(source, "iam:TagRole", target.arn, request):
            results.append({**tags, key: value})
    for key in sorted(tags):
        if allowed(source, "iam:UntagRole", target.arn, {**context, "aws:TagKeys": [key]}):
            results.append({k: v for k, v in tags.items() if k != key})
    return results


def creates(source: Role) -> dict[str, Role]:
    """Roles `source` may create (iam:CreateRole and iam:PutRolePolicy) in its account, with any
    policy (`*:*`): one per bootstrap set's names, with that set's boundary where the grant requires
    it, else with none. Whoever creates a role decides what runs as it (its trust, the function or
    build given it): an edge `create` to it."""
    found = {}
    for where, prefix in NAME_PREFIX.items():
        arn = f"arn:aws:iam::{source.account}:role/{prefix}-planted"
        tags = {APP_TAG_KEY: APP_TAG_VALUE, **({STAGE_TAG_KEY: where} if where != "pipeline" else {})}
        request = {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": sorted(tags)}
        boundary_arn = f"arn:aws:iam::{source.account}:policy/{BOUNDARY_NAME[where]}"
        for boundary in (None, boundary_arn):
            context = {**request, **({"iam:PermissionsBoundary": boundary} if boundary else {})}
            if all(allowed(source, a, arn, context) for a in ("iam:CreateRole", "iam:PutRolePolicy")):
                trust = {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": source.arn}, "Action": "sts:AssumeRole"}
                    ]
                }
                bounded = set_policies(where)[1] if boundary else None
                name = f"created:{prefix}-planted@{source.account}{'' if boundary else ' (no boundary)'}"
                found[name] = Role(arn, [STAR], trust, bounded, tags, "created")
                break
    return found


@dataclass(frozen=True)
class Step:
    source: str
    kind: str
    created: Role | None = None  # a role the walk created (not in the graph)


def walk(graph: Graph, start: str, kinds: frozenset[str] = KINDS) -> dict[str, Step]:
    """Every role `start` reaches, each with the edge that first reached it. A reached role that may
    retag a role (one tag added or removed) gives an edge `tag` from it to that role when any role
    reached before or after may assume it so tagged."""
    reached: dict[str, Step] = {}
    retagged: list[tuple[str, Tags, str]] = []  # (role, its tags once retagged, by whom)
    candidates = tag_conditions(graph)
    todo = [start]

    def reach(target: str, step: Step) -> None:
        if target != start and target not in reached:
            reached[target] = step
            todo.append(target)

    graph = replace(graph, roles=dict(graph.roles))  # created roles join this walk's graph
    while todo:
        here = todo.pop()
        source = graph.roles[here]
        for target, kind in edges_from(graph, here, kinds).items():
            reach(target, Step(here, kind))
        for target, role in (creates(source) if "create" in kinds else {}).items():
            graph.roles.setdefault(target, role)
            reach(target, Step(here, "create", role))
        for target, tags, tagger in retagged:
            if assumes(source, graph.roles[target], tags):
                reach(target, Step(tagger, "tag"))
        for name, role in graph.roles.items() if "tag" in kinds else []:
            for tags in retags(source, role, role.tags, candidates):
                retagged.append((name, tags, here))
                others = [graph.roles[o] for o in [start, *reached]]
                if any(assumes(o, role, tags) and not assumes(o, role) for o in others):
                    reach(name, Step(here, "tag"))
    return reached


def reachable(graph: Graph, start: str, kinds: frozenset[str] = KINDS) -> set[str]:
    return set(walk(graph, start, kinds))


def path(graph: Graph, start: str, end: str) -> list[str]:
    """`start -kind-> ... -> end` of a walk, for messages."""
    steps, here, found = walk(graph, start), end, [end]
    while here in steps:
        step = steps[here]
        found[:0] = [step.source, f"-{step.kind}->"]
        here = step.source
    return found


def prod_probes(graph: Graph) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """What would make a role admin-equivalent in prod: label -> (action, resource, context)."""
    account = graph.layout.prod
    tagged = {
        f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE,
        f"aws:ResourceTag/{STAGE_TAG_KEY}": "prod",
        "aws:ResourceAccount": account,
    }
    role = f"arn:aws:iam::{account}:role/Prod-UploadApi-FunctionRole"
    stack = f"arn:aws:cloudformation:{REGION}:{account}:stack/Prod-UploadApi/x"
    return {
        "put a policy on a prod role": ("iam:PutRolePolicy", role, tagged),
        "attach a managed policy to a prod role": ("iam:AttachRolePolicy", role, tagged),
        "rewrite a prod role's trust": ("iam:UpdateAssumeRolePolicy", role, tagged),
        "create a role in prod": ("iam:CreateRole", f"arn:aws:iam::{account}:role/planted", {}),
        "create an IAM user in prod": ("iam:CreateUser", f"arn:aws:iam::{account}:user/planted", {}),
        "execute a change set of Prod-UploadApi": ("cloudformation:ExecuteChangeSet", stack, {}),
        "update Prod-UploadApi": ("cloudformation:UpdateStack", stack, {}),
        "replace the prod function's code": (
            "lambda:UpdateFunctionCode",
            f"arn:aws:lambda:{REGION}:{account}:function:Prod-UploadApi-Function",
            tagged,
        ),
        "rewrite the prod bucket's policy": (
            "s3:PutBucketPolicy",
            "arn:aws:s3:::prod-uploadapi-bucket",
            tagged,
        ),
        "rewrite a prod key's policy": (
            "kms:PutKeyPolicy",
            f"arn:aws:kms:{REGION}:{account}:key/prod",
            tagged,
        ),
        "decrypt with a prod key": ("kms:Decrypt", f"arn:aws:kms:{REGION}:{account}:key/prod", tagged),
    }


def admin_in_prod(graph: Graph, role: Role) -> list[str]:
    """The prod probes `role`'s own policies allow (no resource policy: the prod resources' own
    policies are not modelled, so a role of another account is refused every one)."""
    return [
        label
        for label, (action, resource, context) in prod_probes(graph).items()
        if allowed(role, action, resource, context)
    ]
