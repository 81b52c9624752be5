"""Each account set-up's guardrail policies, derived from the base files in bootstrap/.

    python -m tools.dev.bootstrap_policies           # make bootstrap-policies: rewrite the files
    python -m tools.dev.bootstrap_policies --check   # exit 1 if a file is not what the base gives

The base files (bootstrap/permissions-boundary.json and the three cfn-execution-*.json) name every
stack of the app: `Dev-UploadApi-*`, `Prod-UploadApi-*`, `UploadApiPipeline-*`, and CDK's default
qualifier `hnb659fds`. Each bootstrap (docs/bootstrap.md) gets its own set, written to
bootstrap/generated/<set>/ under the same file names:

- **dev, prod** (each created under its own names, `stage_policy_name`: `UploadApiCfnExecution-Dev`...,
  and attached to the stage's own execution role, qualifier `uploadApi.stages.<stage>.bootstrapQualifier`):
  every Allow statement keeps only the values (resources, condition values) that do not name another
  stack of the app (nor, for a stage without malware scanning, GuardDuty's scanning rules; nor,
  where the stages share an account, API Gateway's account setting: the account's bootstrap sets
  it, bootstrap/shared-account/), and no CloudWatch Logs resource-policy action (only the pipeline
  stack writes one), and is dropped when a list it needs is left empty; a statement
  that allows by the app's tag also requires the stage's tag (`upload-api:stage`); a Deny of removing
  the app's tag also denies removing the stage's; the boundary gains two denials, of every resource
  tagged with another stage and of tagging anything with another stage; the qualifier
  (also where a base file names every qualifier's execution role, `cdk-*-cfn-exec-role-*`) and the
  policies' own names are the stage's. Deny statements are otherwise kept as they are: they only take away.
- **pipeline** (the base names, CDK's default qualifier): the Allow statements keep no stage's names
  (the pipeline's execution role deploys only the pipeline stack), nor API Gateway's account
  setting, nor GuardDuty's scanning rules, except the stages' role ARNs in the boundary (the verify
  steps assume each stage's verifier role); the boundary's grant to assume
  the CDK bootstrap roles (deploy, publishing, lookup) names those of each stage's qualifier too; its
  execution-resources policy denies every resource tagged as a stage's and tagging anything as a
  stage's (where the stages share its account, SelfMutate's deploy cannot reach them).

Each set also gets the permissions boundary of its CDK deploy, publishing and lookup roles,
bootstrap-roles-boundary.json, which no base file has: tools/dev/bootstrap_roles_boundary.py writes it
from the set's qualifier, stack and cdk.json's accounts.

Nothing is written by hand in bootstrap/generated/: edit the base files, then run this (the test
tests/unit/test_bootstrap_policies.py fails while a generated file differs from what this writes).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.guardrails import (
    APP_TAG_KEY,
    BASE_POLICY_NAMES,
    BOOTSTRAP_ROLES_BOUNDARY_SUFFIX,
    EXECUTION_POLICY_NAME,
    EXECUTION_RESOURCES_POLICY_NAME,
    EXECUTION_SCANNING_POLICY_NAME,
    PERMISSIONS_BOUNDARY_NAME,
    PIPELINE_QUALIFIER,
    STAGE_TAG_KEY,
    stage_policy_name,
)
from stages.pipeline.settings import check_stage_environments, load_pipeline_settings, place_account_settings
from stages.settings import CONTEXT_KEY, STAGE_NAMES, SettingsError, load_stage_settings
from tools.common.paths import REPO_ROOT
from tools.dev import bootstrap_roles_boundary

BOOTSTRAP = REPO_ROOT / "bootstrap"
GENERATED = BOOTSTRAP / "generated"
# Each guardrail policy's base file (the name it is created under, in the pipeline's set).
POLICY_FILES = {
    PERMISSIONS_BOUNDARY_NAME: "permissions-boundary.json",
    EXECUTION_POLICY_NAME: "cfn-execution-policy.json",
    EXECUTION_RESOURCES_POLICY_NAME: "cfn-execution-resources-policy.json",
    EXECUTION_SCANNING_POLICY_NAME: "cfn-execution-scanning-policy.json",
}
PIPELINE_SET = "pipeline"
# How each stack's names appear in the base files (compared lowercased: bucket names are lowercase),
# by the set that owns them. `/aws/codebuild/Pipeline*` is the pipeline's CodeBuild log groups.
OWNED_NAMES = {
    "dev": ("dev-uploadapi",),
    "prod": ("prod-uploadapi",),
    PIPELINE_SET: ("uploadapipipeline", "/aws/codebuild/pipeline"),
}
# The CDK bootstrap roles a pipeline role assumes in a stage's account (not the execution role).
_BOOTSTRAP_ROLE = re.compile(
    r"role/cdk-" + PIPELINE_QUALIFIER + r"-(deploy|lookup|[*a-z]*-?publishing)-role-"
)
_TAG_CONDITIONS = ("aws:ResourceTag/", "aws:RequestTag/")
GUARDDUTY_RULE_PREFIX = "rule/do-not-delete-amazonguarddutymalwareprotection"  # lower case, as matched
_ANY_EXEC_ROLE = "role/cdk-*-cfn-exec-role-"
API_GATEWAY_ACCOUNT = "apigateway:*::/account"  # the account-level setting, as the base files name it
# Account-wide CloudWatch Logs resource policies, named and not tagged: only the pipeline stack writes
# one (the approval record's); a stage's set keeps none, so a stage's template cannot replace or
# delete the pipeline's (or another team's) where they share an account.
PIPELINE_ONLY_ACTIONS = frozenset(
    {"logs:PutResourcePolicy", "logs:DeleteResourcePolicy", "logs:*ResourcePolicy"}
)


@dataclass(frozen=True)
class PolicySet:
    """One bootstrap's guardrail policies: `stage` None is the pipeline's."""

    stage: str | None
    qualifier: str
    # The other stages' qualifiers (the pipeline's set names their bootstrap roles).
    stage_qualifiers: tuple[str, ...] = ()
    # Whether GuardDuty scans the stage's uploads (malwareScanning): a set without scanning keeps no
    # grant on GuardDuty's EventBridge rules, which GuardDuty creates untagged under one prefix for
    # every plan of the account (another stage's included).
    scans_uploads: bool = True
    # Whether the set's stack sets API Gateway's account-level CloudWatch role (a stage alone in its
    # account): in a shared account the account's bootstrap sets it, and no set may change it.
    sets_api_gateway_account: bool = True
    # The pipeline's set: where each bootstrap is, (qualifier, account), whose CDK bootstrap roles its
    # roles may assume (the pipeline's and the stages'); empty while cdk.json leaves an account unset
    # (then each qualifier's in every account).
    bootstrap_role_accounts: tuple[tuple[str, str], ...] = ()
    # cdk.json's accounts: the set's own (a stage's; None: the pipeline's) and the pipeline's, where
    # the bootstrap roles' boundary finds the pipeline's artifact bucket (bootstrap_roles_boundary.py).
    account: str | None = None
    pipeline_account: str | None = None
    # The pipeline's set: each stage stack in an account of its own, (stack name, account). The
    # pipeline's verify steps assume the stage's verifier role there, so the roles the boundary keeps
    # of that stage are named in its account, not the pipeline's.
    stage_accounts: tuple[tuple[str, str], ...] = ()

    @property
    def directory(self) -> Path:
        return GENERATED / (self.stage or PIPELINE_SET)

    def name(self, base_name: str) -> str:
        return stage_policy_name(base_name, self.stage)


def policy_sets(upload_api_context: Any) -> list[PolicySet]:
    """The pipeline's set and one per stage, with the qualifiers cdk.json gives them."""
    pipeline_settings = load_pipeline_settings(upload_api_context)
    dev, prod = (
        load_stage_settings(upload_api_context, "dev"),
        load_stage_settings(upload_api_context, "prod"),
    )
    # The layouts synth refuses get no sets either (each refusal names its setting).
    check_stage_environments(pipeline_settings, (dev, prod))
    dev, prod = place_account_settings(pipeline_settings, dev, prod)
    settings = {"dev": dev, "prod": prod}
    accounts = {pipeline_settings.account, *(s.account or pipeline_settings.account for s in (dev, prod))}
    # The pipeline stack never sets the account's API Gateway role.
    pipeline = PolicySet(
        None,
        PIPELINE_QUALIFIER,
        tuple(settings[s].qualifier for s in STAGE_NAMES),
        sets_api_gateway_account=False,
        bootstrap_role_accounts=()
        if None in accounts
        else (
            (PIPELINE_QUALIFIER, str(pipeline_settings.account)),
            *(
                (settings[s].qualifier, str(settings[s].account or pipeline_settings.account))
                for s in STAGE_NAMES
            ),
        ),
        stage_accounts=tuple(
            (bootstrap_roles_boundary.stack_name(s), str(settings[s].account))
            for s in STAGE_NAMES
            if settings[s].account and settings[s].account != pipeline_settings.account
        ),
    )
    stages = [
        PolicySet(
            stage,
            settings[stage].qualifier,
            scans_uploads=settings[stage].scans_uploads,
            sets_api_gateway_account=settings[stage].create_api_gateway_account_role,
            account=settings[stage].account,
            pipeline_account=pipeline_settings.account,
        )
        for stage in STAGE_NAMES
    ]
    return [pipeline, *stages]


def read_base(base_name: str) -> dict[str, Any]:
    return dict(json.loads((BOOTSTRAP / POLICY_FILES[base_name]).read_text(encoding="utf-8")))


def derive(
    base: Mapping[str, Any], policy_set: PolicySet, *, boundary: bool, walled: bool = False
) -> dict[str, Any]:
    """`base` (a base file's document) as `policy_set` creates it; `walled`: the pipeline set's
    execution policy that carries the denial of every stage's resources (`_stages_wall`)."""
    document = copy.deepcopy(dict(base))
    own = policy_set.stage or PIPELINE_SET
    foreign = tuple(name for owner, names in OWNED_NAMES.items() if owner != own for name in names)
    if policy_set.stage is None or not policy_set.scans_uploads:
        foreign += (GUARDDUTY_RULE_PREFIX,)
    if not policy_set.sets_api_gateway_account:
        foreign += (API_GATEWAY_ACCOUNT,)
    # The pipeline's verify steps assume each stage's verifier role: its boundary keeps the stages' roles.
    kept_roles = policy_set.stage is None and boundary
    statements = []
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            statement = _only_own_names(statement, foreign, keep_roles=kept_roles)
        if statement is not None and statement["Effect"] == "Allow" and policy_set.stage is not None:
            statement = _without_actions(statement, PIPELINE_ONLY_ACTIONS)
        if statement is None:
            continue
        if policy_set.stage is None:
            statements.append(_place_stage_roles(_expand_bootstrap_roles(statement, policy_set), policy_set))
        else:
            statements.append(_rename(_with_stage_tag(statement, policy_set.stage), policy_set))
    if boundary and policy_set.stage is not None:
        statements.extend(_stage_wall(policy_set.stage))
    if policy_set.stage is None and walled:
        statements.extend(_stages_wall())
    document["Statement"] = statements
    return document


def _only_own_names(
    statement: dict[str, Any], foreign: tuple[str, ...], *, keep_roles: bool = False
) -> dict[str, Any] | None:
    """The Allow statement without values naming `foreign` stacks (but their roles' ARNs, with
    `keep_roles`); None when a list empties."""

    def names_foreign(value: str) -> bool:
        return any(name in value.lower() for name in foreign) and not (keep_roles and ":role/" in value)

    def keep(values: Any) -> list[str] | str | None:
        listed = [values] if isinstance(values, str) else list(values)
        own = [v for v in listed if not names_foreign(v)]
        if not own:
            return None
        return own[0] if isinstance(values, str) else own

    statement = copy.deepcopy(statement)
    for key in ("Resource", "NotResource"):
        if key in statement:
            statement[key] = keep(statement[key])
            if statement[key] is None:
                return None
    for operator in statement.get("Condition", {}).values():
        for condition_key, values in operator.items():
            operator[condition_key] = keep(values)
            if operator[condition_key] is None:
                return None
    return statement


def _without_actions(statement: dict[str, Any], actions: frozenset[str]) -> dict[str, Any] | None:
    """The Allow statement without `actions` (as written in it); None when none is left."""
    listed = statement.get("Action")
    if listed is None:
        return statement
    kept = [a for a in ([listed] if isinstance(listed, str) else listed) if a not in actions]
    if not kept:
        return None
    return {**statement, "Action": kept if isinstance(listed, list) else kept[0]}


def _with_stage_tag(statement: dict[str, Any], stage: str) -> dict[str, Any]:
    """Where `statement` requires the app's tag (or denies removing it), the stage's tag too."""
    statement = copy.deepcopy(statement)
    for operator in statement.get("Condition", {}).values():
        for prefix in _TAG_CONDITIONS:
            if operator.get(prefix + APP_TAG_KEY) is not None and statement["Effect"] == "Allow":
                operator[prefix + STAGE_TAG_KEY] = stage
        tag_keys = operator.get("aws:TagKeys")
        if statement["Effect"] == "Deny" and isinstance(tag_keys, list) and APP_TAG_KEY in tag_keys:
            operator["aws:TagKeys"] = [*tag_keys, STAGE_TAG_KEY]
    return statement


def _stage_wall(stage: str) -> list[dict[str, Any]]:
    """The boundary's denials of whatever belongs to another stage, by the stage tag: every call on
    a resource tagged with another stage, and every request that tags with another stage."""
    return [
        {
            "Sid": sid,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {f"aws:{kind}/{STAGE_TAG_KEY}": stage},
                "Null": {f"aws:{kind}/{STAGE_TAG_KEY}": "false"},
            },
        }
        for sid, kind in (("NoOtherStagesResources", "ResourceTag"), ("NoOtherStagesTags", "RequestTag"))
    ]


def _stages_wall() -> list[dict[str, Any]]:
    """The pipeline's execution role deploys only the pipeline stack: where the stages share its
    account, it is denied every resource tagged as a stage's, and tagging anything as a stage's.
    In its execution policy, not its boundary: the pipeline's own roles (the verify steps) do act on
    stage resources, and a pipeline template's new role is a pipeline change a person approves."""
    return [
        {
            "Sid": sid,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Null": {f"aws:{kind}/{STAGE_TAG_KEY}": "false"}},
        }
        for sid, kind in (("NoStagesResources", "ResourceTag"), ("NoStagesTags", "RequestTag"))
    ]


def _rename(statement: dict[str, Any], policy_set: PolicySet) -> dict[str, Any]:
    """The stage's qualifier and the stage's policy names in every string of `statement`."""
    # (and the bootstrap roles' boundary, named after the boundary: the execution policy's guardrails)
    policy_arn = re.compile(
        r"(:policy/)("
        + "|".join(sorted(BASE_POLICY_NAMES, key=len, reverse=True))
        + r")("
        + re.escape(BOOTSTRAP_ROLES_BOUNDARY_SUFFIX)
        + r")?$"
    )

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(f"cdk-{PIPELINE_QUALIFIER}-", f"cdk-{policy_set.qualifier}-")
            # A base file may name every qualifier's execution role; a stage's names its own.
            value = value.replace(_ANY_EXEC_ROLE, f"role/cdk-{policy_set.qualifier}-cfn-exec-role-")
            return policy_arn.sub(
                lambda m: m.group(1) + policy_set.name(m.group(2)) + (m.group(3) or ""), value
            )
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        return value

    return dict(rename(statement))


def _place_stage_roles(statement: dict[str, Any], policy_set: PolicySet) -> dict[str, Any]:
    """The pipeline's set: a stage's roles (kept for the verify steps) named in the stage's account."""
    resources = statement.get("Resource")
    if not isinstance(resources, list) or not policy_set.stage_accounts:
        return statement
    placed = []
    for resource in resources:
        for stack, account in policy_set.stage_accounts:
            resource = resource.replace(
                f":iam::${{aws:PrincipalAccount}}:role/{stack}-", f":iam::{account}:role/{stack}-"
            )
        placed.append(resource)
    return {**statement, "Resource": placed}


def _expand_bootstrap_roles(statement: dict[str, Any], policy_set: PolicySet) -> dict[str, Any]:
    """The pipeline's set: a grant on the CDK bootstrap roles names them for every qualifier, each in
    its own bootstrap's account when cdk.json names them all (a CDK bootstrap role elsewhere that
    trusts the pipeline's account, another team's, stays out of reach; and one ARN per qualifier and
    role keeps the boundary within IAM's size limit)."""
    resources = statement.get("Resource")
    if statement["Effect"] != "Allow" or not isinstance(resources, list):
        return statement
    placed = dict(policy_set.bootstrap_role_accounts)
    if not placed:
        placed = {q: "*" for q in (PIPELINE_QUALIFIER, *policy_set.stage_qualifiers)}
    expanded: list[str] = []
    for resource in resources:
        if not _BOOTSTRAP_ROLE.search(resource):
            expanded.append(resource)
            continue
        for qualifier, account in placed.items():
            named = resource.replace(f"cdk-{PIPELINE_QUALIFIER}-", f"cdk-{qualifier}-")
            expanded.append(named.replace(":iam::*:", f":iam::{account}:"))
    return {**statement, "Resource": list(dict.fromkeys(expanded))}


def rendered(policy_set: PolicySet) -> dict[Path, str]:
    """Each file of `policy_set`, as written: path -> text (the base files' four, then the bootstrap
    roles' boundary, which no base file has: bootstrap_roles_boundary.py)."""
    roles_boundary = bootstrap_roles_boundary.document(
        policy_set.stage,
        policy_set.qualifier,
        stage_account=policy_set.account,
        pipeline_account=policy_set.pipeline_account,
    )
    derived = {
        policy_set.directory / file: json.dumps(
            derive(
                read_base(base_name),
                policy_set,
                boundary=base_name == PERMISSIONS_BOUNDARY_NAME,
                walled=base_name == EXECUTION_RESOURCES_POLICY_NAME,
            ),
            indent=2,
        )
        + "\n"
        for base_name, file in POLICY_FILES.items()
    }
    return {
        **derived,
        policy_set.directory / bootstrap_roles_boundary.FILE: json.dumps(roles_boundary, indent=2) + "\n",
    }


def all_rendered(upload_api_context: Any | None = None) -> dict[Path, str]:
    context = upload_api_context if upload_api_context is not None else cdk_json_context()
    return {path: text for s in policy_sets(context) for path, text in rendered(s).items()}


def cdk_json_context() -> Any:
    return json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"][CONTEXT_KEY]


def stale(files: Mapping[Path, str]) -> list[Path]:
    """The generated files that differ from `files` (or are missing), and any left over."""
    differ = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = [p for p in GENERATED.rglob("*.json") if p not in files] if GENERATED.exists() else []
    return sorted(differ + extra)


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        files = all_rendered()
    except SettingsError as error:
        print(f"bootstrap-policies: settings error: {error}", file=sys.stderr)
        return 2
    if args.check:
        wrong = stale(files)
        for path in wrong:
            print(f"{_shown(path)} is not what the base files give: run `make bootstrap-policies`")
        return 1 if wrong else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(path)}")
    for path in stale(files):  # left over from a set no longer made
        path.unlink()
        print(f"removed {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
