"""The review's delivery path: the pipeline's order, its projects, the bootstrap trust, and two flags.

The real app's section is read from the session's review; the flags are proven on small pipeline
stacks planted here: a project that runs `npm install` on an artifact as a role that may assume a
deploy role, and a role that may assume a bootstrap role the bootstrap template does not trust it for.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tools.common import assembly
from tools.pipeline_checks.review import commands, delivery, junit, markdown_report, model
from tools.pipeline_checks.review.delivery import ASSUME_RULE, INSTALL_RULE

from .conftest import resource

NOT_RUN = ("not run: not part of this test", None)
DEPLOY_ROLE_ANY_ACCOUNT = "arn:aws:iam::*:role/cdk-hnb659fds-deploy-role-*"


def _flags(section: dict[str, Any], rule: str) -> dict[str, dict[str, Any]]:
    return {f["construct"]: f for f in section["flags"] if f["rule"] == rule}


# -- the real app -----------------------------------------------------------------------------------


@pytest.mark.synth
def test_the_section_lists_the_pipelines_stages_and_actions_in_run_order(review):
    # GIVEN the review of the real app
    section = review.report["delivery"]
    assert section["status"] == "read"
    # WHEN its stages and actions are read
    stages = {s["name"]: s["actions"] for s in section["pipeline"]}
    # THEN they are the pipeline's, in order, and approvals and checks are named as such
    assert list(stages) == [
        "Source",
        "Build",
        "PipelineChangeGate",
        "UpdatePipeline",
        "Assets",
        "Dev",
        "Prod",
    ]
    prod = [(a["name"], a["runOrder"], a["kind"]) for a in stages["Prod"]]
    assert prod == [
        ("ProdPreflight", 1, "CodeBuild action"),
        ("ProdPermissionsCheck.Check", 2, "check"),
        ("ProdPermissionsCheck.Confirm", 3, "approval"),
        ("ProdPermissionsCheck.Approved", 4, "CodeBuild action"),
        ("UploadApi.Prepare", 5, "CloudFormation action"),
        ("UploadApi.JudgedChangeSet", 6, "CodeBuild action"),
        ("UploadApi.PromoteToProd", 7, "approval"),
        ("UploadApi.ApprovedChangeSet", 8, "CodeBuild action"),
        ("UploadApi.Deploy", 9, "CloudFormation action"),
        ("VerifyProd", 10, "CodeBuild action"),
    ]
    gate = {a["name"]: a["kind"] for a in stages["PipelineChangeGate"]}
    assert gate == {
        "PipelineChange.Check": "check",
        "PipelineChange.Confirm": "approval",
        "PipelineChange.Approved": "CodeBuild action",
    }


@pytest.mark.synth
def test_each_project_has_its_actions_commands_inputs_role_and_what_that_role_may_assume(review):
    # GIVEN the review of the real app
    projects = {p["actions"][0]: p for p in review.report["delivery"]["projects"] if p["actions"]}
    # WHEN self-mutation's and the synth's projects are read
    mutate, synth = projects["UpdatePipeline / SelfMutate"], projects["Build / Synth"]
    # THEN self-mutation reads the synth's artifact, runs `cdk deploy` and may assume its account's
    # deploy and publishing roles
    assert [i["artifact"] for i in mutate["inputs"]] == ["Synth_Output"]
    assert mutate["inputs"][0]["from"] == "Build / Synth"
    assert any("cdk -a . deploy UploadApiPipeline" in c for p in mutate["phases"] for c in p["commands"])
    assert {g["kind"] for g in mutate["assumes"]} == {"deploy", "file-publishing", "image-publishing"}
    # AND the synth reads the source and runs `make install`, followed into the Makefile: hash-locked
    # uv syncs, npm with --ignore-scripts; nothing that runs a package's scripts
    assert [i["artifact"] for i in synth["inputs"]] == ["your_org_secure_upload_api_Source"]
    assert synth["phases"][0] == {"phase": "install", "commands": ["make install"]}
    verdicts = {i["verdict"] for i in synth["installs"]}
    assert {"hash-locked", "no scripts"} <= verdicts
    assert commands.RUNS_SCRIPTS not in verdicts
    assert synth["assumes"] == synth["assumeTargets"] == []
    # AND a role's every sts:AssumeRole target is listed, bootstrap role or not: dev's verify role
    # may assume only dev's VerifierRole
    verify = projects["Dev / VerifyDev"]
    assert [t.rsplit(":", 1)[-1] for t in verify["assumeTargets"]] == ["role/Dev-UploadApi-Verifier"]
    assert verify["assumes"] == []
    # AND every project of the pipeline is listed, the permission check once for both stages
    checks = [
        p for p in review.report["delivery"]["projects"] if "Dev / DevPermissionsCheck.Check" in p["actions"]
    ]
    assert checks[0]["actions"] == ["Dev / DevPermissionsCheck.Check", "Prod / ProdPermissionsCheck.Check"]
    assert len(review.report["delivery"]["projects"]) == 15


@pytest.mark.synth
def test_the_bootstrap_roles_name_the_pipeline_roles_they_trust_and_the_accounts_are_cdk_jsons(review):
    # GIVEN the review of the real app
    section = review.report["delivery"]
    bootstrap = {b["kind"]: b for b in section["bootstrap"]}
    # WHEN whom each bootstrap role names is read
    # THEN it is the pipeline roles the committed template's aws:PrincipalArn patterns match
    assert bootstrap["deploy"]["namesPipelineRoles"] == ["Pipeline/Pipeline/Role", "Pipeline/Assets/FileRole"]
    assert bootstrap["file-publishing"]["namesPipelineRoles"] == ["Pipeline/Assets/FileRole"]
    assert bootstrap["image-publishing"]["namesPipelineRoles"] == []
    assert {"DevPreflightRole", "ProdPreflightRole"} <= set(bootstrap["lookup"]["namesPipelineRoles"])
    # AND each role's boundary is the one the committed template gives it: the CDK roles their ceiling,
    # the execution role the given (the app's) boundary
    policy = "arn:aws:iam::STAGE_ACCOUNT:policy/BOUNDARY"
    for kind in ("deploy", "file-publishing", "image-publishing", "lookup"):
        assert bootstrap[kind]["boundary"] == f"{policy}-BootstrapRoles", kind
    assert bootstrap["cfn-exec"]["boundary"] == policy
    trusted = [r for r in bootstrap["deploy"]["trustRows"] if "PIPELINE_ACCOUNT" in r["principal"]]
    assert trusted
    assert all("aws:PrincipalArn" in r["condition"] for r in trusted)
    # AND the accounts are cdk.json's: all three in the pipeline's account, on the placeholder reason
    topology = section["topology"]
    assert (topology["status"], topology["shared"], topology["sharedReasonIsPlaceholder"]) == (
        "read",
        True,
        True,
    )
    assert [a["name"] for a in topology["accounts"]] == ["pipeline", "dev", "prod"]
    # AND in that one account API Gateway's logging role is the account's bootstrap's, no stage's
    assert topology["apiGatewayAccountRole"].startswith(
        "dev's and prod's account: its own bootstrap (bootstrap/shared-account/apigateway-account.json)"
    )


@pytest.mark.synth
def test_the_gate_table_comes_from_the_docs_and_names_the_pipelines_actions(review):
    # GIVEN the review of the real app and docs/delivery-trust.md's gate table
    gates = review.report["delivery"]["gates"]
    doc = (delivery.GATES_DOC).read_text(encoding="utf-8")
    # WHEN the table is read
    # THEN each row is the page's, word for word, and names the actions of this pipeline it is about
    assert gates["status"] == "read"
    assert [g["gate"] for g in gates["rows"]] == [
        "PipelineChange.Check",
        "PipelineChange.Confirm",
        "PipelineChange.Approved",
        "*PermissionsCheck.Check",
        "*PermissionsCheck.Confirm",
        "*PermissionsCheck.Approved",
        "*.JudgedChangeSet",
        "*.PromoteToProd",
        "*.ApprovedChangeSet",
    ]
    for row in gates["rows"]:
        assert row["sees"] in doc
        assert row["doesNotSee"] in doc
        assert row["actions"], row["gate"]
    assert gates["rows"][-3]["actions"] == [
        "Dev / UploadApi.JudgedChangeSet (run order 6)",
        "Prod / UploadApi.JudgedChangeSet (run order 6)",
    ]
    assert gates["rows"][-4]["actions"] == [
        "Dev / DevPermissionsCheck.Approved (run order 4)",
        "Prod / ProdPermissionsCheck.Approved (run order 4)",
    ]
    assert gates["rows"][-2]["actions"] == ["Prod / UploadApi.PromoteToProd (run order 7)"]
    assert gates["rows"][-1]["actions"] == ["Prod / UploadApi.ApprovedChangeSet (run order 8)"]


@pytest.mark.synth
def test_the_section_renders_in_markdown_html_and_json(review):
    # GIVEN the three files of the real app's review
    section, markdown, page = review.report["delivery"], review.text("report.md"), review.text("report.html")
    actions = [a for s in section["pipeline"] for a in s["actions"]]
    # WHEN the section is looked for in each
    # THEN each has it: every action, every project, every gate row, every flag
    assert "## Delivery path" in markdown
    assert 'id="delivery"' in page
    assert 'href="#delivery"' in page
    assert page.count('class="delivery-action"') == len(actions) == 25
    assert page.count('class="delivery-project"') == len(section["projects"])
    assert page.count('class="delivery-gate"') == len(section["gates"]["rows"]) == 9
    assert page.count('class="delivery-flag"') == len(section["flags"])
    for action in actions:
        assert f"`{action['name']}`" in markdown
    for flag in section["flags"]:
        assert flag["description"].replace("|", "\\|") in markdown
    assert json.loads(review.text("report.json"))["delivery"] == section


@pytest.mark.synth
def test_the_real_synth_flags_only_self_mutation_as_unexpected(review):
    # GIVEN the review of the real app
    section = review.report["delivery"]
    # WHEN its flags are read
    assume = {c: f["severity"] for c, f in _flags(section, ASSUME_RULE).items()}
    # THEN the roles the bootstrap template trusts by name are information: the pipeline's role, the
    # asset build's, the permission check's, both Preflights' and the change-set checks'
    assert assume == {
        "Pipeline/Pipeline/Role": "info",
        "Pipeline/Assets/FileRole": "info",
        "Pipeline/PipelinesSecurityCheck/CDKSecurityCheck/Role": "info",
        "DevPreflightRole": "info",
        "ProdPreflightRole": "info",
        "ProdApprovedChangeSetRole": "info",
        "DevJudgedChangeSetRole": "info",
        "ProdJudgedChangeSetRole": "info",
        # A real finding: CDK's self-mutation role may assume its own account's deploy and publishing
        # roles, which the template trusts only through the CLI's own-account statement; with cdk.json's
        # one shared account that deploy role also deploys Prod-UploadApi.
        "Pipeline/UpdatePipeline/SelfMutation/Role": "warning",
    }
    # AND no project runs an install that can run package scripts
    assert _flags(section, INSTALL_RULE) == {}
    # AND the flags are findings of the report, none failing
    assert {f["key"] for f in section["flags"]} <= {f["key"] for f in review.report["findings"]}
    assert review.report["counts"]["delivery.flagged"] == 1
    assert review.report["counts"]["findings.failed"] == 0


# -- planted pipelines ------------------------------------------------------------------------------


def _role(path: str, name: str | None = None) -> dict[str, Any]:
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": {"Service": "codebuild.amazonaws.com"}}]}  # fmt: skip
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": trust}
    if name:
        properties["RoleName"] = name
    return resource("AWS::IAM::Role", path, properties)


def _assume_policy(
    path: str, role: str, resources: Any, condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resources}
    if condition:
        statement["Condition"] = condition
    document = {"Version": "2012-10-17", "Statement": [statement]}
    return resource("AWS::IAM::Policy", path, {"PolicyDocument": document, "Roles": [{"Ref": role}]})


def _pipeline(install: list[str], assume: list[str] | None) -> dict[str, Any]:
    """A source action and one CodeBuild action on its artifact, whose project runs `install`."""
    spec = {
        "version": "0.2",
        "phases": {"install": {"commands": install}, "build": {"commands": ["make test"]}},
    }
    source = {"Name": "Repo", "RunOrder": 1, "OutputArtifacts": [{"Name": "Src"}],
              "ActionTypeId": {"Category": "Source", "Provider": "S3"}}  # fmt: skip
    build = {"Name": "Build", "RunOrder": 1, "InputArtifacts": [{"Name": "Src"}],
             "ActionTypeId": {"Category": "Build", "Provider": "CodeBuild"},
             "Configuration": {"ProjectName": {"Ref": "Project"}}}  # fmt: skip
    resources = {
        "BuildRole": _role("Build/Role"),
        "Project": resource("AWS::CodeBuild::Project", "Build/Project", {
            "Source": {"Type": "CODEPIPELINE", "BuildSpec": json.dumps(spec)},
            "ServiceRole": {"Fn::GetAtt": ["BuildRole", "Arn"]},
        }),
        "Pipeline": resource("AWS::CodePipeline::Pipeline", "Pipeline", {"Stages": [
            {"Name": "Source", "Actions": [source]},
            {"Name": "Build", "Actions": [build]},
        ]}),
    }  # fmt: skip
    if assume is not None:
        resources["BuildPolicy"] = _assume_policy("Build/Policy", "BuildRole", assume)
    return resources


@pytest.mark.parametrize(
    ("install", "assume", "flagged"),
    [
        (["npm install"], [DEPLOY_ROLE_ANY_ACCOUNT], True),
        (["npm ci --no-audit"], [DEPLOY_ROLE_ANY_ACCOUNT], True),
        (["pip install requests"], [DEPLOY_ROLE_ANY_ACCOUNT], True),
        (["npm install --ignore-scripts"], [DEPLOY_ROLE_ANY_ACCOUNT], False),
        (["pip install --require-hashes -r requirements.lock"], [DEPLOY_ROLE_ANY_ACCOUNT], False),
        (["npm install"], ["arn:aws:iam::*:role/Dev-UploadApi-Verifier"], False),
        (["npm install"], None, False),
    ],
    ids=[
        "npm-install",
        "npm-ci",
        "pip-unhashed",
        "ignore-scripts",
        "pip-hashed",
        "no-bootstrap-role",
        "no-assume",
    ],
)
def test_an_install_that_runs_scripts_on_an_artifact_as_a_role_that_may_deploy_is_flagged(
    make_assembly, install, assume, flagged
):
    # GIVEN a pipeline whose build runs `install` on the source artifact, as a role that may (or may not)
    # assume a deploy role
    section = delivery.build(assembly.load(make_assembly(_pipeline(install, assume))))
    # WHEN its flags are read
    found = _flags(section, INSTALL_RULE)
    # THEN exactly a script-running install with a bootstrap role in reach is an error on the project
    assert set(found) == ({"Build/Project"} if flagged else set())
    if flagged:
        assert found["Build/Project"]["severity"] == "error"
        assert install[0] in found["Build/Project"]["description"]
        assert "deploy" in found["Build/Project"]["description"]


def test_a_project_whose_role_is_not_read_here_is_flagged_as_if_it_reached_deploy_roles(make_assembly):
    # GIVEN the planted `npm install` build whose service role is an ARN written out (Fn::Sub), not
    # a role of the stack: what that role may assume cannot be read from the template
    resources = _pipeline(["npm install"], None)
    arn = {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/SomeDeployer"}
    resources["Project"]["Properties"]["ServiceRole"] = arn
    section = delivery.build(assembly.load(make_assembly(resources)))
    # WHEN its flags are read THEN the script-running install is flagged, not shown harmless
    assert set(_flags(section, INSTALL_RULE)) == {"Build/Project"}


def test_an_assume_grant_written_with_not_resource_reaches_every_role(make_assembly):
    # GIVEN a role whose AssumeRole statement names what it may NOT assume
    planted = {
        "IntruderRole": _role("Planted/Role"),
        "PlantedPolicy": _assume_policy("Planted/Policy", "IntruderRole", ["x"]),
    }
    statement = planted["PlantedPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    statement["NotResource"] = statement.pop("Resource")
    section = delivery.build(assembly.load(make_assembly(planted, stack_name="UploadApiPipeline")))
    # WHEN the assume flags are read THEN it is an error: it reaches every account's bootstrap roles
    assert _flags(section, ASSUME_RULE)["Planted/Role"]["severity"] == "error"


@pytest.mark.parametrize(
    ("attached", "named"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", "*"),  # AWS managed: read (moto's snapshot)
        ("arn:aws:iam::123456789012:policy/TeamDeployer", "TeamDeployer"),  # not readable here
    ],
    ids=["aws-managed-admin", "customer-managed-elsewhere"],
)
def test_a_role_with_an_attached_managed_policy_not_in_the_template_is_read_or_reaches_every_role(
    make_assembly, attached, named
):
    # GIVEN the planted `npm install` build whose role has no assume grant of its own but a managed
    # policy attached (ManagedPolicyArns) that is not in the template
    resources = _pipeline(["npm install"], None)
    resources["BuildRole"]["Properties"]["ManagedPolicyArns"] = [attached]
    section = delivery.build(assembly.load(make_assembly(resources, stack_name="UploadApiPipeline")))
    # WHEN the flags are read THEN the role reaches every bootstrap role (AdministratorAccess allows it;
    # an unreadable policy is taken to): an error on the role, and the install on its project flagged
    flag = _flags(section, ASSUME_RULE)["Build/Role"]
    assert flag["severity"] == "error"
    assert named in flag["description"]
    assert set(_flags(section, INSTALL_RULE)) == {"Build/Project"}


def test_an_aws_managed_policy_without_assume_is_read_not_flagged(make_assembly):
    # GIVEN the build role with only AWSLambdaBasicExecutionRole attached (logs only)
    resources = _pipeline(["npm install"], None)
    arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                             ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]]}  # fmt: skip
    resources["BuildRole"]["Properties"]["ManagedPolicyArns"] = [arn]
    section = delivery.build(assembly.load(make_assembly(resources, stack_name="UploadApiPipeline")))
    # THEN nothing reaches a bootstrap role: no flag
    assert _flags(section, ASSUME_RULE) == {}
    assert _flags(section, INSTALL_RULE) == {}


def test_a_managed_policy_of_the_template_attached_by_arn_is_read(make_assembly):
    # GIVEN the build role attaching, through ManagedPolicyArns (not the policy's Roles), a managed policy
    # of the same template that allows assuming any account's deploy role
    resources = _pipeline(["npm install"], None)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": DEPLOY_ROLE_ANY_ACCOUNT}]}  # fmt: skip
    resources["Attached"] = resource(
        "AWS::IAM::ManagedPolicy", "Build/Attached", {"PolicyDocument": document}
    )
    resources["BuildRole"]["Properties"]["ManagedPolicyArns"] = [{"Ref": "Attached"}]
    section = delivery.build(assembly.load(make_assembly(resources)))
    # WHEN the flags are read THEN its grant is read like an inline one: the deploy role in reach
    grants = next(a for a in section["assumes"] if a["logicalId"] == "BuildRole")["grants"]
    assert {g["kind"] for g in grants} == {"deploy"}
    assert set(_flags(section, INSTALL_RULE)) == {"Build/Project"}


@pytest.mark.parametrize(("assume", "flagged"), [([DEPLOY_ROLE_ANY_ACCOUNT], True), (None, False)])
def test_a_buildspec_file_from_the_artifact_run_by_a_role_that_may_deploy_is_flagged(
    make_assembly, assume, flagged
):
    # GIVEN the planted build whose project names a buildspec file (CodeBuild reads it from the input
    # artifact: the commit decides the commands) instead of an inline one, installing nothing risky
    resources = _pipeline(["npm ci --ignore-scripts"], assume)
    resources["Project"]["Properties"]["Source"]["BuildSpec"] = "buildspec.yml"
    section = delivery.build(assembly.load(make_assembly(resources)))
    # THEN it is an error exactly when the project's role may assume a bootstrap role
    found = _flags(section, delivery.BUILDSPEC_RULE)
    assert set(found) == ({"Build/Project"} if flagged else set())
    if flagged:
        assert found["Build/Project"]["severity"] == "error"
        assert "buildspec.yml" in found["Build/Project"]["description"]


def test_a_flag_is_a_failed_finding_in_the_report_its_junit_and_markdown(make_assembly):
    # GIVEN the planted `npm install` pipeline, reviewed
    built = assembly.load(make_assembly(_pipeline(["npm install"], [DEPLOY_ROLE_ANY_ACCOUNT])))
    report = model.build(built, checkov=NOT_RUN, cfn_lint=NOT_RUN, gates=None, delivery=delivery.build(built))
    # WHEN the findings, the JUnit file and the Markdown are read
    failed = [f for f in report["findings"] if f["severity"] == "error"]
    suite = next(
        s for s in ET.fromstring(junit.render(report)).iter("testsuite") if s.get("name") == "delivery-path"
    )
    text = markdown_report.render(report)
    # THEN both flags fail (the install and the untrusted deploy-role grant), and each format says so
    assert {f["rule"] for f in failed} == {INSTALL_RULE, ASSUME_RULE}
    assert report["counts"]["findings.failed"] == 2 == report["counts"]["delivery.flagged"]
    assert int(suite.get("failures")) == 2
    assert f"**error** `{INSTALL_RULE}` at `Build/Project`" in text


@pytest.mark.parametrize(
    ("logical_id", "resources", "condition", "severity"),
    [
        # another account's deploy role: the template trusts no such role by name
        (
            "IntruderRole",
            ["arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-eu-west-1"],
            None,
            "error",
        ),
        ("IntruderRole", ["*"], None, "error"),
        # its own account's, through a tag: the CLI's own-account trust admits it, not the template's names
        (
            "IntruderRole",
            [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}],
            {"StringEquals": {"iam:ResourceTag/aws-cdk:bootstrap-role": "file-publishing"}},
            "warning",
        ),
        # the lookup role, as a Preflight role the template names
        (
            "DevPreflightRole903FD943",
            [{"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/cdk-hnb659fds-lookup-role-*"}],
            None,
            "info",
        ),
        # a tag the bootstrap roles do not carry reaches none of them
        ("IntruderRole", ["*"], {"StringEquals": {"iam:ResourceTag/aws-cdk:bootstrap-role": "other"}}, None),
    ],
    ids=["other-account", "any-role", "own-account-tag", "trusted-preflight", "other-tag"],
)
def test_a_role_that_may_assume_a_bootstrap_role_is_listed_and_flagged_unless_trusted(
    make_assembly, logical_id, resources, condition, severity
):
    # GIVEN a pipeline stack (named as the real one) with a role that may assume `resources`
    planted = {
        logical_id: _role("Planted/Role"),
        "PlantedPolicy": _assume_policy("Planted/Policy", logical_id, resources, condition),
    }
    section = delivery.build(assembly.load(make_assembly(planted, stack_name="UploadApiPipeline")))
    # WHEN the assume flags are read
    found = _flags(section, ASSUME_RULE)
    # THEN the role is flagged with the severity its grant earns (info: trusted by name)
    if severity is None:
        assert found == {}
        return
    assert found["Planted/Role"]["severity"] == severity
    assert [a["role"] for a in section["assumes"]] == ["Planted/Role"]


def test_a_grant_naming_the_pipelines_own_account_is_own_account(make_assembly):
    # GIVEN a pipeline stack synthesized into account 111111111111 whose role may assume, by tag, the
    # bootstrap roles of that account named literally (as CDK writes self-mutation's for an explicit account)
    planted = {
        "IntruderRole": _role("Planted/Role"),
        "PlantedPolicy": _assume_policy(
            "Planted/Policy", "IntruderRole", ["arn:*:iam::111111111111:role/*"],
            {"StringEquals": {"iam:ResourceTag/aws-cdk:bootstrap-role": ["deploy"]}},
        ),
    }  # fmt: skip
    built = make_assembly(planted, stack_name="UploadApiPipeline", environment="aws://111111111111/eu-west-1")
    # WHEN the section is built
    section = delivery.build(assembly.load(built))
    # THEN the grant reaches the deploy role of its own account only: a warning, and no stage is there
    (grant,) = section["assumes"][0]["grants"]
    assert (grant["kind"], grant["reach"], grant["trustedByName"]) == ("deploy", "own account", False)
    flag = _flags(section, ASSUME_RULE)["Planted/Role"]
    assert flag["severity"] == "warning"
    assert "stage's role" not in flag["description"]


# -- what a command installs ------------------------------------------------------------------------


def test_make_is_followed_into_the_makefile_to_the_installs_it_runs(tmp_path):
    # GIVEN a Makefile whose `install` reaches an unpinned pip install through a prerequisite and $(MAKE)
    (tmp_path / "Makefile").write_text(
        "PIP := python3 -m pip\nSTAMP := .stamp\n\n"
        "install: $(STAMP) ## everything\n\t$(MAKE) --no-print-directory tools\n\n"
        "$(STAMP): uv.lock\n\tuv sync --locked\n\ttouch $@\n\n"
        "tools:\n\t@# npm install in a comment runs nothing\n\t$(PIP) install \\\n\t\tboto3\n",
        encoding="utf-8",
    )
    makefile = commands.Makefile.read(tmp_path / "Makefile")
    # WHEN `make install` is classified
    found = commands.installs(["make install"], makefile, tmp_path)
    # THEN both installs are found, through their targets, each with its verdict
    assert [(i.command, i.via, i.verdict) for i in found] == [
        ("uv sync --locked", "make install > install > .stamp", "hash-locked"),
        ("python3 -m pip install boto3", "make install > install > tools", commands.RUNS_SCRIPTS),
    ]


def test_the_projects_make_install_runs_no_package_scripts():
    # GIVEN the repository's Makefile (what the Synth build's `make install` runs)
    makefile = commands.Makefile.read(delivery.MAKEFILE)
    # WHEN `make install` and the verify and preflight targets are classified
    found = commands.installs(["make install", "make preflight", "make verify-deployed MODE=dev"], makefile)
    # THEN every install in them is hash-locked, scriptless npm or a distribution package
    assert found
    assert {i.verdict for i in found} <= {"hash-locked", "no scripts", "distribution"}
    assert any(re.search(r"\buv sync --locked\b", i.command) for i in found)
    assert any("npm ci --ignore-scripts" in i.command for i in found)


def test_a_requirements_file_with_a_hash_on_every_line_is_hash_locked(tmp_path):
    # GIVEN two requirements files, one with a hash on every requirement
    (tmp_path / "locked.txt").write_text("boto3==1.0 \\\n    --hash=sha256:ab\n", encoding="utf-8")
    (tmp_path / "loose.txt").write_text("boto3==1.0 --hash=sha256:ab\nrequests\n", encoding="utf-8")
    # WHEN `pip install -r` each is classified
    # THEN only the fully hashed file is hash-locked (pip then checks every file)
    assert commands.classify("pip install -r locked.txt", tmp_path)[0] == "hash-locked"
    assert commands.classify("pip install -r loose.txt", tmp_path)[0] == commands.RUNS_SCRIPTS


@pytest.mark.parametrize(
    "command",
    [
        "npm ci # --ignore-scripts",
        "npm ci --ignore-scripts=false",
        "pip install boto3 # --require-hashes",
        "pip install --require-hashes-not boto3",
        "echo $(npm install evil)",
        "echo start\nnpm install evil",
        "npx some-tool",
        "npm exec some-tool",
        "pnpm dlx some-tool",
        "npm rebuild",
        "pip3.12 install boto3",
        "uv pip install boto3",
        "uvx some-tool",
        "make -f other.mk install",
        "make --directory=elsewhere install",
    ],
)
def test_a_command_that_may_run_package_scripts_is_not_shown_safe(command, tmp_path):
    # GIVEN a buildspec command written to look safe, or an install form beyond npm ci / pip install
    makefile = commands.Makefile.read(tmp_path / "Makefile")
    # WHEN it is classified
    found = commands.installs([command], makefile, tmp_path)
    # THEN it is found, and found able to run a package's scripts
    assert [i.verdict for i in found] == [commands.RUNS_SCRIPTS], (command, found)


def test_a_gate_table_that_is_missing_is_reported_as_not_read(tmp_path):
    # GIVEN a page without the gate table's markers
    page = tmp_path / "delivery-trust.md"
    page.write_text("# Delivery\n\nNo table.\n", encoding="utf-8")
    # WHEN it is read for the gate table
    from tools.pipeline_checks.review import delivery_context

    table = delivery_context.gates_table(page, [("Prod", "UploadApi.PromoteToProd", 5)])
    # THEN the section says it was not read (never an empty table shown as complete)
    assert table["status"].startswith("not read")
    assert table["rows"] == []


def test_without_a_bootstrap_template_the_section_says_so(make_assembly, tmp_path: Path):
    # GIVEN a pipeline and no bootstrap template where one is expected
    built = assembly.load(make_assembly(_pipeline(["npm install"], [DEPLOY_ROLE_ANY_ACCOUNT])))
    # WHEN the section is built
    section = delivery.build(built, bootstrap_template=tmp_path / "missing.json")
    # THEN it is not read, says why, and flags nothing it could not judge
    assert section["status"].startswith("not read: bootstrap template")
    assert section["flags"] == []


def test_with_separate_accounts_the_report_says_each_stages_stack_sets_its_logging_role(tmp_path):
    # GIVEN cdk.json with the three accounts apart, prod's account holding its own logging role
    from tools.pipeline_checks.review import delivery_context

    config = json.loads((Path(delivery.CDK_JSON)).read_text(encoding="utf-8"))
    upload_api = config["context"]["uploadApi"]
    upload_api["pipeline"].update(account="333333333333", region="eu-west-1", sharedAccountReason=None)
    upload_api["stages"]["dev"].update(account="111111111111", region="eu-west-1")
    upload_api["stages"]["prod"].update(
        account="222222222222", region="eu-west-1", createApiGatewayAccountRole=False
    )
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps(config), encoding="utf-8")
    # WHEN the topology is read THEN it says who sets the role in each account
    assert delivery_context.topology(cdk_json)["apiGatewayAccountRole"] == (
        "dev's account: its stack sets it; prod's account: set outside the app (Preflight checks)"
    )
