"""Typed, validated settings of the pipeline itself (source, where it runs, approvers).

Read once from cdk.json context `uploadApi.pipeline` by main.py. Every error names
the setting and says what to put there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stages.guardrails import PIPELINE_QUALIFIER
from stages.settings import CONTEXT_KEY, SettingsError, StageSettings, require_mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_PROVIDERS = ("codeconnections", "codecommit")
_WHERE = f"cdk.json context {CONTEXT_KEY}.pipeline"
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_CODECOMMIT_REPO = re.compile(r"^[\w.-]{1,100}$")
_BRANCH = re.compile(r"^[\w./-]{1,255}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# An approver: one IAM role or user, named exactly (no wildcards, no account root: the approver role's
# trust policy matches aws:PrincipalArn, and a root would admit every principal of that account).
APPROVER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
# Placeholders committed so `cdk synth` works in a fresh clone; deploying with them fails.
# The committed reason for dev and prod sharing one account: a fresh clone synthesizes (every synth
# warns), and synth refuses it once the source is real (a deploy): the forker then chooses two
# accounts or writes a reason.
PLACEHOLDER_SHARED_ACCOUNT_REASON = (
    "placeholder: a fresh clone deploys dev and prod into the pipeline's account; set stages.dev.account "
    "and stages.prod.account to two accounts, or replace this with your reason"
)
PLACEHOLDER_CONNECTION_ARN = (
    "arn:aws:codeconnections:us-east-1:111111111111:connection/00000000-0000-0000-0000-000000000000"
)


@dataclass(frozen=True)
class SourceSettings:
    provider: str
    repository: str
    branch: str
    connection_arn: str | None

    @property
    def is_placeholder(self) -> bool:
        return self.connection_arn == PLACEHOLDER_CONNECTION_ARN


@dataclass(frozen=True)
class PipelineSettings:
    source: SourceSettings
    account: str | None
    region: str | None
    approver_emails: tuple[str, ...]
    cdk_cli_version: str
    # Why dev and prod may share one account (None: they must not).
    shared_account_reason: str | None = None
    # The IAM roles and users that may assume the approver role (stages/pipeline/approvals.py).
    approvers: tuple[str, ...] = ()

    @property
    def shared_account_is_placeholder(self) -> bool:
        return self.shared_account_reason == PLACEHOLDER_SHARED_ACCOUNT_REASON


def pinned_cdk_cli_version(package_json: Path = REPO_ROOT / "package.json") -> str:
    """The CLI version package.json pins: the pipeline installs exactly this one too."""
    version = _dev_dependency(package_json, "aws-cdk")
    if not re.fullmatch(r"2\.\d+\.\d+", version):
        raise SettingsError(
            f"package.json devDependencies.aws-cdk must pin an exact 2.x version (got {version!r}): "
            "aws-cdk@3 cannot read aws-cdk-lib 2 assemblies"
        )
    return version


def _dev_dependency(package_json: Path, name: str) -> str:
    dependencies = json.loads(package_json.read_text(encoding="utf-8")).get("devDependencies", {})
    if name not in dependencies:
        raise SettingsError(f"package.json devDependencies.{name} is missing: pin an exact version")
    return str(dependencies[name])


def load_pipeline_settings(upload_api_context: Any) -> PipelineSettings:
    root = require_mapping(upload_api_context, f"cdk.json context {CONTEXT_KEY}")
    pipeline = require_mapping(root.get("pipeline"), _WHERE)
    _only(
        pipeline,
        {"source", "account", "region", "approverEmails", "approvers", "sharedAccountReason"},
        _WHERE,
    )
    settings = PipelineSettings(
        source=_source(require_mapping(pipeline.get("source"), f"{_WHERE}.source")),
        account=_optional_match(pipeline, "account", _ACCOUNT, "a 12-digit AWS account id, or null"),
        region=_optional_match(pipeline, "region", _REGION, "an AWS region such as eu-west-1, or null"),
        approver_emails=_emails(pipeline.get("approverEmails", [])),
        cdk_cli_version=pinned_cdk_cli_version(),
        shared_account_reason=_reason(pipeline.get("sharedAccountReason")),
        approvers=_approvers(pipeline.get("approvers", [])),
    )
    if not settings.approvers and not settings.source.is_placeholder:
        # Without approvers no approver role is deployed, and whoever may call
        # codepipeline:PutApprovalResult approves prod, the commit's author included.
        raise SettingsError(
            f"{_WHERE}.approvers must name the IAM roles or users that approve prod once the source is real "
            "(arn:aws:iam::<account>:role/<name>): only they may assume the approver role, the one role "
            "the boundary lets approve (docs/delivery-trust.md: Who may approve)"
        )
    return settings


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.split()) < 3:
        raise SettingsError(
            f"{_WHERE}.sharedAccountReason must say in words why dev and prod share one account, or be null "
            f"(got {value!r})"
        )
    return value


def check_stage_environments(pipeline: PipelineSettings, stages: Iterable[StageSettings]) -> None:
    """Refuse stage environments the pipeline cannot deploy to, naming the setting to change."""
    stages = list(stages)
    _check_accounts_apart(pipeline, stages)
    _check_qualifiers_apart(pipeline, stages)
    _check_scanning_apart(pipeline, stages)
    for stage in stages:
        where = f"cdk.json context {CONTEXT_KEY}.stages.{stage.stage}"
        if (stage.account or stage.region) and pipeline.region is None:
            raise SettingsError(
                f"{_WHERE}.region must be set when {where} sets account or region: CDK Pipelines needs "
                "the pipeline's own region to deploy to an explicit environment"
            )
        if stage.region and pipeline.region and stage.region != pipeline.region:
            raise SettingsError(
                f"{where}.region ({stage.region}) must equal {_WHERE}.region ({pipeline.region}): a stage in "
                "another region makes CDK add a cross-region replication stack this project has not reviewed"
            )


def stages_share_an_account(pipeline: PipelineSettings, dev: StageSettings, prod: StageSettings) -> bool:
    """Whether dev and prod deploy into one account (a stage without an account deploys into the
    pipeline's), whatever their regions: the execution policies' account-level grants (API Gateway's
    `/account`, GuardDuty's rules) name every region."""
    return (dev.account or pipeline.account) == (prod.account or pipeline.account)


def place_account_settings(
    pipeline: PipelineSettings, dev: StageSettings, prod: StageSettings
) -> tuple[StageSettings, StageSettings]:
    """Dev and prod, neither setting the account-level API Gateway CloudWatch role where they share
    an account: there the account's bootstrap sets it (bootstrap/shared-account/).

    `AWS::ApiGateway::Account` is one setting per account and region, and its role writes every
    stage's API logs. Set by a stage's stack, that role would carry the stage's boundary: dev's
    cannot write prod's logs, and a boundary that let it would let every role a dev template
    creates write them too. Each stage's Preflight checks the role is there.
    """
    if not stages_share_an_account(pipeline, dev, prod):
        return dev, prod
    return (
        replace(dev, create_api_gateway_account_role=False),
        replace(prod, create_api_gateway_account_role=False),
    )


def _check_accounts_apart(pipeline: PipelineSettings, stages: list[StageSettings]) -> None:
    """dev and prod in one account only with sharedAccountReason: there a dev principal with broad
    permissions reaches prod's data, so it must be a decision on record, not a default."""
    # A stage without an account deploys into the pipeline's (None: whatever account the pipeline is in).
    effective = {stage.stage: stage.account or pipeline.account for stage in stages}
    if len(effective) < 2 or (len(set(effective.values())) > 1 and None not in effective.values()):
        return
    if len(set(effective.values())) > 1:
        raise SettingsError(
            f"{_WHERE}.account must be set: a stage without an account deploys into the pipeline's, which "
            f"synth cannot compare with the other stage's ({effective})"
        )
    if pipeline.shared_account_is_placeholder and not pipeline.source.is_placeholder:
        raise SettingsError(
            f"{_WHERE}.sharedAccountReason is still the committed placeholder, which only serves a clone "
            f"that deploys nothing (the committed placeholder source): set cdk.json context "
            f"{CONTEXT_KEY}.stages.dev.account and .stages.prod.account to two accounts, or write your "
            "reason for one account there (docs/bootstrap.md)"
        )
    if pipeline.shared_account_reason is None:
        account = next(iter(effective.values())) or "the pipeline's account"
        raise SettingsError(
            f"{_WHERE}.sharedAccountReason must say why dev and prod share one account ({account}), or "
            f"set cdk.json context {CONTEXT_KEY}.stages.dev.account and .stages.prod.account to two "
            "different accounts"
        )


def _check_scanning_apart(pipeline: PipelineSettings, stages: list[StageSettings]) -> None:
    """Malware scanning in at most one stage of a shared account: GuardDuty creates each plan's
    EventBridge rules untagged, under one name prefix for the whole account, so a stage whose roles
    may manage its own rules could manage the other stage's too (docs/bootstrap.md)."""
    by_name = {stage.stage: stage for stage in stages}
    dev, prod = by_name.get("dev"), by_name.get("prod")
    if dev is None or prod is None or not (dev.scans_uploads and prod.scans_uploads):
        return
    if stages_share_an_account(pipeline, dev, prod):
        raise SettingsError(
            f"cdk.json context {CONTEXT_KEY}.stages.dev.malwareScanning must be false while dev and prod "
            "share one account: GuardDuty's scanning rules carry no stage, so either stage's roles could "
            "change the other's (give the stages separate accounts to scan both)"
        )


def _check_qualifiers_apart(pipeline: PipelineSettings, stages: list[StageSettings]) -> None:
    """Two stages in one account, or a stage in the pipeline's, each with its own bootstrap qualifier:
    one qualifier is one execution role, so a shared one would deploy a stage with the other's
    policies (docs/bootstrap.md)."""
    # Who holds each qualifier, by account (None: the pipeline's account, whichever it is).
    holders: dict[tuple[str | None, str], str] = {(pipeline.account, PIPELINE_QUALIFIER): "the pipeline"}
    for stage in stages:
        key = (stage.account or pipeline.account, stage.qualifier)
        if key in holders:
            where = f"cdk.json context {CONTEXT_KEY}.stages.{stage.stage}.bootstrapQualifier"
            raise SettingsError(
                f"{where} must differ from {holders[key]}'s ({stage.qualifier!r}) in their shared account: "
                "each stage deploys through its own bootstrap (docs/bootstrap.md)"
            )
        holders[key] = f"stage {stage.stage}"


def _source(source: Mapping[str, Any]) -> SourceSettings:
    where = f"{_WHERE}.source"
    _only(source, {"provider", "repository", "branch", "connectionArn"}, where)
    provider = source.get("provider", "codeconnections")
    if provider not in SOURCE_PROVIDERS:
        raise SettingsError(
            f"{where}.provider must be 'codeconnections' (GitHub, GitLab, Bitbucket) or "
            f"'codecommit' (got {provider!r})"
        )
    repository = source.get("repository")
    branch = source.get("branch", "main")
    if not isinstance(branch, str) or not _BRANCH.match(branch):
        raise SettingsError(
            f"{where}.branch must be the branch that deploys, such as 'main' (got {branch!r})"
        )
    if provider == "codecommit":
        if not isinstance(repository, str) or not _CODECOMMIT_REPO.match(repository):
            raise SettingsError(
                f"{where}.repository must be the CodeCommit repository name (got {repository!r})"
            )
        if source.get("connectionArn") is not None:
            raise SettingsError(f"{where}.connectionArn is only for provider 'codeconnections': remove it")
        return SourceSettings(provider, repository, branch, None)
    if not isinstance(repository, str) or not _OWNER_REPO.match(repository):
        raise SettingsError(
            f"{where}.repository must be 'owner/repo' as on GitHub, GitLab or Bitbucket (got {repository!r})"
        )
    connection_arn = source.get("connectionArn")
    if not isinstance(connection_arn, str) or not _CONNECTION_ARN.match(connection_arn):
        raise SettingsError(
            f"{where}.connectionArn must be the ARN of an AWS CodeConnections connection "
            "(arn:aws:codeconnections:<region>:<account>:connection/<id>): create it once in the console "
            "(Developer Tools > Settings > Connections), authorize it, then paste its ARN "
            f"(got {connection_arn!r})"
        )
    return SourceSettings(provider, repository, branch, connection_arn)


def _emails(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _EMAIL.match(v) for v in value):
        raise SettingsError(
            f"{_WHERE}.approverEmails must be a list of e-mail addresses, or [] (got {value!r})"
        )
    return tuple(value)


def _approvers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and APPROVER_ARN.match(v) for v in value):
        raise SettingsError(
            f"{_WHERE}.approvers must be a list of IAM role or user ARNs (arn:aws:iam::<account>:role/<name> "
            f"or :user/<name>), or []; no wildcards, no account root (got {value!r})"
        )
    if len(set(value)) != len(value):
        raise SettingsError(f"{_WHERE}.approvers names an ARN twice (got {value!r})")
    return tuple(value)


def _optional_match(values: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = values.get(key)
    if value is not None and not (isinstance(value, str) and pattern.match(value)):
        raise SettingsError(f"{_WHERE}.{key} must be {what} (got {value!r})")
    return value


def _only(values: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]} is not a setting; known: {', '.join(sorted(known))}")
