"""bootstrap/generated/ is what tools/dev/bootstrap_policies.py derives from the base files and
cdk.json's qualifiers (`make bootstrap-policies`): a hand edit, or a base edit without the command,
fails here. And each stage's set names no other stage."""

from __future__ import annotations

import copy
import json

import pytest

from stages.guardrails import BASE_POLICY_NAMES, PIPELINE_QUALIFIER, STAGE_TAG_KEY
from tools.dev import bootstrap_policies as bp

CONTEXT = bp.cdk_json_context()


def test_the_generated_files_are_what_the_base_files_give():
    # GIVEN the committed bootstrap/generated/ WHEN compared with what the generator writes now
    # THEN nothing differs and nothing is left over (`make bootstrap-policies` rewrites them)
    assert bp.stale(bp.all_rendered()) == []


def test_a_base_edit_without_the_command_is_stale(monkeypatch, tmp_path):
    # GIVEN a base file with one more statement than its generated copies were made from
    for name in bp.POLICY_FILES.values():
        (tmp_path / name).write_text((bp.BOOTSTRAP / name).read_text(encoding="utf-8"), encoding="utf-8")
    boundary = json.loads((tmp_path / "permissions-boundary.json").read_text(encoding="utf-8"))
    boundary["Statement"].append({"Sid": "New", "Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    (tmp_path / "permissions-boundary.json").write_text(json.dumps(boundary), encoding="utf-8")
    monkeypatch.setattr(bp, "BOOTSTRAP", tmp_path)
    # WHEN the committed generated files are compared with it
    stale = bp.stale(bp.all_rendered())
    # THEN each set's boundary is stale
    assert sorted(p.relative_to(bp.GENERATED).as_posix() for p in stale) == [
        "dev/permissions-boundary.json",
        "pipeline/permissions-boundary.json",
        "prod/permissions-boundary.json",
    ]


def text_of(set_name: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((bp.GENERATED / set_name).glob("*.json")))


@pytest.mark.parametrize(("stage", "other"), [("dev", "prod"), ("prod", "dev")])
def test_a_stages_set_never_names_the_other_stage_or_its_qualifier(stage, other):
    # GIVEN a stage's generated policies and the other stage's qualifier
    text = text_of(stage).lower()
    other_qualifier = CONTEXT["stages"][other]["bootstrapQualifier"]
    # THEN neither the other stage's names, nor its bootstrap, nor the pipeline's qualifier appear
    assert f"{other}-uploadapi" not in text
    assert f"cdk-{other_qualifier}-" not in text
    assert PIPELINE_QUALIFIER not in text
    # AND its own names and qualifier do
    assert f"{stage}-uploadapi" in text
    assert f"cdk-{CONTEXT['stages'][stage]['bootstrapQualifier']}-cfn-exec-role-" in text


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_stages_set_refers_to_its_own_policies_by_their_stage_names(stage):
    # GIVEN a stage's set WHEN each policy ARN in it is read
    text = text_of(stage)
    for base_name in BASE_POLICY_NAMES:
        # THEN each names the stage's own policy, never the pipeline's of the same base name
        assert f':policy/{base_name}-{stage.capitalize()}"' in text or base_name not in text
        assert f':policy/{base_name}"' not in text


def test_the_pipelines_set_names_no_stage_resource_but_the_verifier_roles():
    # GIVEN the pipeline's set
    text = text_of("pipeline").lower()
    # THEN a stage's name appears only as a role ARN, in the boundary (the verify steps assume them)
    for stage in ("dev", "prod"):
        lines = [line for line in text.splitlines() if f"{stage}-uploadapi" in line]
        assert lines
        assert all(f":role/{stage}-uploadapi-*" in line for line in lines), lines
    # AND its boundary lets the pipeline's roles assume every stage's bootstrap roles
    boundary = json.loads(
        (bp.GENERATED / "pipeline" / "permissions-boundary.json").read_text(encoding="utf-8")
    )
    deploy_roles = "arn:*:iam::*:role/cdk-hnb659fds-deploy-role-*"
    (statement,) = [s for s in boundary["Statement"] if deploy_roles in s.get("Resource", [])]
    for qualifier in (PIPELINE_QUALIFIER, "uploaddev", "uploadprod"):
        assert f"arn:*:iam::*:role/cdk-{qualifier}-deploy-role-*" in statement["Resource"]


def test_a_stages_boundary_denies_what_carries_another_stages_tag():
    # GIVEN dev's boundary
    boundary = json.loads((bp.GENERATED / "dev" / "permissions-boundary.json").read_text(encoding="utf-8"))
    walls = {s["Sid"]: s for s in boundary["Statement"] if s["Sid"].startswith("NoOtherStages")}
    # THEN two denials: any resource, and any request, tagged with a stage other than dev
    assert walls["NoOtherStagesResources"]["Condition"] == {
        "StringNotEquals": {f"aws:ResourceTag/{STAGE_TAG_KEY}": "dev"},
        "Null": {f"aws:ResourceTag/{STAGE_TAG_KEY}": "false"},
    }
    assert walls["NoOtherStagesTags"]["Condition"]["StringNotEquals"] == {
        f"aws:RequestTag/{STAGE_TAG_KEY}": "dev"
    }


def test_a_qualifier_setting_flows_into_the_stages_set():
    # GIVEN cdk.json with dev's qualifier changed
    context = copy.deepcopy(CONTEXT)
    context["stages"]["dev"]["bootstrapQualifier"] = "devtwo"
    # WHEN the sets are rendered from it
    files = bp.all_rendered(context)
    dev = "".join(t for p, t in files.items() if p.parent.name == "dev")
    pipeline = "".join(t for p, t in files.items() if p.parent.name == "pipeline")
    # THEN dev's execution role and the pipeline's grant follow it
    assert "cdk-devtwo-cfn-exec-role-" in dev
    assert "cdk-uploaddev-" not in dev
    assert "cdk-devtwo-deploy-role-" in pipeline


def test_a_base_naming_every_execution_role_names_the_stages_own_in_its_set():
    # GIVEN a base statement that names every qualifier's execution role
    base = {
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": "*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:*:iam::*:role/cdk-*-cfn-exec-role-*"}},
            }
        ]
    }
    sets = {s.stage: s for s in bp.policy_sets(CONTEXT)}
    # WHEN dev's and the pipeline's sets are derived from it
    dev = bp.derive(base, sets["dev"], boundary=False)
    pipeline = bp.derive(base, sets[None], boundary=False)
    # THEN dev's names dev's execution role only; the pipeline's keeps the base's
    assert dev["Statement"][0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == (
        "arn:*:iam::*:role/cdk-uploaddev-cfn-exec-role-*"
    )
    assert pipeline["Statement"][0]["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == (
        "arn:*:iam::*:role/cdk-*-cfn-exec-role-*"
    )


def test_check_mode_reports_a_stale_file(monkeypatch, tmp_path, capsys):
    # GIVEN a generated tree where one file was edited by hand
    generated = tmp_path / "generated"
    for path, text in bp.all_rendered().items():
        target = generated / path.relative_to(bp.GENERATED)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    edited = generated / "dev" / "cfn-execution-policy.json"
    edited.write_text(
        edited.read_text(encoding="utf-8").replace("Dev-UploadApi", "Prod-UploadApi"), encoding="utf-8"
    )
    monkeypatch.setattr(bp, "GENERATED", generated)
    monkeypatch.setattr(
        bp.PolicySet, "directory", property(lambda self: generated / (self.stage or "pipeline"))
    )
    # WHEN checked THEN it fails naming the file
    assert bp.main(["--check"]) == 1
    assert "generated/dev/cfn-execution-policy.json" in capsys.readouterr().out


ACCOUNT_SETTING = "arn:*:apigateway:*::/account"


def _grants_the_account_setting(files: dict, set_name: str) -> bool:
    policies = [
        json.loads(t) for p, t in files.items() if p.parent.name == set_name and "execution" in p.name
    ]
    return any(
        s["Effect"] == "Allow"
        and ACCOUNT_SETTING in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        for policy in policies
        for s in policy["Statement"]
        if "Resource" in s
    )


def test_in_one_shared_account_no_set_may_change_api_gateways_account_setting():
    # GIVEN cdk.json as committed (dev and prod share the pipeline's account): the account's
    # bootstrap sets API Gateway's CloudWatch role (bootstrap/shared-account/)
    files = bp.all_rendered(CONTEXT)
    # THEN no set's execution policies grant it
    assert [s for s in ("pipeline", "dev", "prod") if _grants_the_account_setting(files, s)] == []


def test_a_stage_alone_in_its_account_may_set_api_gateways_account_setting():
    # GIVEN separate accounts: each stage's stack sets its account's API Gateway CloudWatch role
    context = copy.deepcopy(CONTEXT)
    context["pipeline"].update(account="333333333333", region="eu-west-1", sharedAccountReason=None)
    context["stages"]["dev"].update(account="111111111111", region="eu-west-1")
    context["stages"]["prod"].update(account="222222222222", region="eu-west-1")
    files = bp.all_rendered(context)
    # THEN each stage's set grants it, and the pipeline's (whose stack never sets it) does not
    assert {s: _grants_the_account_setting(files, s) for s in ("pipeline", "dev", "prod")} == {
        "pipeline": False,
        "dev": True,
        "prod": True,
    }


def test_a_layout_synth_refuses_gets_no_sets_and_one_line(monkeypatch, capsys):
    # GIVEN cdk.json with a stage region but no pipeline region (synth refuses it)
    context = copy.deepcopy(CONTEXT)
    context["stages"]["prod"]["region"] = "eu-west-1"
    monkeypatch.setattr(bp, "cdk_json_context", lambda: context)
    # WHEN the sets are written THEN nothing is, and one line names the setting
    assert bp.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(
        "bootstrap-policies: settings error: cdk.json context uploadApi.pipeline.region must be set"
    )


def _assumable(files: dict) -> list[str]:
    (boundary,) = [
        json.loads(t)
        for p, t in files.items()
        if p.parent.name == "pipeline" and p.name == "permissions-boundary.json"
    ]
    (statement,) = [s for s in boundary["Statement"] if s.get("Sid") == "AssumeCdkRoles"]
    return list(statement["Resource"])


def test_with_every_account_named_the_pipeline_assumes_bootstrap_roles_only_in_them():
    # GIVEN cdk.json naming the three accounts
    context = copy.deepcopy(CONTEXT)
    context["pipeline"].update(account="333333333333", region="eu-west-1", sharedAccountReason=None)
    context["stages"]["dev"].update(account="111111111111", region="eu-west-1")
    context["stages"]["prod"].update(account="222222222222", region="eu-west-1")
    # WHEN the pipeline's set is rendered
    resources = _assumable(bp.all_rendered(context))
    # THEN its roles may assume the CDK bootstrap roles of those accounts only (each qualifier's)
    assert {r.split(":")[4] for r in resources} == {"111111111111", "222222222222", "333333333333"}
    assert "arn:*:iam::222222222222:role/cdk-uploadprod-deploy-role-*" in resources
    assert not [r for r in resources if ":iam::*:" in r]


def test_with_an_account_unset_the_pipeline_keeps_every_accounts_bootstrap_roles():
    # GIVEN cdk.json as committed (no account named: synth cannot know them)
    resources = _assumable(bp.all_rendered(CONTEXT))
    # THEN the grant names the roles in any account (their trust admits only the pipeline's roles)
    assert all(":iam::*:" in r for r in resources)


def _artifact_bucket_statement(document: dict) -> dict:  # type: ignore[type-arg]
    (statement,) = [s for s in document["Statement"] if s.get("Sid") == "ArtifactBucket"]
    return dict(statement)


def test_a_stages_bootstrap_roles_reach_the_pipelines_artifacts_in_the_pipelines_account_only():
    from tools.dev import bootstrap_roles_boundary as brb

    # GIVEN cdk.json naming the pipeline's account: the artifact bucket and key there
    named = brb.document("prod", "uploadprod", stage_account="222222222222", pipeline_account="333333333333")
    assert _artifact_bucket_statement(named)["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": "333333333333"}
    }
    (keys,) = [s for s in named["Statement"] if s.get("Sid") == "BucketKeys"]
    assert keys["Resource"] == ["arn:*:kms:*:${aws:PrincipalAccount}:key/*", "arn:*:kms:*:333333333333:key/*"]
    # AND with neither account named (a fresh clone: the stage is in the pipeline's account) its own
    shared = brb.document("dev", "uploaddev")
    assert _artifact_bucket_statement(shared)["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}
    }
    # AND with only the stage's named, the pipeline's is unknown: the bucket by its name alone
    assert "Condition" not in _artifact_bucket_statement(brb.document("dev", "uploaddev", stage_account="1"))
    # AND the pipeline's own bootstrap roles reach no artifact bucket (it deploys through the CLI only)
    pipeline = brb.document(None, PIPELINE_QUALIFIER, pipeline_account="333333333333")
    assert not [s for s in pipeline["Statement"] if s.get("Sid") == "ArtifactBucket"]


def test_each_sets_bootstrap_roles_boundary_names_only_its_own_stack_and_qualifier():
    # GIVEN each committed set's bootstrap roles' boundary
    for set_name, stack, qualifier in (
        ("pipeline", "UploadApiPipeline", PIPELINE_QUALIFIER),
        ("dev", "Dev-UploadApi", "uploaddev"),
        ("prod", "Prod-UploadApi", "uploadprod"),
    ):
        text = (bp.GENERATED / set_name / "bootstrap-roles-boundary.json").read_text(encoding="utf-8")
        # THEN it names its stack and qualifier, and no other stack's or qualifier's
        assert f":stack/{stack}/*" in text
        assert f"cdk-{qualifier}-" in text
        others = {"UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"} - {stack}
        assert not [o for o in others if f"stack/{o}/" in text], set_name
        assert not [q for q in {PIPELINE_QUALIFIER, "uploaddev", "uploadprod"} - {qualifier} if q in text]


def _three_accounts() -> dict:  # type: ignore[type-arg]
    context = copy.deepcopy(CONTEXT)
    context["pipeline"].update(account="333333333333", region="eu-west-1", sharedAccountReason=None)
    context["stages"]["dev"].update(account="111111111111", region="eu-west-1")
    context["stages"]["prod"].update(account="222222222222", region="eu-west-1")
    return context


@pytest.mark.parametrize(("stage", "account"), [("Dev", "111111111111"), ("Prod", "222222222222")])
def test_across_accounts_the_verify_step_may_assume_its_stages_verifier_role(stage, account):
    from tools.review_kit.iam.evaluator import Request, evaluate

    # GIVEN three accounts, and the pipeline's boundary on the Verify step's role (pipeline account)
    (boundary,) = [
        json.loads(t)
        for p, t in bp.all_rendered(_three_accounts()).items()
        if p.parent.name == "pipeline" and p.name == "permissions-boundary.json"
    ]
    role = f"arn:aws:iam::333333333333:role/UploadApiPipeline-Verify{stage}Role-ABC"
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

    # (the verifier role's trust names the pipeline's account: the identity side decides)
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                "Action": "sts:AssumeRole",
            }
        ]
    }

    def decide(target: str) -> bool:
        request = Request("sts:AssumeRole", target, {}, principal_arn=role)
        return evaluate(request, [everything], boundary=boundary, resource_policy=trust).allowed

    # THEN the boundary lets it assume the stage's verifier role in the stage's account (the step's
    # own policy names exactly that ARN), and no role there that is not the stage's, nor elsewhere
    assert decide(f"arn:aws:iam::{account}:role/{stage}-UploadApi-Verifier")
    assert not decide(f"arn:aws:iam::{account}:role/Admin")
    assert not decide(f"arn:aws:iam::444444444444:role/{stage}-UploadApi-Verifier")


@pytest.mark.parametrize("layout", ["cdk.json", "three accounts"])
def test_every_generated_policy_fits_iams_managed_policy_size_in_each_layout(layout):
    # IAM quotas: a managed policy holds at most 6,144 characters, whitespace not counted; the
    # committed files are checked in tests/iam/test_guardrails.py, this is the layout forks deploy.
    context = CONTEXT if layout == "cdk.json" else _three_accounts()
    sizes = {
        f"{p.parent.name}/{p.name}": len("".join(t.split())) for p, t in bp.all_rendered(context).items()
    }
    assert {name: size for name, size in sizes.items() if size > 6144} == {}
