"""Account-level settings: by a stage in an account of its own, by the account's bootstrap in a
shared one (stages/pipeline/settings.py, bootstrap/shared-account/apigateway-account.json)."""

from __future__ import annotations

import pytest

from stages.pipeline.settings import place_account_settings

from .conftest import SynthesizedApp, loaded_settings

pytestmark = pytest.mark.synth

ACCOUNT_SETTING = "AWS::ApiGateway::Account"


def _setters(app: SynthesizedApp) -> dict[str, int]:
    return {
        stage_id: sum(
            1 for r in app.stage_template(stage_id)["Resources"].values() if r["Type"] == ACCOUNT_SETTING
        )
        for stage_id in ("Dev", "Prod")
    }


def test_in_one_shared_account_no_stage_sets_the_api_gateway_account_role(pipeline_app):
    # GIVEN dev and prod in one account (the committed default)
    # THEN neither stack sets the account's API Gateway CloudWatch role: a stage's role would carry
    # that stage's boundary, and the one role writes both stages' API logs
    assert _setters(pipeline_app) == {"Dev": 0, "Prod": 0}


def test_with_separate_accounts_each_stage_sets_its_own(synth_pipeline):
    app = synth_pipeline(
        pipeline={"account": "333333333333", "region": "eu-west-1"},
        stages={
            "dev": {"account": "111111111111", "region": "eu-west-1"},
            "prod": {"account": "222222222222", "region": "eu-west-1"},
        },
    )
    assert _setters(app) == {"Dev": 1, "Prod": 1}
    # AND no Preflight is told of a shared account
    for stage_id in ("Dev", "Prod"):
        (project_id,) = [app.project_id(a) for a in app.actions(stage_id) if "Preflight" in a["Name"]]
        variables = app.resources[project_id]["Properties"]["Environment"]["EnvironmentVariables"]
        assert "SHARED_ACCOUNT_STACKS" not in {v["Name"] for v in variables}


@pytest.mark.parametrize("stage_id", ["Dev", "Prod"])
def test_each_stages_preflight_then_checks_the_account_already_has_the_role(pipeline_app, stage_id):
    (project_id,) = [
        pipeline_app.project_id(a) for a in pipeline_app.actions(stage_id) if "Preflight" in a["Name"]
    ]
    variables = pipeline_app.resources[project_id]["Properties"]["Environment"]["EnvironmentVariables"]
    assert {"Name": "CREATES_API_GATEWAY_ACCOUNT_ROLE", "Type": "PLAINTEXT", "Value": "false"} in variables
    # AND it knows both stacks share the account: neither's role may be the account's logging role
    assert {
        "Name": "SHARED_ACCOUNT_STACKS",
        "Type": "PLAINTEXT",
        "Value": "Dev-UploadApi,Prod-UploadApi",
    } in (variables)


class _Pipeline:
    account = "333333333333"
    region = "eu-west-1"


def test_a_stage_that_opted_out_leaves_the_other_alone():
    from stages.settings import StageSettings

    # GIVEN separate accounts, and dev opting out of the account role
    dev = StageSettings(stage="dev", account="111111111111", create_api_gateway_account_role=False)
    prod = StageSettings(stage="prod", account="222222222222")
    # THEN prod still sets its own account's
    placed = place_account_settings(_Pipeline(), dev, prod)  # type: ignore[arg-type]
    assert [s.create_api_gateway_account_role for s in placed] == [False, True]


def test_stages_in_one_account_but_two_regions_still_share_it():
    from stages.settings import StageSettings

    # GIVEN one account, two regions: the execution policies' /account grant names every region
    dev = StageSettings(stage="dev", account="111111111111", region="eu-west-1")
    prod = StageSettings(stage="prod", account="111111111111", region="eu-central-1")
    placed = place_account_settings(_Pipeline(), dev, prod)  # type: ignore[arg-type]
    # THEN neither stage sets it, so neither stage's set may change it in the other's region
    assert [s.create_api_gateway_account_role for s in placed] == [False, False]


def test_scanning_uploads_in_both_stages_of_one_account_is_refused_naming_the_setting():
    from stages.pipeline.settings import check_stage_environments
    from stages.settings import SettingsError

    # GIVEN the committed one-account layout, and dev scanning uploads as prod does
    pipeline, stages = loaded_settings(stages={"dev": {"malwareScanning": True}})
    # WHEN the environments are checked
    with pytest.raises(SettingsError) as raised:
        check_stage_environments(pipeline, stages)
    # THEN one line names dev's setting and why: GuardDuty's rules carry no stage
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cdk.json context uploadApi.stages.dev.malwareScanning must be false while")
    assert "GuardDuty" in message


def test_scanning_uploads_in_both_stages_of_separate_accounts_is_fine():
    from stages.pipeline.settings import check_stage_environments

    region = "eu-west-1"
    pipeline, stages = loaded_settings(
        {"sharedAccountReason": None, "account": "333333333333", "region": region},
        {
            "dev": {"account": "111111111111", "region": region, "malwareScanning": True},
            "prod": {"account": "222222222222", "region": region},
        },
    )
    check_stage_environments(pipeline, stages)
    assert all(stage.scans_uploads for stage in stages)


APPROVER = "arn:aws:iam::111111111111:role/ReleaseApprover"
REAL_CONNECTION_ARN = (
    "arn:aws:codeconnections:eu-west-1:123456789012:connection/1b2c3d4e-0000-4000-8000-123456789abc"
)


def test_the_placeholder_reason_is_refused_once_the_source_is_real():
    from stages.pipeline.settings import check_stage_environments
    from stages.settings import SettingsError

    # GIVEN cdk.json as committed but for a real connection (a fork about to deploy)
    pipeline, stages = loaded_settings(
        {
            "source": {
                "provider": "codeconnections",
                "repository": "org/repo",
                "connectionArn": REAL_CONNECTION_ARN,
            },
            "approvers": [APPROVER],
        }
    )
    # WHEN the environments are checked
    with pytest.raises(SettingsError) as raised:
        check_stage_environments(pipeline, stages)
    # THEN one line names the setting and the two ways on: two accounts, or a reason of one's own
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "cdk.json context uploadApi.pipeline.sharedAccountReason is still the committed placeholder"
    )
    assert "uploadApi.stages.dev.account and .stages.prod.account to two accounts" in message


def test_a_real_source_with_a_reason_of_ones_own_or_two_accounts_synthesizes():
    from stages.pipeline.settings import check_stage_environments

    source = {"provider": "codeconnections", "repository": "org/repo", "connectionArn": REAL_CONNECTION_ARN}
    own_reason = loaded_settings(
        {
            "source": source,
            "approvers": [APPROVER],
            "sharedAccountReason": "a sandbox team, no customer data here",
        }
    )
    check_stage_environments(*own_reason)
    region = "eu-west-1"
    two_accounts = loaded_settings(
        {"source": source, "approvers": [APPROVER], "account": "333333333333", "region": region},
        {
            "dev": {"account": "111111111111", "region": region},
            "prod": {"account": "222222222222", "region": region},
        },
    )
    check_stage_environments(*two_accounts)
