"""Chains of sts:AssumeRole: which role of the pipeline reaches a stage's bootstrap roles, in any
number of hops, decided by the project's IAM evaluator.

The pipeline is synthesized with the pipeline, dev and prod in three accounts (as in
test_bootstrap_trust.py); every role of the pipeline stack is a node with its synthesized policies,
its permissions boundary and its trust policy; each stage account adds its bootstrap roles, with the
trust of bootstrap/cdk/bootstrap-template.json, and its CloudFormation execution role, which only
the deploy role can hand to CloudFormation (`iam:PassRole`). An edge is an AssumeRole the source's
policies allow and the target's trust admits, or a build: `codebuild:StartBuild` on a project runs
the caller's commands as the project's role (StartBuild takes a buildspec override), and
`codebuild:CreateProject` with `iam:PassRole` of a role to CodeBuild does the same for that role.
The question a security reviewer asks: can the build
that runs the commit's code (Synth), or any other role, reach a role that deploys to prod other than
through the roles docs/delivery-trust.md names?
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE
from tests.iam.conftest import template_roles
from tests.iam.test_bootstrap_trust import (
    DEV_ACCOUNT,
    KIND,
    PIPELINE_ACCOUNT,
    PIPELINE_BOUNDARY,
    PROD_ACCOUNT,
    QUALIFIER,
    REGION,
    THREE_ACCOUNTS,
    bootstrap_role_arn,
    stage_bootstrap,
)
from tools.dev import bootstrap_template as bt
from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.evaluator import Request, evaluate

pytestmark = pytest.mark.synth

SYNTH_ROLE = "PipelineBuildSynthCdkBuildProjectRole231EEA2A"  # the build that runs the commit's code
EXEC = "cfn-exec"


@dataclass
class Role:
    arn: str
    policies: list[dict[str, Any]]
    trust: dict[str, Any] | None  # None: nothing assumes it (reached another way)
    boundary: Mapping[str, Any] | None
    tag: str | None = None  # aws-cdk:bootstrap-role, which CDK Pipelines' grants select by


def _pipeline_roles(raw: dict[str, Any]) -> dict[str, Role]:
    roles = template_roles(raw, Env(bt.PIPELINE_STACK, PIPELINE_ACCOUNT, REGION))
    return {
        lid: Role(r.arn, r.policies, r.trust, PIPELINE_BOUNDARY if r.bounded else None)
        for lid, r in roles.items()
    }


def _stage_roles(committed: Mapping[str, Any]) -> dict[str, Role]:
    roles = {}
    for account, stage in ((DEV_ACCOUNT, "dev"), (PROD_ACCOUNT, "prod")):
        for role_id, kind in KIND.items():
            trust = bt.trust_policy(committed, role_id, stage_bootstrap(account))
            roles[f"{stage}:{kind}"] = Role(bootstrap_role_arn(role_id, account), [], trust, None, kind)
        exec_arn = f"arn:aws:iam::{account}:role/cdk-{QUALIFIER[account]}-cfn-exec-role-{account}-{REGION}"
        roles[f"{stage}:{EXEC}"] = Role(exec_arn, [], None, None)
    return roles


# The app tags every project (main.py); a caller may tag a new one as the app's.
TAGGED_PROJECT = {f"aws:ResourceTag/{APP_TAG_KEY}": APP_TAG_VALUE}


def _allowed(source: Role, action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    request = Request(action, resource, context or {}, principal_arn=source.arn)
    return evaluate(request, source.policies, boundary=source.boundary).allowed


def _builds(source: Role, target: Role, projects: Mapping[str, str]) -> bool:
    """Whether `source` runs commands as `target` through CodeBuild: StartBuild on a project whose
    role it is, or a new project it may create and pass `target` to."""
    starts = [arn for arn, role_arn in projects.items() if role_arn == target.arn]
    if any(_allowed(source, "codebuild:StartBuild", arn, TAGGED_PROJECT) for arn in starts):
        return True
    new_project = f"arn:aws:codebuild:{REGION}:{PIPELINE_ACCOUNT}:project/planted"
    request_tags = {f"aws:RequestTag/{APP_TAG_KEY}": APP_TAG_VALUE, "aws:TagKeys": [APP_TAG_KEY]}
    passed = {"iam:PassedToService": "codebuild.amazonaws.com"}
    return _allowed(source, "codebuild:CreateProject", new_project, request_tags) and _allowed(
        source, "iam:PassRole", target.arn, passed
    )


def _entered_only_by(role: Role, principals: set[str]) -> bool:
    """Whether `role`'s trust admits only `principals` (role ARNs): no service, account or other role."""
    if role.trust is None:
        return True
    for statement in role.trust["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        principal = statement.get("Principal", {})
        if set(principal) != {"AWS"}:
            return False
        listed = principal["AWS"] if isinstance(principal["AWS"], list) else [principal["AWS"]]
        if not set(listed) <= principals:
            return False
    return True


def _assumes(source: Role, target: Role) -> bool:
    context = {"iam:ResourceTag/aws-cdk:bootstrap-role": target.tag} if target.tag else {}
    request = Request("sts:AssumeRole", target.arn, context, principal_arn=source.arn)
    return evaluate(request, source.policies, boundary=source.boundary, resource_policy=target.trust).allowed


def reachable(roles: Mapping[str, Role], start: str, projects: Mapping[str, str] | None = None) -> set[str]:
    """Every role `start` reaches through AssumeRole chains and builds (`projects`: each CodeBuild
    project's ARN -> its role's ARN), and a stage's execution role from its deploy role (which
    passes it to CloudFormation: the deploy role's own permissions)."""
    projects = projects if projects is not None else PROJECTS
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        targets = {name for name, role in roles.items() if role.trust and _assumes(roles[here], role)}
        targets |= {name for name, role in roles.items() if _builds(roles[here], role, projects)}
        if here.endswith(":deploy"):
            targets.add(here.replace(":deploy", f":{EXEC}"))
        for name in targets - seen:
            seen.add(name)
            todo.append(name)
    return seen - {start}


# Each CodeBuild project of the synthesized pipeline: its ARN -> its role's ARN (set by `graph`).
PROJECTS: dict[str, str] = {}


def _projects(raw: dict[str, Any]) -> dict[str, str]:
    model = Template(raw, Env(bt.PIPELINE_STACK, PIPELINE_ACCOUNT, REGION))
    return {
        model.get_att(lid, "Arn"): model.get_att(r["Properties"]["ServiceRole"]["Fn::GetAtt"][0], "Arn")
        for lid, r in raw["Resources"].items()
        if r["Type"] == "AWS::CodeBuild::Project"
    }


@pytest.fixture(scope="module")
def graph(synth_pipeline) -> dict[str, Role]:
    import json

    committed = json.loads(bt.TEMPLATE_PATH.read_text(encoding="utf-8"))
    raw = synth_pipeline(**THREE_ACCOUNTS).template.to_json()
    PROJECTS.clear()
    PROJECTS.update(_projects(raw))
    assert PROJECTS, "the pipeline has CodeBuild projects"
    return {**_pipeline_roles(raw), **_stage_roles(committed)}


def test_the_build_that_runs_the_commits_code_reaches_no_role(graph):
    # GIVEN Synth's build role (it runs make install, lint, unit, synth on the pushed commit)
    # WHEN every chain of AssumeRole from it is followed
    # THEN it reaches nothing: no bootstrap role, no execution role, no other pipeline role
    assert reachable(graph, SYNTH_ROLE) == set()


def test_a_role_reaches_prods_deploy_role_only_as_a_named_role_in_one_hop(graph):
    # GIVEN every role of the pipeline stack
    pipeline = [name for name in graph if ":" not in name]
    # WHEN each one's chains are followed to the end
    reaching = {name for name in pipeline if "prod:deploy" in reachable(graph, name)}
    direct = {name for name in pipeline if _assumes(graph[name], graph["prod:deploy"])}
    # THEN the roles bootstrap_template.py names reach prod's deploy role (and through it prod's
    # execution role) directly, and any other role reaching it is one only those roles can enter
    # (CodePipeline's CodeBuild action role: it starts the Assets build, and only the pipeline's
    # role may assume it): no chain adds a way in
    named = {role.logical_id for role in bt.TRUSTED_PIPELINE_ROLES["DeploymentActionRole"]}
    assert direct == named
    assert named <= reaching
    assert all(_entered_only_by(graph[n], {graph[m].arn for m in named}) for n in reaching - named)
    reaching_exec = {name for name in pipeline if "prod:cfn-exec" in reachable(graph, name)}
    assert reaching_exec == reaching


def test_no_pipeline_role_reaches_a_stage_role_other_than_the_named_ones(graph):
    # The lookup role also admits the auto-approver's role, whose generated name shares the
    # permission check's prefix (test_bootstrap_trust.py); it is read-only.
    same_name = {"PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRoleC48D6A44"}
    for role_id, kind in KIND.items():
        named = {role.logical_id for role in bt.TRUSTED_PIPELINE_ROLES[role_id]}
        # GIVEN the pipeline roles whose chains reach this bootstrap role, in dev and in prod
        reaching = [
            {n for n in graph if ":" not in n and f"{stage}:{kind}" in reachable(graph, n)} - same_name
            for stage in ("dev", "prod")
        ]
        # THEN each stage's are roles the bootstrap template names (for this role or, reaching it
        # through a build, for another: CodePipeline's role starts the Assets build), or roles only
        # those may enter, and together they include all named for this role (one template serves
        # both stages; each Preflight role reaches its own stage only)
        named_any = {r.logical_id for roles in bt.TRUSTED_PIPELINE_ROLES.values() for r in roles}
        arns = {graph[m].arn for m in named_any}
        for stage in reaching:
            extra = stage - named_any
            assert all(_entered_only_by(graph[n], arns) for n in extra), (kind, extra)
        assert named <= set().union(*reaching), kind


def test_a_two_hop_chain_from_synth_is_found(graph):
    # GIVEN Synth's role allowed to assume the Assets build's role, and that role trusting it (a
    # pipeline change that would wait at PipelineChangeGate)
    planted = copy.deepcopy(graph)
    assets = planted["PipelineAssetsFileRole59943A77"]
    planted[SYNTH_ROLE].policies.append(
        {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": assets.arn}]}
    )
    assert assets.trust is not None
    assets.trust["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": planted[SYNTH_ROLE].arn}, "Action": "sts:AssumeRole"}
    )
    # WHEN Synth's chains are followed THEN prod's deploy and execution roles are reached in two hops
    assert {"PipelineAssetsFileRole59943A77", "prod:deploy", "prod:cfn-exec"} <= reachable(
        planted, SYNTH_ROLE
    )


def test_a_role_that_may_start_the_assets_build_reaches_prods_deploy_role(graph):
    # GIVEN Synth's role allowed to start the Assets project's build (a pipeline change that would
    # wait at PipelineChangeGate): StartBuild takes a buildspec override, so it runs its commands as
    # the project's role, which may assume prod's deploy role
    planted = copy.deepcopy(graph)
    (assets_project,) = [
        p for p, role in PROJECTS.items() if role == graph["PipelineAssetsFileRole59943A77"].arn
    ]
    planted[SYNTH_ROLE].policies.append(
        {"Statement": [{"Effect": "Allow", "Action": "codebuild:StartBuild", "Resource": assets_project}]}
    )
    # WHEN Synth's chains are followed THEN the build edge leads to prod's deploy role
    assert {"PipelineAssetsFileRole59943A77", "prod:deploy"} <= reachable(planted, SYNTH_ROLE)


def test_the_pipelines_builds_are_started_only_by_the_pipelines_own_role(graph):
    # GIVEN every role of the pipeline stack and every project of it
    starters = {
        name
        for name, role in graph.items()
        if ":" not in name
        and any(_allowed(role, "codebuild:StartBuild", project, TAGGED_PROJECT) for project in PROJECTS)
    }
    # THEN only CodePipeline's role (and the actions' roles it runs builds through) may start one
    assert starters, "some role starts the builds"
    assert all(
        name.startswith("PipelineRole") or "CodeBuildActionRole" in name or name.startswith("Pipeline")
        for name in starters
    ), starters


@pytest.fixture(scope="module")
def stage_template_roles(synth_pipeline) -> dict[str, Role]:
    """Every role of the two upload stacks, in their accounts, with their policies and stage boundary."""
    app = synth_pipeline(**THREE_ACCOUNTS)
    roles = {}
    for stage_id, account in (("Dev", DEV_ACCOUNT), ("Prod", PROD_ACCOUNT)):
        stack = f"{stage_id}-UploadApi"
        for lid, r in template_roles(app.stage_template(stage_id), Env(stack, account, REGION)).items():
            roles[f"{stage_id}/{lid}"] = Role(r.arn, r.policies, r.trust, None)
    return roles


def test_no_role_of_the_upload_stacks_reaches_a_bootstrap_role_or_a_pipeline_role(
    graph, stage_template_roles
):
    # GIVEN every role the upload stacks create (the function's, the verifier's, the scanner's...),
    # each a node beside the pipeline's and the bootstrap roles
    assert len(stage_template_roles) >= 10
    combined = {**graph, **stage_template_roles}
    # WHEN each one's chains (AssumeRole and builds) are followed
    # THEN none reaches a bootstrap role, an execution role or a pipeline role
    for name in stage_template_roles:
        assert reachable(combined, name) <= set(stage_template_roles), name
    # AND the build that runs the commit's code reaches none of them either
    assert reachable(combined, SYNTH_ROLE) == set()
