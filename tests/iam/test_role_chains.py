"""Chains of roles: which role of the pipeline reaches a stage's bootstrap roles, in any number of
hops, decided by the project's IAM evaluator, with the pipeline, dev and prod in three accounts.

The graph (tests/iam/chain_graph.py) holds every role of the pipeline stack and the upload stacks
and each account's bootstrap roles; its edges (chain_walk.py) are AssumeRole, builds (StartBuild,
UpdateProject, CreateProject with PassRole), CloudFormation as deputy, artifact rewrites, retagging
and created roles. The question a security reviewer asks: can the build that runs the commit's code
(Synth), or any other role, reach a role that deploys to prod other than through the roles
docs/delivery-trust.md names? Every build that runs the commit's code, each edge kind's planted
path and the one-account layout: test_role_chain_edges.py.
"""

from __future__ import annotations

import pytest

from tests.iam import chain_graph
from tests.iam.chain_builds import CHECKED
from tests.iam.chain_graph import THREE, Graph, Role
from tests.iam.chain_walk import KINDS, allowed, assumes, reachable, walk
from tools.dev import bootstrap_template as bt

pytestmark = pytest.mark.synth

SYNTH_ROLE = "PipelineBuildSynthCdkBuildProjectRole231EEA2A"  # the build that runs the commit's code
PIPELINE_STACK = "pipeline-stack"
BECOMES = KINDS - {"artifact"}  # every edge but artifact rewrites (test_role_chain_edges.py)


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


@pytest.fixture(scope="module")
def graph(synth_pipeline) -> Graph:
    """The three-account app's graph (tests/iam/chain_graph.py)."""
    built = chain_graph.build(synth_pipeline(**THREE.settings()), THREE, chain_graph.read_committed())
    assert built.projects, "the pipeline has CodeBuild projects"
    return built


def _pipeline(graph: Graph) -> list[str]:
    return [name for name, role in graph.roles.items() if role.home == PIPELINE_STACK]


def test_the_build_that_runs_the_commits_code_becomes_no_role(graph):
    # GIVEN Synth's build role (it runs make install, lint, unit, synth on the pushed commit)
    # WHEN every chain of AssumeRole, builds, CloudFormation and tagging from it is followed
    # THEN it reaches nothing: no bootstrap role, no execution role, no other role (what it reaches by
    # rewriting artifacts: test_role_chain_edges.py)
    assert reachable(graph, SYNTH_ROLE, BECOMES) == set()


def test_a_role_reaches_prods_deploy_role_only_as_a_named_role_in_one_hop(graph):
    # GIVEN every role of the pipeline stack
    pipeline = _pipeline(graph)
    # WHEN each one's chains are followed to the end
    reaching = {name for name in pipeline if "prod:deploy" in reachable(graph, name)}
    direct = {name for name in pipeline if assumes(graph.roles[name], graph.roles["prod:deploy"])}
    # THEN the roles bootstrap_template.py names reach prod's deploy role (and through it prod's
    # execution role) directly, and any other role reaching it is one only those roles can enter
    # (CodePipeline's CodeBuild action role: it starts the Assets build, and only the pipeline's
    # role may assume it), or the role of a digest-checked build that deploys the pipeline stack
    # (SelfMutate: the pipeline account's deploy and execution roles, which may change every role
    # and project of the pipeline): no chain adds a way in
    named = {role.logical_id for role in bt.TRUSTED_PIPELINE_ROLES["DeploymentActionRole"]}
    assert direct == named
    assert named <= reaching
    arns = {graph.roles[m].arn for m in named}
    others = {n for n in reaching - named if not _entered_only_by(graph.roles[n], arns)}
    checked = {p.role_id for p in graph.projects.values() if p.code == CHECKED}
    assert others <= checked, others
    assert all("pipeline:cfn-exec" in reachable(graph, n) for n in others)
    reaching_exec = {name for name in pipeline if "prod:cfn-exec" in reachable(graph, name)}
    assert reaching_exec == reaching


def test_no_pipeline_role_reaches_a_stage_role_other_than_the_named_ones(graph):
    # The lookup role also admits the auto-approver's role, whose generated name shares the
    # permission check's prefix (test_bootstrap_trust.py); it is read-only.
    same_name = {"PipelinePipelinesSecurityCheckCDKPipelinesAutoApproveServiceRoleC48D6A44"}
    pipeline = _pipeline(graph)
    reached = {name: reachable(graph, name, BECOMES) for name in pipeline}
    for role_id, kind in chain_graph.KIND.items():
        named = {role.logical_id for role in bt.TRUSTED_PIPELINE_ROLES[role_id]}
        # GIVEN the pipeline roles whose chains reach this bootstrap role, in dev and in prod
        reaching = [
            {n for n in pipeline if f"{stage}:{kind}" in reached[n]} - same_name for stage in ("dev", "prod")
        ]
        # THEN each stage's are roles the bootstrap template names (for this role or, reaching it
        # through a build, for another: CodePipeline's role starts the Assets build), or roles only
        # those may enter, or a digest-checked build's, and together they include all named for this
        # role (one template serves both stages; each Preflight role reaches its own stage only)
        named_any = {r.logical_id for roles in bt.TRUSTED_PIPELINE_ROLES.values() for r in roles}
        arns = {graph.roles[m].arn for m in named_any}
        checked = {p.role_id for p in graph.projects.values() if p.code == CHECKED}
        for stage in reaching:
            extra = {n for n in stage - named_any if not _entered_only_by(graph.roles[n], arns)}
            # (SelfMutate's role: through the pipeline stack's own deployment, as above)
            assert extra <= checked, (kind, extra)
        assert named <= set().union(*reaching), kind


def test_a_two_hop_chain_from_synth_is_found(graph):
    # GIVEN Synth's role allowed to assume the Assets build's role, and that role trusting it (a
    # pipeline change that would wait at PipelineChangeGate)
    planted = graph.planted()
    assets, synth = planted.roles["PipelineAssetsFileRole59943A77"], planted.roles[SYNTH_ROLE]
    synth.policies.append(
        {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": assets.arn}]}
    )
    assert assets.trust is not None
    assets.trust["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": synth.arn}, "Action": "sts:AssumeRole"}
    )
    # WHEN Synth's chains are followed THEN prod's deploy and execution roles are reached in two hops
    steps = walk(planted, SYNTH_ROLE, BECOMES)
    assert {"PipelineAssetsFileRole59943A77", "prod:deploy", "prod:cfn-exec"} <= set(steps)
    assert [steps[n].kind for n in ("PipelineAssetsFileRole59943A77", "prod:deploy", "prod:cfn-exec")] == [
        "assume",
        "assume",
        "cfn",
    ]


@pytest.mark.parametrize("action", ["codebuild:StartBuild", "codebuild:UpdateProject"])
def test_a_role_that_may_start_or_change_the_assets_build_reaches_prods_deploy_role(graph, action):
    # GIVEN Synth's role allowed to start the Assets project's build (StartBuild takes a buildspec
    # override) or to change its buildspec (UpdateProject; the pipeline then runs it): either runs
    # its commands as the project's role, which may assume prod's deploy role (a pipeline change
    # that would wait at PipelineChangeGate)
    planted = graph.planted()
    assets_role = graph.roles["PipelineAssetsFileRole59943A77"].arn
    (assets_project,) = [p.arn for p in graph.projects.values() if p.role_arn == assets_role]
    synth = planted.roles[SYNTH_ROLE]
    synth.policies.append({"Statement": [{"Effect": "Allow", "Action": action, "Resource": assets_project}]})
    # WHEN Synth's chains are followed THEN the build edge leads to prod's deploy role, except that
    # the pipeline's boundary lets only the execution role change a project
    steps = walk(planted, SYNTH_ROLE, BECOMES)
    if action == "codebuild:UpdateProject":
        assert "PipelineAssetsFileRole59943A77" not in steps
        synth.boundary = None  # AND without the boundary it does
        steps = walk(planted, SYNTH_ROLE, BECOMES)
    assert {"PipelineAssetsFileRole59943A77", "prod:deploy"} <= set(steps)
    assert steps["PipelineAssetsFileRole59943A77"].kind == "build"


def test_the_pipelines_builds_are_started_only_by_the_pipelines_own_role(graph):
    # GIVEN every role of the pipeline stack and every project of it
    starters = {
        name
        for name in _pipeline(graph)
        if any(
            allowed(
                graph.roles[name],
                "codebuild:StartBuild",
                p.arn,
                {f"aws:ResourceTag/{k}": v for k, v in p.tags.items()},
            )
            for p in graph.projects.values()
        )
    }
    # THEN only CodePipeline's role (and the actions' roles it runs builds through) may start one
    assert starters, "some role starts the builds"
    assert all(
        name.startswith("PipelineRole") or "CodeBuildActionRole" in name or name.startswith("Pipeline")
        for name in starters
    ), starters


def test_no_role_of_the_upload_stacks_reaches_a_bootstrap_role_or_a_pipeline_role(graph):
    # GIVEN every role the upload stacks create (the function's, the verifier's, the scanner's...),
    # each a node beside the pipeline's and the bootstrap roles
    stage_roles = {n for n, r in graph.roles.items() if r.home.endswith("-UploadApi")}
    assert len(stage_roles) >= 10
    # WHEN each one's chains (AssumeRole, builds, CloudFormation, artifacts, tags) are followed
    # THEN none reaches a bootstrap role, an execution role or a pipeline role
    for name in stage_roles:
        assert reachable(graph, name) <= stage_roles, name
