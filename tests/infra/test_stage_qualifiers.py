"""Each stage deploys through its own CDK bootstrap (docs/bootstrap.md): its qualifier is a setting,
checked at synth, and what the pipeline and the stage's stack name follow it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from stages.pipeline.settings import check_stage_environments, load_pipeline_settings
from stages.settings import CONTEXT_KEY, DEFAULT_BOOTSTRAP_QUALIFIERS, SettingsError, load_stage_settings

from .conftest import app_context
from .test_settings_error_cli import REPO_ROOT, _assert_one_line_naming, _env

pytestmark = pytest.mark.synth


def _context(pipeline=None, dev=None, prod=None):
    upload_api = copy.deepcopy(app_context()[CONTEXT_KEY])
    upload_api["pipeline"].update(pipeline or {})
    upload_api["stages"]["dev"].update(dev or {})
    upload_api["stages"]["prod"].update(prod or {})
    return upload_api


def _check(upload_api):
    pipeline = load_pipeline_settings(upload_api)
    stages = [load_stage_settings(upload_api, s) for s in ("dev", "prod")]
    check_stage_environments(pipeline, stages)
    return stages


def test_each_stage_has_its_own_qualifier_by_default():
    # GIVEN cdk.json as committed (one account for everything, with the placeholder reason)
    dev, prod = _check(_context())
    # THEN dev and prod deploy through bootstraps of their own, neither CDK's default (the pipeline's)
    assert (dev.qualifier, prod.qualifier) == ("uploaddev", "uploadprod")
    # AND a stage that does not set it gets its stage's default
    upload_api = _context()
    del upload_api["stages"]["dev"]["bootstrapQualifier"]
    assert load_stage_settings(upload_api, "dev").qualifier == DEFAULT_BOOTSTRAP_QUALIFIERS["dev"]


@pytest.mark.parametrize("value", ["Upper", "has-dash", "elevenchars", "", 7, None])
def test_a_qualifier_the_cdk_cannot_use_is_refused_naming_the_setting(value):
    with pytest.raises(SettingsError) as raised:
        load_stage_settings(_context(dev={"bootstrapQualifier": value}), "dev")
    message = str(raised.value)
    assert message.startswith("cdk.json context uploadApi.stages.dev.bootstrapQualifier must be")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("dev", "prod", "holder"),
    [
        ({"bootstrapQualifier": "shared"}, {"bootstrapQualifier": "shared"}, "stage dev"),
        ({"bootstrapQualifier": "hnb659fds"}, {}, "the pipeline"),
    ],
    ids=["both stages", "a stage and the pipeline"],
)
def test_a_qualifier_shared_in_one_account_is_refused(dev, prod, holder):
    # GIVEN one account for the pipeline and both stages, and a qualifier used twice there
    upload_api = _context(dev=dev, prod=prod)
    # WHEN synth checks the stages THEN it refuses, naming the second stage's setting and the holder
    with pytest.raises(SettingsError) as raised:
        _check(upload_api)
    message = str(raised.value)
    assert "uploadApi.stages." in message
    assert ".bootstrapQualifier must differ from " + holder in message


def test_the_same_qualifier_in_separate_accounts_is_accepted():
    # GIVEN three accounts, and dev and prod with one qualifier
    upload_api = _context(
        pipeline={"account": "333333333333", "region": "eu-west-1", "sharedAccountReason": None},
        dev={"account": "111111111111", "bootstrapQualifier": "upload"},
        prod={"account": "222222222222", "bootstrapQualifier": "upload"},
    )
    # WHEN checked THEN nothing is raised: each account holds one bootstrap
    dev, prod = _check(upload_api)
    assert dev.qualifier == prod.qualifier == "upload"


def test_synth_with_a_shared_qualifier_prints_one_line_naming_the_setting(tmp_path):
    # GIVEN cdk.json's context with dev's qualifier equal to prod's
    context = app_context()
    context[CONTEXT_KEY]["stages"]["dev"]["bootstrapQualifier"] = "uploadprod"
    env = _env() | {"CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    # WHEN main.py synthesizes with it
    done = subprocess.run(
        [sys.executable, "main.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    # THEN it exits 2 with one line naming the setting, and no traceback
    assert done.returncode == 2, done.stderr
    _assert_one_line_naming(
        done.stderr, "uploadApi.stages.prod.bootstrapQualifier must differ from stage dev's"
    )
