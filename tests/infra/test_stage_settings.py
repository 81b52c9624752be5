"""Stage settings: typed, read once from cdk.json, and a wrong one fails synth naming its path."""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

import aws_cdk as cdk
import pytest

from main import build_app
from stages.settings import CONTEXT_KEY, SettingsError, StageSettings, load_stage_settings

from .conftest import context_with, synth_stage


def _upload_api(**stage_settings: Any) -> dict[str, Any]:
    """cdk.json's uploadApi object with `stage_settings` written into stages.dev."""
    return context_with("dev", **stage_settings)[CONTEXT_KEY]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cdk_json_settings_load_typed_for_each_stage(stage):
    # GIVEN cdk.json's uploadApi context
    upload_api = context_with(stage)[CONTEXT_KEY]
    # WHEN a stage's settings are loaded
    settings = load_stage_settings(upload_api, stage)
    # THEN they are a frozen StageSettings with the stage's own values over the defaults
    assert isinstance(settings, StageSettings)
    assert settings.stage == stage
    assert settings.log_retention_days == upload_api["stages"][stage]["logRetentionDays"]
    assert settings.throttling_rate_limit == upload_api["defaults"]["throttlingRateLimit"]
    assert isinstance(settings.break_glass_role_arns, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.api_auth = "none"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        pytest.param({"throttleRate": 5}, "uploadApi.stages.dev.throttleRate", id="unknown key"),
        pytest.param(
            {"throttlingRateLimit": 1000, "throttlingBurstLimit": 500},
            "uploadApi.stages.dev.throttlingBurstLimit",
            id="burst below rate",
        ),
        pytest.param({"throttlingRateLimit": 0}, "uploadApi.stages.dev.throttlingRateLimit", id="rate zero"),
        pytest.param(
            {"throttlingRateLimit": True}, "uploadApi.stages.dev.throttlingRateLimit", id="rate bool"
        ),
        pytest.param({"logRetentionDays": 42}, "uploadApi.stages.dev.logRetentionDays", id="bad retention"),
        pytest.param(
            {"logRetentionDays": "30"}, "uploadApi.stages.dev.logRetentionDays", id="retention string"
        ),
        pytest.param({"lambdaRuntime": "python3.8"}, "uploadApi.stages.dev.lambdaRuntime", id="bad runtime"),
        pytest.param(
            {"lambdaRuntime": "nodejs22.x"}, "uploadApi.stages.dev.lambdaRuntime", id="other family"
        ),
        pytest.param(
            {"breakGlassRoleArns": ["arn:aws:iam::123456789012:user/admin"]},
            "uploadApi.stages.dev.breakGlassRoleArns",
            id="ARN of a user",
        ),
        pytest.param(
            {"breakGlassRoleArns": "arn:aws:iam::123456789012:role/Admin"},
            "uploadApi.stages.dev.breakGlassRoleArns",
            id="ARN not in a list",
        ),
        pytest.param(
            {"keyAdministratorArns": ["arn:aws:iam::123456789012:root"]},
            "uploadApi.stages.dev.keyAdministratorArns",
            id="key administrator is the account root",
        ),
        pytest.param(
            {"keyAdministratorArns": "arn:aws:iam::123456789012:role/KeyAdmin"},
            "uploadApi.stages.dev.keyAdministratorArns",
            id="key administrator not in a list",
        ),
        pytest.param({"account": "12345"}, "uploadApi.stages.dev.account", id="short account"),
        pytest.param({"account": 123456789012}, "uploadApi.stages.dev.account", id="account number"),
        pytest.param({"region": "mars-north-1a"}, "uploadApi.stages.dev.region", id="bad region"),
        pytest.param({"apiAuth": "cognito"}, "uploadApi.stages.dev.apiAuth", id="bad auth"),
        pytest.param({"apiAuth": "NONE"}, "uploadApi.stages.dev.apiAuth", id="auth case"),
        pytest.param(
            {"createApiGatewayAccountRole": "false"},
            "uploadApi.stages.dev.createApiGatewayAccountRole",
            id="account role string",
        ),
        pytest.param(
            {"lambdaTimeoutSeconds": 30}, "uploadApi.stages.dev.lambdaTimeoutSeconds", id="timeout > 29"
        ),
        pytest.param({"lambdaMemoryMb": 64}, "uploadApi.stages.dev.lambdaMemoryMb", id="memory"),
        pytest.param(
            {"noncurrentVersionExpirationDays": 0},
            "uploadApi.stages.dev.noncurrentVersionExpirationDays",
            id="noncurrent days",
        ),
    ],
)
def test_a_wrong_stage_setting_raises_settings_error_naming_its_path(settings, path):
    # GIVEN cdk.json with one wrong setting in uploadApi.stages.dev
    upload_api = _upload_api(**settings)
    # WHEN the dev settings are loaded
    # THEN SettingsError names the setting's full path
    with pytest.raises(SettingsError, match=re.escape(path)):
        load_stage_settings(upload_api, "dev")


@pytest.mark.parametrize(
    ("key", "value"),
    [("throttlingRateLimit", -1), ("lambdaRuntime", "python2.7"), ("madeUpSetting", 1)],
)
def test_a_wrong_default_is_named_by_its_defaults_path(key, value):
    # GIVEN cdk.json with a wrong value in uploadApi.defaults
    upload_api = copy.deepcopy(context_with("dev")[CONTEXT_KEY])
    upload_api["defaults"][key] = value
    # WHEN a stage's settings are loaded
    # THEN the message points at uploadApi.defaults.<key>, where the value is written
    with pytest.raises(SettingsError, match=re.escape(f"uploadApi.defaults.{key}")):
        load_stage_settings(upload_api, "dev")


def test_a_missing_upload_api_context_is_named():
    # GIVEN an app without the uploadApi context
    # WHEN settings are loaded
    # THEN the message names the context key
    with pytest.raises(SettingsError, match="uploadApi"):
        load_stage_settings(None, "dev")


def test_an_unknown_stage_is_refused():
    # GIVEN cdk.json
    # WHEN settings for a stage that does not exist are asked for
    # THEN SettingsError says which stages exist
    with pytest.raises(SettingsError, match="dev, prod"):
        load_stage_settings(context_with("dev")[CONTEXT_KEY], "qa")


@pytest.mark.synth
def test_a_wrong_setting_fails_synth_of_the_real_app():
    # GIVEN the real app (main.py) with cdk.json's context and one wrong dev setting
    app = cdk.App(context=context_with("dev", throttlingBurstLimit=10))
    # WHEN the app is built
    # THEN it fails before any stack exists, naming the setting
    with pytest.raises(SettingsError, match=re.escape("uploadApi.stages.dev.throttlingBurstLimit")):
        build_app(app)


@pytest.mark.synth
def test_settings_reach_the_stack_typed(tmp_path):
    # GIVEN a dev stage built from cdk.json
    stage = synth_stage("dev", outdir=tmp_path)
    # WHEN the stack is inspected
    # THEN it holds the typed settings it was given, not raw context
    assert isinstance(stage.stack.settings, StageSettings)
    assert stage.stack.settings == load_stage_settings(stage.app.node.try_get_context(CONTEXT_KEY), "dev")
