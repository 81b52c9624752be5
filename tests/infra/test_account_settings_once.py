"""Account-level settings are set by one stage per account (stages/pipeline/settings.py)."""

from __future__ import annotations

import pytest

from stages.pipeline.settings import set_account_settings_once

from .conftest import SynthesizedApp

pytestmark = pytest.mark.synth

ACCOUNT_SETTING = "AWS::ApiGateway::Account"


def _setters(app: SynthesizedApp) -> dict[str, int]:
    return {
        stage_id: sum(
            1 for r in app.stage_template(stage_id)["Resources"].values() if r["Type"] == ACCOUNT_SETTING
        )
        for stage_id in ("Dev", "Prod")
    }


def test_in_one_shared_account_only_dev_sets_the_api_gateway_account_role(pipeline_app):
    # GIVEN dev and prod in one account (the committed default)
    # THEN exactly one stack sets the account's API Gateway CloudWatch role: dev, which deploys first
    assert _setters(pipeline_app) == {"Dev": 1, "Prod": 0}


def test_with_separate_accounts_each_stage_sets_its_own(synth_pipeline):
    app = synth_pipeline(
        pipeline={"account": "333333333333", "region": "eu-west-1"},
        stages={
            "dev": {"account": "111111111111", "region": "eu-west-1"},
            "prod": {"account": "222222222222", "region": "eu-west-1"},
        },
    )
    assert _setters(app) == {"Dev": 1, "Prod": 1}


def test_prods_preflight_then_checks_the_account_already_has_the_role(pipeline_app):
    (project_id,) = [
        pipeline_app.project_id(a) for a in pipeline_app.actions("Prod") if "Preflight" in a["Name"]
    ]
    variables = pipeline_app.resources[project_id]["Properties"]["Environment"]["EnvironmentVariables"]
    assert {"Name": "CREATES_API_GATEWAY_ACCOUNT_ROLE", "Type": "PLAINTEXT", "Value": "false"} in variables


def test_a_stage_that_opted_out_leaves_the_other_alone():
    from stages.pipeline.settings import PipelineSettings  # noqa: F401 - the type the function takes
    from stages.settings import StageSettings

    class Pipeline:
        account = None
        region = None

    dev = StageSettings(stage="dev", create_api_gateway_account_role=False)
    prod = StageSettings(stage="prod")
    assert set_account_settings_once(Pipeline(), dev, prod).create_api_gateway_account_role is True  # type: ignore[arg-type]
