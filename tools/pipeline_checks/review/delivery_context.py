"""Beside the pipeline template: the bootstrap roles, the accounts, what each gate sees.

- The committed bootstrap template (bootstrap/cdk/bootstrap-template.json): each role the CLI makes
  (deploy, file-publishing, image-publishing, lookup, cfn-exec), its name, and whom its trust policy
  admits from the trusted accounts (the `aws:PrincipalArn` patterns tools/dev/bootstrap_template.py
  writes), resolved for a stage account by that module's `trust_policy`.
- The accounts and regions from cdk.json's settings (stages/pipeline/settings.py), read as synth reads them.
- What each gate sees and does not see: the table in docs/delivery-trust.md ("Approvals"), read from
  between its markers, so the wording lives in that page only.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.pipeline.settings import (
    PipelineSettings,
    load_pipeline_settings,
    place_account_settings,
    stages_share_an_account,
)
from stages.settings import CONTEXT_KEY, SettingsError, StageSettings, load_stage_settings
from tools.common.intrinsics import Placeholders, Policy, resolve
from tools.dev import bootstrap_template
from tools.pipeline_checks.review import iam

GATES_START, GATES_END = "<!-- gates-table -->", "<!-- /gates-table -->"
# Accounts that stand for "this account" and "another account" when a grant is matched with a name.
OWN_ACCOUNT, OTHER_ACCOUNT, REGION = "000000000001", "000000000002", "us-east-1"
_REGION_IN_NAME = re.compile(r"-([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)$")
_PRINCIPAL_ARN_OPERATORS = ("ArnLike", "ArnEquals", "StringLike", "StringEquals")


@dataclass(frozen=True)
class _Concrete(Placeholders):
    """Pseudo parameters (and a template's parameter defaults) as values; a resource stays `<Name>`."""

    account: str = OWN_ACCOUNT
    parameters: Mapping[str, Any] | None = None

    def pseudo(self, name: str) -> str | None:
        values = {"AWS::AccountId": self.account, "AWS::Partition": "aws", "AWS::Region": REGION}
        return values.get(name, "*" if name.startswith("AWS::") else None)

    def ref(self, logical_id: str) -> str:
        default = ((self.parameters or {}).get(logical_id) or {}).get("Default")
        return str(default) if default is not None else super().ref(logical_id)

    def sub_variable(self, name: str) -> str:
        return Policy.sub_variable(self, name)


def concrete(value: Any, name_of: Any, account: str = OWN_ACCOUNT) -> str:
    """A template value with pseudo parameters filled in (what a grant is matched with)."""
    return resolve(value, _Concrete(name_of, account))


@dataclass(frozen=True)
class BootstrapRole:
    logical_id: str  # DeploymentActionRole
    kind: str  # deploy, file-publishing, image-publishing, lookup, cfn-exec
    name_value: Any  # RoleName as the template writes it
    tag: str | None  # aws-cdk:bootstrap-role
    patterns: tuple[str, ...]  # aws:PrincipalArn the trusted accounts' statements require
    parameters: Mapping[str, Any]

    def name(self, account: str = "<account>", region: str = "<region>") -> str:
        text = resolve(self.name_value, _Concrete(str, account, self.parameters))
        return text.replace(REGION, region) if region != REGION else text

    def arn(self, account: str, region: str = REGION) -> str:
        return f"arn:aws:iam::{account}:role/{self.name(account, region)}"

    def trusts_by_name(self, role_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(role_arn, pattern) for pattern in self.patterns)


def bootstrap_roles(template: Mapping[str, Any], qualifier: str | None = None) -> list[BootstrapRole]:
    """The template's roles, named with `qualifier` (None: the template's default one)."""
    parameters = dict(template.get("Parameters") or {})
    if qualifier is not None:
        parameters["Qualifier"] = {**(parameters.get("Qualifier") or {}), "Default": qualifier}
    roles = []
    for logical_id, body in (template.get("Resources") or {}).items():
        properties = body.get("Properties") or {}
        if body.get("Type") != "AWS::IAM::Role" or "RoleName" not in properties:
            continue
        sample = resolve(properties["RoleName"], _Concrete(str, OWN_ACCOUNT, parameters))
        kind = re.sub(r"^cdk-[^-]+-|-role-.*$", "", sample)
        tags = {t.get("Key"): t.get("Value") for t in properties.get("Tags") or [] if isinstance(t, dict)}
        patterns = tuple(dict.fromkeys(_principal_arns(properties.get("AssumeRolePolicyDocument"))))
        roles.append(
            BootstrapRole(
                logical_id,
                kind,
                properties["RoleName"],
                tags.get("aws-cdk:bootstrap-role"),
                patterns,
                parameters,
            )
        )
    return roles


def _principal_arns(value: Any) -> Iterator[str]:
    """Every `aws:PrincipalArn` value under an Arn/String condition, in any branch of an Fn::If."""
    if isinstance(value, list):
        for item in value:
            yield from _principal_arns(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in _PRINCIPAL_ARN_OPERATORS and isinstance(item, dict) and "aws:PrincipalArn" in item:
                found = item["aws:PrincipalArn"]
                yield from (str(v) for v in (found if isinstance(found, list) else [found]))
            else:
                yield from _principal_arns(item)


def trust_rows(
    template: Mapping[str, Any], role: BootstrapRole, stage_account: str, pipeline_account: str | None
) -> list[dict[str, Any]]:
    """The role's trust policy as deployed in a stage account bootstrapped `--trust pipeline_account`
    (no trusted account where the stage is in the pipeline's account), as report rows."""
    trusted = [pipeline_account] if pipeline_account and pipeline_account != stage_account else []
    bootstrap = bootstrap_template.Bootstrap(stage_account, trusted, trusted)
    document = bootstrap_template.trust_policy(template, role.logical_id, bootstrap)
    where = "bootstrap/cdk/bootstrap-template.json"
    return iam.document_rows(
        document,
        name_of=str,
        where=where,
        principal=None,
        via="trust policy",
        entity=f"{where} {role.logical_id}",
    )


# `--custom-permissions-boundary`'s value as the report shows it: each bootstrap gives its own set's.
GIVEN_BOUNDARY = "BOUNDARY"


def boundary_of(template: Mapping[str, Any], role: BootstrapRole, stage_account: str) -> str:
    """The role's permissions boundary as deployed with `--custom-permissions-boundary GIVEN_BOUNDARY`
    ('none' without one; 'not read: ...' when the template's is not one this reads)."""
    bootstrap = bootstrap_template.Bootstrap(stage_account, permissions_boundary=GIVEN_BOUNDARY)
    try:
        arn = bootstrap_template.role_boundary(template, role.logical_id, bootstrap)
    except (bootstrap_template.TemplateChanged, KeyError) as error:
        return f"not read: {error}"
    return arn or "none"


def why_trusted(logical_id: str) -> str:
    """tools/dev/bootstrap_template.py's reason for naming a pipeline role, '' if it names none."""
    for roles in bootstrap_template.TRUSTED_PIPELINE_ROLES.values():
        for role in roles:
            if role.logical_id == logical_id:
                return role.why
    return ""


def pipeline_role_arn(stack_name: str, logical_id: str, role_name: str | None, account: str) -> str:
    """The ARN CloudFormation gives a role: its RoleName, else `{stack}-{logical id, shortened}-{random}`."""
    if role_name:
        return f"arn:aws:iam::{account}:role/{role_name}"
    kept = logical_id[: bootstrap_template.KEPT_LOGICAL_ID]
    return f"arn:aws:iam::{account}:role/{stack_name}-{kept}-RANDOMSUFFIX"


def region_in(name: str) -> str:
    found = _REGION_IN_NAME.search(name)
    return found.group(1) if found else REGION


# -- accounts ---------------------------------------------------------------------------------------


def topology(cdk_json: Path) -> dict[str, Any]:
    """Pipeline, dev and prod accounts and regions as cdk.json's settings give them (synth's reading)."""
    shown = cdk_json.name
    try:
        context = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {}).get(CONTEXT_KEY)
        pipeline = load_pipeline_settings(context)
        stages = [load_stage_settings(context, stage) for stage in ("dev", "prod")]
    except (OSError, ValueError, SettingsError) as error:
        return {"status": f"not read: {error}", "source": shown, "accounts": [], "shared": None}
    unset = "not set: the account `cdk deploy UploadApiPipeline` runs in"
    accounts = [
        {
            "name": "pipeline",
            "account": pipeline.account or unset,
            "region": pipeline.region or "not set",
            "inPipelineAccount": True,
        }
    ]
    for stage in stages:
        effective = stage.account or pipeline.account
        accounts.append(
            {
                "name": stage.stage,
                "account": stage.account or f"the pipeline's ({pipeline.account or 'not set'})",
                "region": stage.region or pipeline.region or "the pipeline's",
                "inPipelineAccount": stage.account is None or effective == pipeline.account,
            }
        )
    dev, prod = (stage.account or pipeline.account for stage in stages)
    shared = dev == prod
    return {
        "apiGatewayAccountRole": _api_gateway_account_role(pipeline, stages),
        "status": "read",
        "source": shown,
        "accounts": accounts,
        "shared": shared,
        "sharedReason": pipeline.shared_account_reason if shared else None,
        "sharedReasonIsPlaceholder": shared and pipeline.shared_account_is_placeholder,
        "pipelineAccount": pipeline.account,
    }


def _api_gateway_account_role(pipeline: PipelineSettings, stages: list[StageSettings]) -> str:
    """Who sets API Gateway's CloudWatch role in each stage's account (one per account and region,
    writing every stage's API logs there): the stage's stack, or the account itself."""
    dev, prod = place_account_settings(pipeline, *stages)
    if stages_share_an_account(pipeline, dev, prod):
        return (
            "dev's and prod's account: its own bootstrap (bootstrap/shared-account/apigateway-account.json), "
            "no stage's stack; each stage's Preflight checks it is set"
        )
    return "; ".join(
        f"{stage.stage}'s account: "
        + (
            "its stack sets it"
            if stage.create_api_gateway_account_role
            else "set outside the app (Preflight checks)"
        )
        for stage in (dev, prod)
    )


# -- what each gate sees ---------------------------------------------------------------------------


def gates_table(doc: Path, action_names: list[tuple[str, str, int]]) -> dict[str, Any]:
    """The rows of docs/delivery-trust.md's gate table, each with the pipeline actions it names.

    action_names: (stage, action, run order) of every action of the synthesized pipeline.
    """
    shown = f"{doc.parent.name}/{doc.name}"
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError as error:
        return {"status": f"not read: {error}", "source": shown, "rows": []}
    if GATES_START not in text or GATES_END not in text:
        return {"status": f"not read: no {GATES_START} table", "source": shown, "rows": []}
    table = text.split(GATES_START, 1)[1].split(GATES_END, 1)[0]
    lines = [line.strip() for line in table.splitlines() if line.strip().startswith("|")]
    rows = []
    for line in lines[2:]:  # header, separator
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) < 3:
            continue
        patterns = re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]
        actions = [
            f"{stage} / {name} (run order {order})"
            for stage, name, order in action_names
            if any(fnmatch.fnmatchcase(name, p) for p in patterns)
        ]
        rows.append(
            {"gate": cells[0].replace("`", ""), "sees": cells[1], "doesNotSee": cells[2], "actions": actions}
        )
    return {"status": "read", "source": shown, "rows": rows}
