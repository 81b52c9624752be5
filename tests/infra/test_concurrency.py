"""Reserved concurrency per stage: the function keeps its share of the account and takes no more.

docs/capacity.md has the arithmetic (rate limit x p99 duration x attempts) behind cdk.json's numbers.
"""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Annotations, Match

from stages.settings import SettingsError, StageSettings, load_stage_settings

from .conftest import cdk_json_setting, context_with
from .test_observability import _widget

pytestmark = pytest.mark.synth


def _checkov_skips(stage) -> set[str]:
    metadata = stage.resources[stage.function_id].get("Metadata", {})
    return {skip["id"] for skip in metadata.get("checkov", {}).get("skip", [])}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_each_stage_reserves_the_concurrency_cdk_json_sets(synth, name):
    # GIVEN cdk.json's reservedConcurrency for the stage
    reserved = cdk_json_setting(name, "reservedConcurrency")
    assert isinstance(reserved, int)
    # WHEN synthesized
    stage = synth(name)
    # THEN the function reserves exactly that, and checkov's CKV_AWS_115 needs no skip
    assert stage.function["ReservedConcurrentExecutions"] == reserved
    assert "CKV_AWS_115" not in _checkov_skips(stage)


def test_prod_reserves_more_than_dev_and_both_fit_the_default_account_quota():
    # GIVEN cdk.json's numbers and Lambda's default quota of 1000, of which 100 stay unreserved
    dev, prod = (
        cdk_json_setting("dev", "reservedConcurrency"),
        cdk_json_setting("prod", "reservedConcurrency"),
    )
    # THEN prod gets the larger share and dev and prod together fit one account
    assert prod > dev
    assert dev + prod <= 1000 - 100


def test_unreserved_means_no_reservation_with_a_warning_and_a_reasoned_skip(synth):
    # GIVEN a stage whose account cannot reserve any concurrency
    stage = synth("dev", reservedConcurrency="unreserved")
    # THEN the function reserves none, synth warns naming the setting, checkov's skip says why
    assert "ReservedConcurrentExecutions" not in stage.function
    Annotations.from_stack(stage.stack).has_warning(
        "*", Match.string_like_regexp('uploadApi.stages.dev.reservedConcurrency is "unreserved"')
    )
    assert "CKV_AWS_115" in _checkov_skips(stage)


@pytest.mark.parametrize("value", [0, -1, 10_001, 1.5, "100", True, None, "none"])
def test_a_wrong_reservation_is_refused_naming_the_setting(value):
    upload_api = context_with("prod", reservedConcurrency=value)["uploadApi"]
    with pytest.raises(SettingsError, match=re.escape("uploadApi.stages.prod.reservedConcurrency")):
        load_stage_settings(upload_api, "prod")


def test_the_dataclass_default_matches_cdk_json_defaults():
    defaults = context_with("dev")["uploadApi"]["defaults"]
    own = StageSettings(stage="dev")
    assert own.reserved_concurrency == defaults["reservedConcurrency"]
    assert own.api_security_policy == defaults["apiSecurityPolicy"]
    assert list(own.key_administrator_arns) == defaults["keyAdministratorArns"]


def test_the_concurrency_graph_draws_the_reservation(dev):
    # GIVEN the dev dashboard's "Lambda concurrent executions" graph
    widget = _widget(dev, "Lambda concurrent executions")
    # THEN it draws the reserved concurrency as a line: above it Lambda throttles (clients get 500)
    annotations = widget["annotations"]["horizontal"]
    assert {"label": "Reserved concurrency", "value": cdk_json_setting("dev", "reservedConcurrency")} in [
        {k: a[k] for k in ("label", "value")} for a in annotations
    ]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_throttles_alarm_names_the_reservation_and_why_clients_get_500(synth, name):
    stage = synth(name)
    (alarm,) = [v for k, v in stage.of_type("AWS::CloudWatch::Alarm").items() if "LambdaThrottles" in k]
    description = alarm["Properties"]["AlarmDescription"]
    assert f"reserved concurrency, {cdk_json_setting(name, 'reservedConcurrency')}," in description
    assert "docs/capacity.md" in description
