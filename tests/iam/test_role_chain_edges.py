"""Who can reach prod from a build that runs the pushed commit's code: every such build a starting
point, every edge kind of tests/iam/chain_graph.py followed (AssumeRole, builds, CloudFormation as
deputy, artifact rewrites, retagging), in three accounts and in one.

The starting points are read from the pipeline's buildspecs (tests/iam/chain_builds.py): a build
that runs something from its input artifact without first checking the gate's digest. Each may
reach no deploy, file-publishing, image-publishing or execution role of prod or of the pipeline's
account, and no role that may do in prod what an administrator does (chain_walk.prod_probes); the
read-only lookup roles and the stage's verifier role are reachable by design. Each edge kind added
here has a planted test: the dangerous permission added, the path is found.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from stages.pipeline.judged_change_set import STEP_ID as JUDGED_STEP
from stages.pipeline.patches.artifact_digest import check_command, consumers
from stages.upload_stage import UPLOAD_STACK_ID
from tests.iam import chain_graph
from tests.iam.chain_builds import CHECKED, COMMIT, DEPLOYED, build_code
from tests.iam.chain_graph import ONE, THREE, Graph
from tests.iam.chain_walk import KINDS, admin_in_prod, creates, edges_from, retags, tag_conditions, walk

SYNTH_ROLE = "PipelineBuildSynthCdkBuildProjectRole231EEA2A"
SECURITY_CHECK_ROLE = "PipelinePipelinesSecurityCheckCDKSecurityCheckRole62A863BD"
SYNTH_OUTPUT = "Synth_Output"
# Each stage's JudgedChangeSet (stages/pipeline/judged_change_set.py), after Prepare.
JUDGED = f"{UPLOAD_STACK_ID}.{JUDGED_STEP}"
DEPLOYING = {"deploy", "file-publishing", "image-publishing", "cfn-exec"}
# cdk.json as committed names no account: the pipeline and both stages deploy into one.
LAYOUTS = {"three accounts": THREE, "one account": ONE, "cdk.json as committed": ONE}
EMBEDDED = 'echo "H4sIAAAAAAAC" | base64 -d | gunzip'


# -- which builds run the commit's code: read from their commands ------------------------------------


@pytest.mark.parametrize(
    ("commands", "code"),
    [
        (["make install", "make synth"], COMMIT),
        (["pipeline-tools/node_modules/.bin/cdk deploy X"], COMMIT),
        (["npm ci --prefix pipeline-tools"], COMMIT),  # lifecycle scripts of the artifact's lock
        (["python3 tools/check.py"], COMMIT),
        (["python3 -m tools.check"], COMMIT),
        (['D="$(mktemp -d)"', f'{EMBEDDED} > "$D/c.py"', 'python3 "$D/other.py"'], COMMIT),
        ([check_command(), "npm ci --prefix pipeline-tools --ignore-scripts", "pipeline-tools/x"], CHECKED),
        (["pipeline-tools/x", check_command()], COMMIT),  # the check must come first
        (['D="$(mktemp -d)"', f'{EMBEDDED} > "$D/c.py"', 'cd "$D" && python3 c.py'], DEPLOYED),
        ([f'{EMBEDDED} > "$D/c.py"', 'python3 "$D/c.py" --assembly .', "aws s3 ls"], DEPLOYED),
        ([f"{EMBEDDED} | python3 - ."], DEPLOYED),
        (["npm ci --ignore-scripts"], DEPLOYED),  # installs, runs nothing
    ],
)
def test_a_builds_commands_say_whether_it_runs_its_inputs_code(commands, code):
    assert build_code(commands)[0] == code


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def graph(request, synth_pipeline) -> Graph:
    layout = LAYOUTS[request.param]
    app = (
        synth_pipeline() if request.param == "cdk.json as committed" else synth_pipeline(**layout.settings())
    )
    # The bootstrap policies `make bootstrap-policies` generates for the layout's cdk.json.
    committed = request.param == "cdk.json as committed"
    sets = chain_graph.rendered_sets(None if committed else layout)
    return chain_graph.build(app, layout, chain_graph.read_committed(), sets)


def _starts(graph: Graph) -> dict[str, str]:
    """role -> the action(s) of every build that runs the commit's code."""
    found: dict[str, str] = {}
    for c in graph.consumers:
        project = next((p for p in graph.projects.values() if p.role_id == c.role_id), None)
        if project is not None and project.code == COMMIT:
            found[project.role_id] = f"{c.stage}/{c.action}"
    return found


def _unprotected(graph: Graph) -> set[str]:
    return {graph.runs_as(c) for c in graph.consumers if c.protection is None}


@pytest.mark.synth
def test_the_starting_points_are_the_builds_whose_buildspec_runs_the_commit(graph):
    starts = _starts(graph)
    # THEN they include Synth, each stage's Preflight and Verify build (each runs `make` on the source)
    assert {
        "Build/Synth",
        "Dev/DevPreflight",
        "Prod/ProdPreflight",
        "Dev/VerifyDev",
        "Prod/VerifyProd",
    } <= set(starts.values())
    # AND the digest-checked ones are exactly the actions the gate's digest is passed to
    checked = {
        (c.stage, c.action) for c in graph.consumers if c.protection == "checks the gate's digest first"
    }
    assert checked == set(consumers(["Dev", "Prod"], [JUDGED]))
    # AND the gate and ApprovedChangeSet run only what their buildspecs carry
    deployed = {c.action for c in graph.consumers if c.protection == "runs none of it"}
    assert {"PipelineChange.Check", "UploadApi.ApprovedChangeSet"} <= deployed
    assert all(p.code in (COMMIT, CHECKED, DEPLOYED) for p in graph.projects.values())


@pytest.mark.synth
def test_no_build_that_runs_the_commits_code_reaches_a_deploying_role_or_admin_in_prod(graph):
    layout = graph.layout
    for start, action in _starts(graph).items():
        # GIVEN a build that runs the commit's code WHEN every edge from its role is followed
        steps = walk(graph, start)
        roles = {start: graph.roles[start], **{n: s.created or graph.roles[n] for n, s in steps.items()}}
        reached = set(roles)
        # THEN it reaches no deploying role of prod or of the pipeline's account
        deploying = {n for n in reached if roles[n].kind in DEPLOYING}
        assert not {n for n in deploying if not n.startswith("dev:")}, (action, deploying)
        # AND of dev's, only the execution role of an action that reads a rewritable artifact
        # unprotected (the next test names it)
        assert deploying <= _unprotected(graph), (action, deploying)
        # AND no role it reaches, nor any role those may create (`*:*` within the boundary their
        # grant requires), may do in prod what an administrator does
        assert {n: admin_in_prod(graph, r) for n, r in roles.items() if admin_in_prod(graph, r)} == {}, action
        # AND no retagging opens a way (only execution roles may retag: the test below)
        assert not [n for n, step in steps.items() if step.kind == "tag"], action
        # AND of the bootstrap roles it reaches the others are the read-only lookup roles
        bootstrap = {n for n in reached if roles[n].home == "bootstrap"} - deploying
        assert bootstrap <= {"dev:lookup", "prod:lookup"}, (action, bootstrap)
    assert layout.prod in {r.account for r in graph.roles.values()}


@pytest.mark.synth
def test_the_actions_that_read_the_synth_artifact_and_what_protects_each(graph):
    table = {(c.stage, c.action): c.protection for c in graph.consumers if c.artifact == SYNTH_OUTPUT}
    # THEN each build after the gate checks the gate's digest first, and the gate runs none of it
    for stage_action in consumers(["Dev", "Prod"], [JUDGED]):
        assert table.pop(stage_action) == "checks the gate's digest first", stage_action
    assert table.pop(("PipelineChangeGate", "PipelineChange.Check")) == "runs none of it"
    # AND who approved the gate's Confirm is checked by a build that takes the artifact (CodeBuild needs
    # an input) and runs none of it
    assert table.pop(("PipelineChangeGate", "PipelineChange.Approved")) == "runs none of it"
    # AND so is who approved each stage's permission check
    for stage in ("Dev", "Prod"):
        assert table.pop((stage, f"{stage}PermissionsCheck.Approved")) == "runs none of it", stage
    # AND each stage's CloudFormation Prepare reads it, creating the change set as the stage's
    # execution role: prod's is approved by a person before it executes
    prod = table.pop(("Prod", "UploadApi.Prepare"))
    assert prod is not None
    assert "PromoteToProd" in prod
    dev = table.pop(("Dev", "UploadApi.Prepare"))
    assert table == {}, "every reader of the synth artifact is named here"
    # AND dev's (and prod's) by JudgedChangeSet between Prepare and Deploy: a digest-checked build
    # comparing the change set with the judged template, so a rewritten template never executes
    assert dev == f"{JUDGED} (checks the gate's digest)"
    assert f"{JUDGED} (checks the gate's digest)" in prod
    runs_as = {(c.stage, c.action): graph.runs_as(c) for c in graph.consumers}
    assert runs_as[("Dev", "UploadApi.Prepare")] == "dev:cfn-exec"
    assert runs_as[("Prod", "UploadApi.Prepare")] == "prod:cfn-exec"


@pytest.mark.synth
def test_synths_role_rewrites_artifacts_into_exactly_the_unprotected_readers(graph):
    # GIVEN Synth's role, which may write the artifact bucket (CDK Pipelines' grant)
    edges = edges_from(graph, SYNTH_ROLE, frozenset({"artifact"}))
    # THEN its artifact edges lead to every action reading an artifact unprotected: the source's
    # readers that run the commit anyway (Preflight, Verify) and the unprotected Prepare
    assert set(edges) == _unprotected(graph) - {SYNTH_ROLE}
    assert not {n for n in edges if n.startswith(("prod:", "pipeline:"))}
    dev_prepare = next(c for c in graph.consumers if c.stage == "Dev" and c.action == "UploadApi.Prepare")
    assert ("dev:cfn-exec" in edges) == (dev_prepare.protection is None)
    # AND dev's execution role, if reached, may do nothing an administrator does in prod
    assert admin_in_prod(graph, graph.roles["dev:cfn-exec"]) == []


@pytest.mark.synth
def test_a_role_allowed_to_write_the_artifact_bucket_gets_artifact_edges(graph):
    # GIVEN VerifyProd's role, which may not write the artifact bucket
    planted = graph.planted()
    verify = "VerifyProdRole195AEB07"
    assert edges_from(planted, verify, frozenset({"artifact"})) == {}
    # WHEN it is allowed s3:PutObject there THEN it reaches Synth's role through the source artifact
    statement = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{planted.bucket_arn}/*"}
    planted.roles[verify].policies.append({"Statement": [statement]})
    assert SYNTH_ROLE in edges_from(planted, verify, frozenset({"artifact"}))


@pytest.mark.synth
def test_prods_prepare_without_its_approval_lets_synth_reach_prods_execution_role(graph):
    # GIVEN prod's Prepare with nothing between it and Deploy (PromoteToProd removed)
    planted = graph.planted()
    planted.consumers = [
        replace(c, protection=None) if (c.stage, c.action) == ("Prod", "UploadApi.Prepare") else c
        for c in planted.consumers
    ]
    # WHEN Synth's role rewrites the synth artifact THEN prod's execution role deploys it, and it
    # may do what an administrator does in prod
    steps = walk(planted, SYNTH_ROLE)
    assert steps["prod:cfn-exec"].kind == "artifact"
    assert "replace the prod function's code" in admin_in_prod(planted, planted.roles["prod:cfn-exec"])


@pytest.mark.synth
def test_a_role_synth_reaches_that_may_create_an_unbounded_role_gives_it_any_permission(graph):
    # GIVEN dev's Prepare with nothing between it and Deploy (JudgedChangeSet removed: Synth then
    # reaches dev's execution role by rewriting the artifact), and that role also allowed to create
    # roles without the boundary
    planted = graph.planted()
    planted.consumers = [
        replace(c, protection=None) if (c.stage, c.action) == ("Dev", "UploadApi.Prepare") else c
        for c in planted.consumers
    ]
    execution = planted.roles["dev:cfn-exec"]
    grant = {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"], "Resource": "*"}
    execution.policies.append({"Statement": [grant]})
    execution.boundary = None
    # WHEN Synth's chains are followed THEN it reaches a role created without a boundary, with `*:*`
    steps = walk(planted, SYNTH_ROLE)
    created = {n: s for n, s in steps.items() if s.kind == "create" and "(no boundary)" in n}
    assert created, steps
    # AND in one account that role may do what an administrator does in prod
    admin = {n: admin_in_prod(planted, s.created) for n, s in created.items() if s.created}
    assert all(admin.values()) == (graph.layout == ONE), admin


# -- retagging ----------------------------------------------------------------------------------------


@pytest.mark.synth
def test_no_role_outside_the_execution_roles_may_retag_a_role(graph):
    # GIVEN every resource-tag condition of the graph's policies, boundaries and trusts
    candidates = tag_conditions(graph)
    assert ("aws-cdk:bootstrap-role", "deploy") in candidates
    assert ("upload-api:stage", "prod") in candidates
    # WHEN every role's iam:TagRole / iam:UntagRole of every role is evaluated
    taggers = {
        name
        for name, role in graph.roles.items()
        if any(retags(role, target, target.tags, candidates) for target in graph.roles.values())
    }
    # THEN only execution roles may (within their boundary: their own stage's roles)
    assert {graph.roles[n].kind for n in taggers} <= {"cfn-exec"}, taggers


@pytest.mark.synth
def test_a_role_allowed_to_retag_prods_deploy_role_reaches_it_where_the_trust_admits(graph):
    # GIVEN the permission check's role (CDK lets it assume any role tagged as a lookup role) also
    # allowed iam:TagRole
    planted = graph.planted()
    check = planted.roles[SECURITY_CHECK_ROLE]
    check.policies.append({"Statement": [{"Effect": "Allow", "Action": "iam:TagRole", "Resource": "*"}]})
    assert "prod:deploy" not in walk(planted, SECURITY_CHECK_ROLE)
    # WHEN its boundary (which refuses `aws-cdk:` tags and IAM on cdk-* roles) is removed too
    check.boundary = None
    steps = walk(planted, SECURITY_CHECK_ROLE)
    # THEN it tags the pipeline account's deploy role `lookup` and assumes it (that bootstrap trusts
    # its own account), whose execution role may change the pipeline's roles and projects
    assert steps["pipeline:deploy"].kind == "tag"
    assert "prod:deploy" in steps
    # AND in one account it does the same to prod's deploy role directly; across accounts prod's
    # trust names only the deploy role's pipeline roles, so it is reached through those
    assert (steps["prod:deploy"].kind == "tag") == (graph.layout == ONE)


@pytest.mark.synth
def test_each_edge_kind_but_tag_occurs_in_the_graph(graph):
    kinds = {kind for name in graph.roles for kind in edges_from(graph, name).values()}
    kinds |= {"create"} if any(creates(role) for role in graph.roles.values()) else set()
    assert kinds == KINDS - {"tag"}
