"""Pipeline settings (cdk.json `uploadApi.pipeline`): typed, and each error names the setting and the fix."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from main import PIPELINE_STACK_ID, build_app
from stages.pipeline.settings import (
    PLACEHOLDER_CONNECTION_ARN,
    PLACEHOLDER_SHARED_ACCOUNT_REASON,
    PipelineSettings,
    SourceSettings,
    load_pipeline_settings,
    pinned_cdk_cli_version,
)
from stages.settings import CONTEXT_KEY, SettingsError
from tests.repo import REPO_ROOT

from .conftest import app_context

APPROVER = "arn:aws:iam::111111111111:role/ReleaseApprover"
REAL_CONNECTION_ARN = (
    "arn:aws:codeconnections:eu-west-1:123456789012:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
)
PLACEHOLDER_WARNING = "upload-api:placeholder-connection"


def _upload_api(
    pipeline: dict[str, Any] | None = None,
    *,
    source: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """cdk.json's uploadApi object with pipeline settings (and source settings) overridden or dropped."""
    upload_api = copy.deepcopy(app_context()[CONTEXT_KEY])
    upload_api["pipeline"]["source"].update(source or {})
    upload_api["pipeline"].update(pipeline or {})
    for dotted in drop:
        *parents, key = dotted.split(".")
        target = upload_api
        for parent in parents:
            target = target[parent]
        del target[key]
    return upload_api


def _codecommit(**source: Any) -> dict[str, Any]:
    upload_api = _upload_api()
    upload_api["pipeline"]["source"] = {"provider": "codecommit", "repository": "secure-upload-api", **source}
    upload_api["pipeline"]["approvers"] = [APPROVER]
    return upload_api


def test_cdk_json_pipeline_settings_load_typed():
    # GIVEN cdk.json's uploadApi context
    upload_api = _upload_api()
    # WHEN the pipeline settings are loaded
    settings = load_pipeline_settings(upload_api)
    # THEN they are frozen, typed, and carry cdk.json's values and package.json's CLI pin
    source = upload_api["pipeline"]["source"]
    assert settings == PipelineSettings(
        source=SourceSettings(
            provider=source["provider"],
            repository=source["repository"],
            branch=source["branch"],
            connection_arn=source["connectionArn"],
        ),
        account=None,
        region=None,
        approver_emails=(),
        cdk_cli_version=pinned_cdk_cli_version(),
        shared_account_reason=PLACEHOLDER_SHARED_ACCOUNT_REASON,
        approvers=(),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.account = "123456789012"  # type: ignore[misc]


def test_a_codecommit_source_loads_without_a_connection():
    # GIVEN a CodeCommit source with no branch set
    # WHEN loaded
    source = load_pipeline_settings(_codecommit()).source
    # THEN it has no connection and deploys main
    assert source == SourceSettings("codecommit", "secure-upload-api", "main", None)


def test_approver_emails_and_an_explicit_env_load():
    # GIVEN approvers and an explicit account and region
    upload_api = _upload_api(
        {"approverEmails": ["a@example.com"], "account": "123456789012", "region": "eu-west-1"}
    )
    # WHEN loaded
    settings = load_pipeline_settings(upload_api)
    # THEN they are kept as given
    assert (settings.approver_emails, settings.account, settings.region) == (
        ("a@example.com",),
        "123456789012",
        "eu-west-1",
    )


def test_approvers_load_as_given():
    # GIVEN an IAM Identity Center role (a path in its name) and an IAM user as approvers
    approvers = [
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Release_0a1b",
        "arn:aws:iam::210987654321:user/alice",
    ]
    # WHEN loaded THEN they are kept in order
    assert load_pipeline_settings(_upload_api({"approvers": approvers})).approvers == tuple(approvers)


# Each wrong setting: the uploadApi object, the setting's path the message must name, and what the
# message must tell the reader to put there.
WRONG = [
    pytest.param(
        _upload_api(drop=("pipeline",)),
        "uploadApi.pipeline",
        "is missing: see docs/configuration.md",
        id="no pipeline",
    ),
    pytest.param(
        _upload_api(drop=("pipeline.source",)),
        "uploadApi.pipeline.source",
        "is missing: see docs/configuration.md",
        id="no source",
    ),
    pytest.param(
        _upload_api({"source": "github"}),
        "uploadApi.pipeline.source",
        "must be a JSON object",
        id="source not an object",
    ),
    pytest.param(
        _upload_api(source={"repository": "secure-upload-api"}),
        "uploadApi.pipeline.source.repository",
        "must be 'owner/repo' as on GitHub, GitLab or Bitbucket",
        id="repository without owner",
    ),
    pytest.param(
        _upload_api(source={"repository": "your org/repo"}),
        "uploadApi.pipeline.source.repository",
        "must be 'owner/repo'",
        id="repository with a space",
    ),
    pytest.param(
        _upload_api(source={"connectionArn": "arn:aws:codeconnections:us-east-1:123:connection/abc"}),
        "uploadApi.pipeline.source.connectionArn",
        "must be the ARN of an AWS CodeConnections connection.*create it once in the console",
        id="malformed connection ARN",
    ),
    pytest.param(
        _upload_api(drop=("pipeline.source.connectionArn",)),
        "uploadApi.pipeline.source.connectionArn",
        "must be the ARN of an AWS CodeConnections connection.*paste its ARN",
        id="no connection ARN",
    ),
    pytest.param(
        _upload_api(source={"provider": "github"}),
        "uploadApi.pipeline.source.provider",
        "must be 'codeconnections'.*or 'codecommit'",
        id="unknown provider",
    ),
    pytest.param(
        _upload_api(source={"branch": "has space"}),
        "uploadApi.pipeline.source.branch",
        "must be the branch that deploys, such as 'main'",
        id="bad branch",
    ),
    pytest.param(
        _upload_api({"approver": ["arn:aws:iam::123456789012:role/release"]}),
        "uploadApi.pipeline.approver",
        "is not a setting; known: account, approverEmails, approvers, region, sharedAccountReason, source",
        id="unknown pipeline key",
    ),
    pytest.param(
        _upload_api({"approvers": ["arn:aws:iam::123456789012:role/*"]}),
        "uploadApi.pipeline.approvers",
        r"must be a list of IAM role or user ARNs .*no wildcards, no account root",
        id="approver wildcard",
    ),
    pytest.param(
        _upload_api({"approvers": ["arn:aws:iam::123456789012:root"]}),
        "uploadApi.pipeline.approvers",
        r"must be a list of IAM role or user ARNs .*no account root",
        id="approver account root",
    ),
    pytest.param(
        _upload_api({"approvers": ["123456789012"]}),
        "uploadApi.pipeline.approvers",
        r"must be a list of IAM role or user ARNs",
        id="approver account id",
    ),
    pytest.param(
        _upload_api({"approvers": "arn:aws:iam::123456789012:role/release"}),
        "uploadApi.pipeline.approvers",
        r"must be a list of IAM role or user ARNs",
        id="approvers not a list",
    ),
    pytest.param(
        _upload_api({"approvers": ["arn:aws:sts::123456789012:assumed-role/release/alice"]}),
        "uploadApi.pipeline.approvers",
        r"must be a list of IAM role or user ARNs",
        id="approver session ARN",
    ),
    pytest.param(
        _upload_api({"approvers": ["arn:aws:iam::123456789012:role/release"] * 2}),
        "uploadApi.pipeline.approvers",
        r"names an ARN twice",
        id="approver twice",
    ),
    pytest.param(
        _upload_api(source={"repo": "your-org/secure-upload-api"}),
        "uploadApi.pipeline.source.repo",
        "is not a setting; known: branch, connectionArn, provider, repository",
        id="unknown source key",
    ),
    pytest.param(
        _codecommit(connectionArn=REAL_CONNECTION_ARN),
        "uploadApi.pipeline.source.connectionArn",
        "is only for provider 'codeconnections': remove it",
        id="codecommit with connectionArn",
    ),
    pytest.param(
        _codecommit(repository="your-org/secure-upload-api"),
        "uploadApi.pipeline.source.repository",
        "must be the CodeCommit repository name",
        id="codecommit owner/repo",
    ),
    pytest.param(
        _upload_api({"approverEmails": ["release-manager"]}),
        "uploadApi.pipeline.approverEmails",
        r"must be a list of e-mail addresses, or \[\]",
        id="not an email",
    ),
    pytest.param(
        _upload_api({"approverEmails": "a@example.com"}),
        "uploadApi.pipeline.approverEmails",
        r"must be a list of e-mail addresses, or \[\]",
        id="emails not a list",
    ),
    pytest.param(
        _upload_api({"account": "1234"}),
        "uploadApi.pipeline.account",
        "must be a 12-digit AWS account id, or null",
        id="bad account",
    ),
    pytest.param(
        _upload_api({"region": "Europe"}),
        "uploadApi.pipeline.region",
        "must be an AWS region such as eu-west-1, or null",
        id="bad region",
    ),
]


@pytest.mark.parametrize(("upload_api", "path", "advice"), WRONG)
def test_a_wrong_pipeline_setting_names_its_path_and_the_fix(upload_api, path, advice):
    # GIVEN cdk.json's uploadApi with one wrong pipeline setting
    # WHEN the pipeline settings are loaded
    with pytest.raises(SettingsError) as raised:
        load_pipeline_settings(upload_api)
    # THEN the message starts at the setting's full path, as written in cdk.json, and says what to put there
    message = str(raised.value)
    assert re.search(rf"\bcdk\.json context {re.escape(path)} ", message), message
    assert re.search(advice, message), message


def test_a_wrong_pipeline_setting_fails_the_real_app_before_any_stack_exists():
    # GIVEN the real app (main.py) with a malformed repository
    app = cdk.App(context=app_context({"source": {"provider": "codeconnections", "repository": "nope"}}))
    # WHEN it is built
    # THEN SettingsError names the setting, and no stack was added
    with pytest.raises(SettingsError, match=re.escape("uploadApi.pipeline.source")):
        build_app(app)
    assert app.node.try_find_child(PIPELINE_STACK_ID) is None


# -- the placeholder connection ------------------------------------------------------------------


@pytest.mark.synth
def test_the_placeholder_connection_arn_warns_at_synth(pipeline_app):
    # GIVEN cdk.json as committed, with the placeholder connection ARN
    assert app_context()[CONTEXT_KEY]["pipeline"]["source"]["connectionArn"] == PLACEHOLDER_CONNECTION_ARN
    # WHEN the app is synthesized
    # THEN the pipeline stack carries a warning that says to put the real ARN in cdk.json
    Annotations.from_stack(pipeline_app.stack).has_warning(
        f"/{PIPELINE_STACK_ID}",
        Match.string_like_regexp(r"connectionArn is the committed placeholder: put your CodeConnections"),
    )


@pytest.mark.synth
def test_the_placeholder_warning_is_in_the_validation_report(pipeline_app):
    # GIVEN the synthesized app with the placeholder connection
    report = json.loads((pipeline_app.outdir / "validation-report.json").read_text(encoding="utf-8"))
    # WHEN the report's findings are read
    findings = [
        (violation["ruleName"], violation["severity"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
    ]
    # THEN the placeholder is reported as a warning (visible in `cdk synth`, not a failure)
    assert (f"Annotation::{PLACEHOLDER_WARNING}", "warning") in findings


@pytest.mark.synth
def test_a_real_connection_arn_gives_no_warning(synth_pipeline):
    # GIVEN a real-looking connection ARN
    app = synth_pipeline(
        pipeline={
            "source": {
                "provider": "codeconnections",
                "repository": "your-org/secure-upload-api",
                "branch": "main",
                "connectionArn": REAL_CONNECTION_ARN,
            },
            "sharedAccountReason": "a test of one account for both stages",
            "approvers": ["arn:aws:iam::111111111111:role/ReleaseApprover"],
        }
    )
    # WHEN the app is synthesized
    # THEN the pipeline stack has no placeholder-connection warning (the shared-account one is
    # tests/infra/test_delivery_trust.py's)
    Annotations.from_stack(app.stack).has_no_warning("*", Match.string_like_regexp("connectionArn"))


# -- the pinned CLI ------------------------------------------------------------------------------


def _package_json(tmp_path, version: str):
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"devDependencies": {"aws-cdk": version}}), encoding="utf-8")
    return path


def test_the_pinned_cli_version_is_read_from_package_json(tmp_path):
    # GIVEN a package.json pinning an exact 2.x CLI
    # WHEN the pin is read
    # THEN it is that version
    assert pinned_cdk_cli_version(_package_json(tmp_path, "2.1148.1")) == "2.1148.1"


def test_the_repos_pin_is_the_installed_cli():
    # GIVEN the repository's package.json
    pinned = pinned_cdk_cli_version()
    installed = REPO_ROOT / "node_modules" / "aws-cdk" / "package.json"
    if not installed.is_file():
        pytest.skip("node_modules is not installed (make install)")
    # WHEN the CLI `npm ci` installed is read
    # THEN it is the pinned one (the pipeline's self-mutation installs this same version)
    assert json.loads(installed.read_text(encoding="utf-8"))["version"] == pinned


@pytest.mark.parametrize("version", ["3.0.0", "^2.1148.1", "~2.1148.1", "latest", "2.1148", "2.x"])
def test_a_pin_that_is_not_an_exact_2x_version_is_refused(tmp_path, version):
    # GIVEN a package.json whose aws-cdk is not an exact 2.x version
    package_json = _package_json(tmp_path, version)
    # WHEN the pin is read
    # THEN SettingsError names the field and why 2.x is needed
    with pytest.raises(SettingsError) as raised:
        pinned_cdk_cli_version(package_json)
    message = str(raised.value)
    assert "package.json devDependencies.aws-cdk must pin an exact 2.x version" in message
    assert repr(version) in message
    assert "aws-cdk@3 cannot read aws-cdk-lib 2 assemblies" in message


@pytest.mark.parametrize(
    ("pipeline_region", "stage_region", "expected"),
    [
        (None, "eu-west-1", "uploadApi.pipeline.region must be set when"),
        ("eu-west-1", "us-east-1", "uploadApi.stages.dev.region (us-east-1) must equal"),
    ],
)
def test_stage_environments_the_pipeline_cannot_deploy_to_are_refused(
    pipeline_region, stage_region, expected
):
    # GIVEN a pipeline region and a dev stage in another (or an explicit) region
    from stages.pipeline.settings import check_stage_environments
    from stages.settings import StageSettings

    pipeline = dataclasses.replace(load_pipeline_settings(_upload_api()), region=pipeline_region)
    dev = StageSettings(stage="dev", account="111111111111", region=stage_region)
    # WHEN they are checked together
    with pytest.raises(SettingsError) as raised:
        check_stage_environments(pipeline, [dev])
    # THEN the message names the setting to change
    assert expected in str(raised.value)


def test_stages_in_the_pipelines_region_are_accepted():
    # GIVEN a pipeline and a stage in the same explicit region
    from stages.pipeline.settings import check_stage_environments
    from stages.settings import StageSettings

    pipeline = dataclasses.replace(load_pipeline_settings(_upload_api()), region="eu-west-1")
    # WHEN they are checked together THEN nothing is raised
    check_stage_environments(
        pipeline, [StageSettings(stage="prod", account="222222222222", region="eu-west-1")]
    )


def test_a_real_source_without_approvers_is_refused_naming_the_setting():
    # GIVEN a real connection and no approvers (no approver role would be deployed)
    upload_api = _upload_api(source={"connectionArn": REAL_CONNECTION_ARN})
    upload_api["pipeline"]["approvers"] = []
    # WHEN loaded THEN one line names the setting and why
    with pytest.raises(SettingsError) as raised:
        load_pipeline_settings(upload_api)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "cdk.json context uploadApi.pipeline.approvers must name the IAM roles or users"
    )


def test_the_placeholder_source_synthesizes_without_approvers():
    # GIVEN cdk.json as committed (placeholder connection, no approvers): a clone that deploys nothing
    assert load_pipeline_settings(_upload_api()).approvers == ()
