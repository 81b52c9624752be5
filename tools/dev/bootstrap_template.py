"""The committed CDK bootstrap template: the locked CLI's own, with the stage accounts' trust narrowed.

    python -m tools.dev.bootstrap_template           # make bootstrap-template: rewrite the file
    python -m tools.dev.bootstrap_template --check   # exit 1 if the file is not what the CLI gives

`cdk bootstrap --trust PIPELINE_ACCOUNT` makes a stage account's deploy, file-publishing,
image-publishing and lookup roles trust the pipeline account's root: any principal there allowed
`sts:AssumeRole` could deploy to prod outside the pipeline. This module takes the template of the
CLI that package-lock.json pins (`cdk bootstrap --show-template --json`) and changes exactly this:

- each statement trusting `TrustedAccounts` / `TrustedAccountsForLookup` (AssumeRole and
  TagSession) holds only when `aws:PrincipalArn` is one of the pipeline roles that assume that
  bootstrap role (TRUSTED_PIPELINE_ROLES); a role no pipeline role assumes keeps no such statement;
- each of those four roles' `PermissionsBoundary`, when `--custom-permissions-boundary NAME` is
  given (`PermissionsBoundarySet`), is the policy `NAME-BootstrapRoles` (bootstrap/generated/<set>/
  bootstrap-roles-boundary.json: stages/guardrails.py `bootstrap_roles_boundary_name`), the ceiling
  of what they may do in that account; without it, the CLI's own choice. `cdk bootstrap` passes the
  template no parameter of its own, so the name is derived from the one it does pass;
- `BootstrapVariant`'s default names this variant: the CLI then refuses to overwrite a stack
  bootstrapped from this file with its stock template (which would trust the whole account again)
  unless given `--force`.

Everything else is the CLI's, byte for byte (the JSON is written as the CLI writes it). The
statements that trust the account itself are kept: in the pipeline account a person deploys the
pipeline stack through them. The execution role's boundary is the CLI's (`InputPermissionsBoundary`:
the app's boundary, docs/bootstrap.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stages.guardrails import BOOTSTRAP_ROLES_BOUNDARY_SUFFIX
from tools.common.paths import REPO_ROOT

# Beside, not among, the IAM policies: tools read every bootstrap/*.json as one.
TEMPLATE_PATH = REPO_ROOT / "bootstrap" / "cdk" / "bootstrap-template.json"
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
PIPELINE_STACK = "UploadApiPipeline"
VARIANT = "UploadApi: AWS CDK Default Resources, trust limited to the pipeline's roles"
NO_VALUE = {"Ref": "AWS::NoValue"}
TRUST_PARAMETERS = ("TrustedAccounts", "TrustedAccountsForLookup")
ROLE_WITH_A_PATH = "arn:*:iam::*:role/*/*"
# The CLI's condition for `--custom-permissions-boundary`, and the boundary it then puts on a bootstrap
# role other than the execution role (only with `--apply-permissions-boundary-to-all-roles`).
BOUNDARY_SET = "PermissionsBoundarySet"
CLI_ROLE_BOUNDARY = {
    "Fn::If": [
        "ShouldApplyPermissionsBoundaryToAllRoles",
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${InputPermissionsBoundary}"},
        NO_VALUE,
    ]
}
BOOTSTRAP_ROLES_BOUNDARY = {
    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${InputPermissionsBoundary}"
    + BOOTSTRAP_ROLES_BOUNDARY_SUFFIX
}

# CloudFormation names a role that has no RoleName `{stack}-{logicalId}-{random}` and shortens the
# logical id so the name fits IAM's 64 characters. With this 17-character stack name the id keeps
# at least its first 32 characters (names seen on AWS: `portfolioPipeline-PipelineUpdatePipelineSelfMutati-
# VUFYWAW94ECJ` keeps 32, `PipelineStack-PipelineUpdatePipelineSelfMutationRol-ypVtpbFtU9Iw` 37).
KEPT_LOGICAL_ID = 32


class TemplateChanged(ValueError):
    """The CLI's template no longer has a statement this module narrows: review it, then adapt."""


@dataclass(frozen=True)
class PipelineRole:
    """A role of the pipeline stack, by logical id, and why it assumes a stage's bootstrap role."""

    logical_id: str
    why: str

    @property
    def arn_pattern(self) -> str:
        """`aws:PrincipalArn` of the role CloudFormation creates, in any trusted account.

        None of these roles has a fixed name (only the verify roles do, and they assume no bootstrap
        role), so the pattern is the generated name's fixed part: the stack name and the logical id
        (its hash included), as much of it as CloudFormation keeps. The account is left open: the
        statement's Principal already limits it to the trusted accounts.
        """
        if len(self.logical_id) <= KEPT_LOGICAL_ID:
            return f"arn:*:iam::*:role/{PIPELINE_STACK}-{self.logical_id}-*"
        return f"arn:*:iam::*:role/{PIPELINE_STACK}-{self.logical_id[:KEPT_LOGICAL_ID]}*"


PIPELINE_ROLE = PipelineRole(
    "PipelineRoleB27FAA37",
    "CodePipeline's role: each CloudFormation action (Prepare, Deploy) runs as the stage's deploy role",
)
ASSETS_FILE_ROLE = PipelineRole(
    "PipelineAssetsFileRole59943A77",
    "the FileAssets build: `cdk publish-assets` uploads as the file-publishing role and first reads "
    "the bootstrap version as the deploy role (stages/pipeline/patches/asset_publishing.py)",
)
PERMISSIONS_CHECK_ROLE = PipelineRole(
    "PipelinePipelinesSecurityCheckCDKSecurityCheckRole62A863BD",
    "the permission checks' build: `cdk diff --security-only` reads the deployed stack as the lookup role",
)
DEV_PREFLIGHT_ROLE = PipelineRole(
    "DevPreflightRole903FD943", "Dev's Preflight build reads the stage account as the lookup role"
)
PROD_PREFLIGHT_ROLE = PipelineRole(
    "ProdPreflightRoleEC9F4F93", "Prod's Preflight build reads the stage account as the lookup role"
)
PROD_APPROVED_CHANGE_SET_ROLE = PipelineRole(
    "ProdApprovedChangeSetRole0DFC84B1",
    "Prod's ApprovedChangeSet build reads the approved change set as the lookup role",
)
DEV_JUDGED_CHANGE_SET_ROLE = PipelineRole(
    "DevJudgedChangeSetRole3FB999EE",
    "Dev's JudgedChangeSet build reads the change set Prepare created as the lookup role",
)
PROD_JUDGED_CHANGE_SET_ROLE = PipelineRole(
    "ProdJudgedChangeSetRole8045559C",
    "Prod's JudgedChangeSet build reads the change set Prepare created as the lookup role",
)

# Bootstrap role (its logical id in the CLI's template) -> the pipeline roles that assume it in a
# stage account, as the synthesized pipeline grants them (tests/iam/test_bootstrap_trust.py checks
# both directions against a three-account synth). No pipeline role assumes a stage's image-publishing
# role (the app has no container image assets); self-mutation assumes only its own account's roles.
TRUSTED_PIPELINE_ROLES: Mapping[str, tuple[PipelineRole, ...]] = {
    "DeploymentActionRole": (PIPELINE_ROLE, ASSETS_FILE_ROLE),
    "FilePublishingRole": (ASSETS_FILE_ROLE,),
    "ImagePublishingRole": (),
    "LookupRole": (
        PERMISSIONS_CHECK_ROLE,
        DEV_PREFLIGHT_ROLE,
        PROD_PREFLIGHT_ROLE,
        PROD_APPROVED_CHANGE_SET_ROLE,
        DEV_JUDGED_CHANGE_SET_ROLE,
        PROD_JUDGED_CHANGE_SET_ROLE,
    ),
}
# How many trusted-account statements the CLI writes per role: AssumeRole and TagSession for each
# parameter it trusts (the lookup role trusts both parameters).
EXPECTED_STATEMENTS = {
    "DeploymentActionRole": 2,
    "FilePublishingRole": 2,
    "ImagePublishingRole": 2,
    "LookupRole": 4,
}


# -- the CLI's template, customized ---------------------------------------------------------------


def cli_template() -> dict[str, Any]:
    """The bootstrap template of the CLI in node_modules (the one package-lock.json pins)."""
    with tempfile.TemporaryDirectory() as empty:  # no cdk.json: nothing but the CLI decides
        completed = subprocess.run(  # noqa: S603 - the locked CLI, offline
            [str(CDK_CLI), "bootstrap", "--show-template", "--json", "--no-notices"],
            cwd=empty,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"cdk bootstrap --show-template failed: {completed.stderr[-2000:]}")
    template: dict[str, Any] = json.loads(completed.stdout)
    return template


def render(template: Mapping[str, Any]) -> str:
    """JSON exactly as the CLI writes it (`--show-template --json`: two-space indent, final newline)."""
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"


def customize(stock: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI's template with the trusted accounts narrowed to the pipeline's roles (module doc)."""
    template = copy.deepcopy(dict(stock))
    try:
        template["Parameters"]["BootstrapVariant"]["Default"] = VARIANT
    except KeyError as missing:
        raise TemplateChanged(f"the CLI's template has no BootstrapVariant parameter ({missing})") from None
    for role_id, trusted in TRUSTED_PIPELINE_ROLES.items():
        document = _trust_document(template, role_id)
        patterns = [role.arn_pattern for role in trusted]
        kept: list[Any] = []
        narrowed = 0
        for statement in document["Statement"]:
            branch = _trusted_accounts_branch(statement)
            if branch is None:
                kept.append(statement)
                continue
            narrowed += 1
            if patterns:
                _require_principal_arn(role_id, branch, patterns)
                kept.append(statement)
        if narrowed != EXPECTED_STATEMENTS[role_id]:
            raise TemplateChanged(
                f"{role_id}: {narrowed} statements trust {' or '.join(TRUST_PARAMETERS)}, expected "
                f"{EXPECTED_STATEMENTS[role_id]}: the CLI's trust changed"
            )
        document["Statement"] = kept
        _bound(template, role_id)
    return template


def _bound(template: dict[str, Any], role_id: str) -> None:
    """The role's boundary: the bootstrap roles' policy when a boundary is given, else the CLI's."""
    properties = template["Resources"][role_id]["Properties"]
    if properties.get("PermissionsBoundary") != CLI_ROLE_BOUNDARY or BOUNDARY_SET not in template.get(
        "Conditions", {}
    ):
        raise TemplateChanged(f"{role_id}: the CLI's PermissionsBoundary is not the one this module wraps")
    properties["PermissionsBoundary"] = {
        "Fn::If": [BOUNDARY_SET, BOOTSTRAP_ROLES_BOUNDARY, CLI_ROLE_BOUNDARY]
    }


def _trust_document(template: Mapping[str, Any], role_id: str) -> dict[str, Any]:
    role = template.get("Resources", {}).get(role_id)
    if not role or role.get("Type") != "AWS::IAM::Role":
        raise TemplateChanged(f"the CLI's template has no role {role_id}")
    document = role["Properties"].get("AssumeRolePolicyDocument")
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        raise TemplateChanged(f"{role_id}: no AssumeRolePolicyDocument statement list")
    return document


def _trusted_accounts_branch(statement: Any) -> dict[str, Any] | None:
    """The statement the CLI writes for a trust parameter (`Fn::If: [Has..., statement, NoValue]`)."""
    if not (isinstance(statement, dict) and list(statement) == ["Fn::If"]):
        return None
    _, branch, otherwise = statement["Fn::If"]
    principal = branch.get("Principal", {}).get("AWS") if isinstance(branch, dict) else None
    if principal not in [{"Ref": p} for p in TRUST_PARAMETERS] or otherwise != NO_VALUE:
        return None
    return branch  # the template's own dict: patched in place


def _require_principal_arn(role_id: str, branch: dict[str, Any], patterns: list[str]) -> None:
    """Add `ArnLike aws:PrincipalArn` to the statement's condition, whatever branch of it applies.

    A role's path is part of its ARN (`role/PATH/NAME`), and `*` matches across `/`: a role created
    with the path `/UploadApiPipeline-PipelineRoleB27FAA37-x/` would match a named role's pattern.
    The pipeline's roles have the default path `/`, so any role with a path is refused
    (`ArnNotLike role/*/*`)."""
    arn_like = {
        "ArnLike": {"aws:PrincipalArn": patterns},
        "ArnNotLike": {"aws:PrincipalArn": ROLE_WITH_A_PATH},
    }
    condition = branch.get("Condition")
    if condition is None:
        branch["Condition"] = arn_like
        return
    # The AssumeRole statements: `Fn::If: [ShouldDenyExternalId, {"Null": ...}, NoValue]`.
    if isinstance(condition, dict) and list(condition) == ["Fn::If"]:
        name, when_true, when_false = condition["Fn::If"]
        if isinstance(when_true, dict) and when_false == NO_VALUE and "ArnLike" not in when_true:
            condition["Fn::If"] = [name, {**when_true, **arn_like}, arn_like]
            return
    raise TemplateChanged(f"{role_id}: a trusted-account statement has a condition this module does not know")


# -- a role's trust policy as deployed, for the proofs --------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """One account's `cdk bootstrap`: its account and the parameters the CLI passes."""

    account: str
    trusted_accounts: Sequence[str] = ()
    trusted_accounts_for_lookup: Sequence[str] = ()
    deny_external_id: bool = True
    # --custom-permissions-boundary (InputPermissionsBoundary); --apply-permissions-boundary-to-all-roles
    permissions_boundary: str = ""
    apply_boundary_to_all_roles: bool = False

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "TrustedAccounts": list(self.trusted_accounts),
            "TrustedAccountsForLookup": list(self.trusted_accounts_for_lookup),
            "DenyExternalId": "true" if self.deny_external_id else "false",
            "InputPermissionsBoundary": self.permissions_boundary,
            "ApplyPermissionsBoundaryToAllRoles": "true" if self.apply_boundary_to_all_roles else "false",
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
        }


def trust_policy(template: Mapping[str, Any], role_id: str, bootstrap: Bootstrap) -> dict[str, Any]:
    """The role's trust policy as CloudFormation deploys it in `bootstrap`'s account."""
    resolved = _deployed(template, _trust_document(template, role_id), bootstrap)
    assert isinstance(resolved, dict)
    return resolved


def role_boundary(template: Mapping[str, Any], role_id: str, bootstrap: Bootstrap) -> str | None:
    """The ARN of the role's permissions boundary as CloudFormation deploys it (None: none)."""
    role = template.get("Resources", {}).get(role_id) or {}
    boundary = _deployed(template, role.get("Properties", {}).get("PermissionsBoundary", NO_VALUE), bootstrap)
    if boundary is NO_VALUE:
        return None
    if isinstance(boundary, dict) and list(boundary) == ["Fn::Sub"]:
        parameters = bootstrap.parameters
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(parameters[m.group(1)]), boundary["Fn::Sub"])
    raise TemplateChanged(f"{role_id}: a PermissionsBoundary this module cannot resolve: {boundary!r}")


def _deployed(template: Mapping[str, Any], value: Any, bootstrap: Bootstrap) -> Any:
    """`value` with the template's conditions decided for `bootstrap`'s parameters."""
    parameters = bootstrap.parameters
    conditions = template["Conditions"]

    def holds(name: str) -> bool:
        return bool(_evaluate(conditions[name], parameters, holds))

    return _resolve(value, parameters, holds)


def _evaluate(value: Any, parameters: Mapping[str, Any], holds: Any) -> Any:
    """The condition functions the CLI's template uses for trust: Not, Equals, And, Join, Ref."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Not":
            return not _evaluate(argument[0], parameters, holds)
        if function == "Fn::And":
            return all(_evaluate(a, parameters, holds) for a in argument)
        if function == "Fn::Equals":
            left, right = (_evaluate(a, parameters, holds) for a in argument)
            return left == right
        if function == "Fn::Join":
            return argument[0].join(_evaluate(argument[1], parameters, holds))
        if function == "Ref":
            return parameters[argument]
        if function == "Condition":
            return holds(argument)
    if isinstance(value, str):
        return value
    raise TemplateChanged(f"a condition this module cannot evaluate: {value!r}")


def _resolve(value: Any, parameters: Mapping[str, Any], holds: Any) -> Any:
    """`Fn::If` and `Ref` resolved; an `AWS::NoValue` list item or key dropped, as CloudFormation does."""
    if isinstance(value, list):
        items = (_resolve(item, parameters, holds) for item in value)
        return [item for item in items if item is not NO_VALUE]
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            name, when_true, when_false = value["Fn::If"]
            return _resolve(when_true if holds(name) else when_false, parameters, holds)
        if list(value) == ["Ref"]:
            return NO_VALUE if value["Ref"] == "AWS::NoValue" else parameters[value["Ref"]]
        resolved = {key: _resolve(item, parameters, holds) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    return value


# -- make bootstrap-template ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.dev.bootstrap_template", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render(customize(cli_template()))
    shown = TEMPLATE_PATH.relative_to(REPO_ROOT)
    if args.check:
        current = TEMPLATE_PATH.read_text(encoding="utf-8") if TEMPLATE_PATH.exists() else ""
        if current != text:
            print(
                f"{shown} is not the locked CLI's template customized: run `make bootstrap-template`",
                file=sys.stderr,
            )
            return 1
        print(f"{shown}: up to date with the locked CLI")
        return 0
    TEMPLATE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
