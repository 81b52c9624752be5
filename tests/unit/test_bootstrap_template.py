"""bootstrap/cdk/bootstrap-template.json is the locked CDK CLI's bootstrap template, customized by
tools/dev/bootstrap_template.py and by nothing else: a hand edit, or a CLI upgrade without
`make bootstrap-template`, fails here; so does a CLI whose template no longer has what is patched."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tools.dev import bootstrap_template as bt


@pytest.fixture(scope="module")
def cli_json() -> str:
    """The locked CLI's template as it prints it (`cdk bootstrap --show-template --json`)."""
    completed = subprocess.run(
        [str(bt.CDK_CLI), "bootstrap", "--show-template", "--json", "--no-notices"],
        capture_output=True,
        text=True,
        check=True,
        cwd=bt.TEMPLATE_PATH.parent,
    )
    return completed.stdout


@pytest.fixture(scope="module")
def stock(cli_json: str) -> dict[str, Any]:
    return json.loads(cli_json)


def committed_text() -> str:
    return bt.TEMPLATE_PATH.read_text(encoding="utf-8")


def differences(left: Any, right: Any, path: str = "") -> Iterator[str]:
    """The paths at which two JSON values differ (a list compared item by item)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            yield from differences(left.get(key), right.get(key), f"{path}/{key}")
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from differences(a, b, f"{path}/{index}")
    elif left != right:
        yield path


def test_the_committed_template_is_the_locked_clis_customized(stock):
    # GIVEN the template of the CLI package-lock.json pins
    # WHEN the customization is applied to it
    # THEN the result is the committed file, byte for byte (else: `make bootstrap-template`)
    assert bt.render(bt.customize(stock)) == committed_text()


def test_the_file_is_written_as_the_cli_writes_json(cli_json, stock):
    # GIVEN the CLI's own JSON text WHEN parsed and written back THEN not one byte differs, so the
    # committed file differs from the CLI's output only where the customization changed a value
    assert bt.render(stock) == cli_json


def test_only_the_trusted_account_statements_the_boundaries_and_the_variant_differ_from_the_cli(stock):
    # GIVEN the CLI's template and the committed one
    committed = json.loads(committed_text())
    # WHEN compared value by value
    changed = set(differences(stock, committed))
    # THEN they differ in the variant's default, in the four roles' trust statements and in their
    # permissions boundaries only
    trust = "/Properties/AssumeRolePolicyDocument/Statement"
    roles = ("DeploymentActionRole", "FilePublishingRole", "ImagePublishingRole", "LookupRole")
    assert "/Parameters/BootstrapVariant/Default" in changed
    boundary = "/Properties/PermissionsBoundary"
    assert all(any(p.startswith(f"/Resources/{r}{boundary}") for p in changed) for r in roles)
    customized = tuple(f"/Resources/{r}{where}" for r in roles for where in (trust, boundary))
    assert {p for p in changed if not p.startswith(customized)} == {"/Parameters/BootstrapVariant/Default"}
    # AND the statements trusting the account itself (a person's deploy in the pipeline account) are kept
    for role in roles:
        own = _trust_statements(stock, role)
        kept = _trust_statements(committed, role)
        assert own[:2] == kept[:2]
        assert own[0]["Principal"] == {"AWS": {"Ref": "AWS::AccountId"}}


def test_every_narrowed_statement_names_the_pipeline_roles(stock):
    committed = bt.customize(stock)
    for role_id, trusted in bt.TRUSTED_PIPELINE_ROLES.items():
        statements = committed["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        branches = [s["Fn::If"][1] for s in statements if "Fn::If" in s]
        assert len(branches) == (bt.EXPECTED_STATEMENTS[role_id] if trusted else 0)
        for branch in branches:
            condition = branch["Condition"]
            variants = condition["Fn::If"][1:] if "Fn::If" in condition else [condition]
            for variant in variants:
                assert variant["ArnLike"] == {"aws:PrincipalArn": [r.arn_pattern for r in trusted]}


@pytest.mark.parametrize("role_id", sorted(bt.TRUSTED_PIPELINE_ROLES))
def test_the_bootstrap_roles_carry_the_boundary_named_after_the_given_one(stock, role_id):
    committed = bt.customize(stock)
    account = "111111111111"
    given = bt.Bootstrap(account, permissions_boundary="UploadApiPermissionsBoundary-Dev")
    # GIVEN `--custom-permissions-boundary UploadApiPermissionsBoundary-Dev` (docs/bootstrap.md)
    # THEN the role carries UploadApiPermissionsBoundary-Dev-BootstrapRoles, where the CLI's has none
    expected = f"arn:aws:iam::{account}:policy/UploadApiPermissionsBoundary-Dev-BootstrapRoles"
    assert bt.role_boundary(committed, role_id, given) == expected
    assert bt.role_boundary(stock, role_id, given) is None
    # AND the execution role keeps the given one, as the CLI's template does
    exec_boundary = f"arn:aws:iam::{account}:policy/UploadApiPermissionsBoundary-Dev"
    for template in (committed, stock):
        assert bt.role_boundary(template, "CloudFormationExecutionRole", given) == exec_boundary
    # AND without a boundary given, the role has none, as with the CLI's
    assert bt.role_boundary(committed, role_id, bt.Bootstrap(account)) is None


def _trust_statements(template: dict[str, Any], role_id: str) -> list[Any]:
    return template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]


def _drop_last_statement(template: dict[str, Any]) -> None:
    _trust_statements(template, "DeploymentActionRole").pop()


def _rename_trust_parameter(template: dict[str, Any]) -> None:
    for statement in _trust_statements(template, "LookupRole"):
        if "Fn::If" in statement:
            statement["Fn::If"][1]["Principal"]["AWS"] = {"Ref": "TrustedPrincipals"}


def _change_external_id_condition(template: dict[str, Any]) -> None:
    for statement in _trust_statements(template, "FilePublishingRole"):
        if "Fn::If" in statement and "Condition" in statement["Fn::If"][1]:
            statement["Fn::If"][1]["Condition"] = {"StringEquals": {"sts:ExternalId": "x"}}


def _remove_role(template: dict[str, Any]) -> None:
    del template["Resources"]["ImagePublishingRole"]


def _remove_variant(template: dict[str, Any]) -> None:
    del template["Parameters"]["BootstrapVariant"]


def _change_role_boundary(template: dict[str, Any]) -> None:
    template["Resources"]["LookupRole"]["Properties"]["PermissionsBoundary"] = {"Ref": "AWS::NoValue"}


@pytest.mark.parametrize(
    "change",
    [
        _drop_last_statement,
        _rename_trust_parameter,
        _change_external_id_condition,
        _remove_role,
        _remove_variant,
        _change_role_boundary,
    ],
)
def test_a_cli_template_without_what_is_narrowed_fails_loudly(stock, change):
    # GIVEN a future CLI's template in which a patched statement moved or changed
    future = copy.deepcopy(stock)
    change(future)
    # WHEN customized THEN it fails, naming what it did not find, instead of leaving a trust wide
    with pytest.raises(bt.TemplateChanged):
        bt.customize(future)


def test_the_check_command_fails_on_a_hand_edit(tmp_path, monkeypatch, capsys):
    # GIVEN a committed file edited by hand
    edited = tmp_path / "bootstrap-template.json"
    edited.write_text(
        committed_text().replace("UploadApiPipeline-PipelineRoleB27FAA37-*", "*"), encoding="utf-8"
    )
    monkeypatch.setattr(bt, "TEMPLATE_PATH", edited)
    monkeypatch.setattr(bt, "REPO_ROOT", tmp_path)
    # WHEN checked THEN it fails and says how to regenerate
    assert bt.main(["--check"]) == 1
    assert "make bootstrap-template" in capsys.readouterr().err
