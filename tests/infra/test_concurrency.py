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


# Lambda keeps this much of an account's concurrency unreserved: 100, or the whole quota when the
# quota is smaller (a new account's can be 10: "decreases account's UnreservedConcurrentExecution
# below its minimum value of [10]").
def _minimum_unreserved(quota: int) -> int:
    return min(100, quota)


NEW_ACCOUNT_QUOTA = 10
DEFAULT_ACCOUNT_QUOTA = 1000


def _reserved_by_every_function(stage) -> dict[str, int]:
    """Every function of the stage's template with its reservation (the scan-result function too)."""
    return {
        logical_id: resource["Properties"].get("ReservedConcurrentExecutions", 0)
        for logical_id, resource in stage.of_type("AWS::Lambda::Function").items()
    }


def test_prod_reserves_the_concurrency_cdk_json_sets(synth):
    # GIVEN cdk.json's reservedConcurrency for prod
    reserved = cdk_json_setting("prod", "reservedConcurrency")
    assert isinstance(reserved, int)
    # WHEN synthesized
    stage = synth("prod")
    # THEN the function reserves exactly that, and checkov's CKV_AWS_115 needs no skip
    assert stage.function["ReservedConcurrentExecutions"] == reserved
    assert "CKV_AWS_115" not in _checkov_skips(stage)


def test_dev_reserves_nothing_by_default_so_a_new_account_can_deploy_it(synth):
    # GIVEN a new account, whose Lambda concurrency quota can be as low as 10, all of it unreservable
    reservable = NEW_ACCOUNT_QUOTA - _minimum_unreserved(NEW_ACCOUNT_QUOTA)
    # WHEN dev is synthesized exactly as cdk.json configures it
    reserved = _reserved_by_every_function(synth("dev"))
    # THEN no function of dev reserves concurrency: the first deploy cannot fail on the quota
    assert sum(reserved.values()) <= reservable == 0, reserved


def test_both_stages_fit_one_default_account_counting_every_function(synth):
    # GIVEN Lambda's default quota of 1000, of which 100 stay unreserved, and both stages in one
    # account (the committed default): the scan-result function's reservation counts too
    reserved = {name: _reserved_by_every_function(synth(name)) for name in ("dev", "prod")}
    total = sum(sum(functions.values()) for functions in reserved.values())
    # THEN prod gets the larger share and everything both stages reserve fits the account
    assert sum(reserved["prod"].values()) > sum(reserved["dev"].values())
    assert total <= DEFAULT_ACCOUNT_QUOTA - _minimum_unreserved(DEFAULT_ACCOUNT_QUOTA), reserved


def test_unreserved_means_no_reservation_with_a_warning_and_a_reasoned_skip(synth):
    # GIVEN a stage whose account cannot reserve any concurrency (dev, as committed)
    stage = synth("dev")
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


def test_the_concurrency_graph_draws_the_reservation(synth):
    # GIVEN the prod dashboard's "Lambda concurrent executions" graph
    widget = _widget(synth("prod"), "Lambda concurrent executions")
    # THEN it draws the reserved concurrency as a line: above it Lambda throttles (clients get 500)
    annotations = widget["annotations"]["horizontal"]
    assert {"label": "Reserved concurrency", "value": cdk_json_setting("prod", "reservedConcurrency")} in [
        {k: a[k] for k in ("label", "value")} for a in annotations
    ]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_throttles_alarm_names_the_reservation_and_why_clients_get_500(synth, name):
    stage = synth(name)
    (alarm,) = [v for k, v in stage.of_type("AWS::CloudWatch::Alarm").items() if "LambdaThrottles" in k]
    description = alarm["Properties"]["AlarmDescription"]
    reserved = cdk_json_setting(name, "reservedConcurrency")
    assert f"reserved concurrency, {'none' if reserved == 'unreserved' else reserved}," in description
    assert "docs/capacity.md" in description
