"""The README's trust claims, each with the tests that check it, and how those tests ended in this build.

README.md's "For security reviewers" section lists what holds; each bullet there is one CLAIMS entry
below (tests/docs/test_trust_claims.py keeps the two in step: a bullet without an entry, an entry
without a bullet, or a named test that does not exist fails). The review report reads the build's
pytest JUnit (`make unit` writes reports/junit/pytest.xml) and shows, per claim, each test with how
its cases ended. A claim is `checked` only when every one of its tests ran and none failed or was
skipped; otherwise `NOT CHECKED`, naming why. A build without the JUnit file checks no claim.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # parses only this build's own pytest JUnit file
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT

JUNIT = REPO_ROOT / "reports" / "junit" / "pytest.xml"
README = REPO_ROOT / "README.md"


@dataclass(frozen=True)
class Claim:
    key: str
    readme: str  # the words README.md's bullet starts with
    tests: tuple[str, ...]  # "tests/<path>.py::<test function>" (every parametrized case counts)


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "boundary-and-execution-policies",
        "Every role the app creates carries the permissions boundary",
        (
            "tests/iam/test_guardrails.py::test_every_role_in_every_template_has_the_boundary",
            "tests/iam/test_guardrails.py::test_creating_a_role_without_the_boundary_is_denied",
            "tests/iam/test_guardrails.py::test_removing_a_boundary_is_denied",
            "tests/iam/test_guardrails.py::test_attaching_administrator_access_is_denied",
            "tests/iam/test_guardrails.py::test_touching_what_is_not_this_apps_is_denied",
            "tests/iam/test_guardrails.py::test_a_bounded_role_with_an_inline_star_policy_still_cannot",
            "tests/iam/test_coverage.py::test_the_execution_policy_allows_every_deploy_call",
            "tests/iam/test_coverage.py::test_a_first_deployment_needs_no_tag_of_a_key_it_creates",
            "tests/iam/test_other_teams_apis_and_keys.py::test_another_teams_rest_api_cannot_be_changed",
            "tests/iam/test_other_teams_apis_and_keys.py::test_the_apps_own_rest_api_stays_the_execution_roles",
            "tests/iam/test_other_teams_apis_and_keys.py::test_another_teams_keys_rotation_period_cannot_be_set",
        ),
    ),
    Claim(
        "verifier-and-api-callers",
        "Each stage's verifier may call only its own stage's API",
        (
            "tests/infra/test_delivery_trust.py::test_the_verifier_role_may_call_and_read_exactly_its_own_api_stage",
            "tests/infra/test_delivery_trust.py::test_in_one_account_the_dev_verifier_cannot_call_the_prod_api",
            "tests/infra/test_delivery_trust.py::test_an_administrator_of_the_same_account_is_refused_by_the_resource_policy",
            "tests/infra/test_delivery_trust.py::test_allowed_callers_are_admitted_and_everyone_else_still_refused",
        ),
    ),
    Claim(
        "approvals",
        "Prod's approval sits between its change set's creation and execution",
        (
            "tests/infra/test_pipeline.py::test_the_prod_approval_runs_between_creating_and_executing_the_change_set",
            "tests/unit/test_approved_change_set.py::test_anything_but_the_approved_change_set_fails",
            "tests/unit/test_approved_change_set.py::test_a_change_set_created_again_after_the_review_fails",
            "tests/infra/test_approvals.py::test_the_check_runs_nothing_from_the_commits_source",
            "tests/infra/test_delivery_trust.py::test_a_permission_broadening_check_runs_before_each_stage_deploys",
            "tests/infra/test_pipeline_iam_gate.py::test_a_widened_pipeline_role_fails_the_gate_naming_the_permission",
            "tests/infra/test_pipeline_iam_gate.py::test_make_synth_runs_the_gate_before_self_mutation_could",
            "tests/infra/test_approvals.py::test_nobody_else_may_assume_the_role",
            "tests/infra/test_approvals.py::test_the_boundary_lets_only_the_approver_role_promote",
            "tests/infra/test_approvals.py::test_every_put_approval_result_call_on_this_pipeline_is_recorded",
            "tests/infra/test_approvals.py::test_the_approval_log_is_encrypted_and_kept_a_year",
            "tests/unit/test_approved_change_set.py::test_with_approvers_named_an_approval_given_another_way_fails",
            "tests/infra/test_approvals.py::test_with_approvers_the_check_accepts_only_approvals_through_the_approver_role",
            "tests/rehearse/test_approvals.py::test_with_approvers_only_an_approval_through_the_approver_role_passes",
            "tests/unit/test_pipeline_change_approved.py::test_with_approvers_another_principal_fails_in_one_line_naming_it",
            "tests/infra/test_pipeline_change_approved.py::test_it_runs_after_the_approval_and_before_update_pipeline",
            "tests/infra/test_pipeline_change_approved.py::test_with_approvers_it_requires_the_approver_role",
            "tests/rehearse/test_change_gate_approvers.py::test_an_insiders_own_approval_of_the_pipeline_change_fails_the_gate",
            "tests/unit/test_permissions_check_approved.py::test_with_approvers_a_stranger_fails_in_one_line_naming_them",
            "tests/infra/test_permissions_check_approved.py::test_it_runs_after_the_permission_check_and_before_the_stage_deploys",
            "tests/infra/test_permissions_check_approved.py::test_with_approvers_it_requires_the_approver_role",
            "tests/unit/test_permissions_check_approved.py::test_main_fails_the_functions_approval_of_a_broadening",
            "tests/rehearse/test_permissions_check_approved.py::test_the_functions_approval_of_a_broadening_fails_the_stage",
            "tests/infra/test_permissions_check_approved.py::test_the_check_exports_the_message_the_step_takes_for_nothing_broadens",
            "tests/infra/test_approvals.py::test_one_approval_record_not_written_is_an_alarm",
        ),
    ),
    Claim(
        "bootstrap-trust-and-change-gate",
        "A stage account bootstrapped from `bootstrap/cdk/bootstrap-template.json`",
        (
            "tests/iam/test_bootstrap_trust.py::test_a_principal_of_the_pipeline_account_not_named_cannot_assume_prods_bootstrap_roles",
            "tests/iam/test_role_chains.py::test_the_build_that_runs_the_commits_code_becomes_no_role",
            "tests/iam/test_role_chains.py::test_a_role_reaches_prods_deploy_role_only_as_a_named_role_in_one_hop",
            "tests/iam/test_role_chains.py::test_a_two_hop_chain_from_synth_is_found",
            "tests/iam/test_role_chains.py::test_a_role_that_may_start_or_change_the_assets_build_reaches_prods_deploy_role",
            "tests/iam/test_role_chain_edges.py::test_no_build_that_runs_the_commits_code_reaches_a_deploying_role_or_admin_in_prod",
            "tests/iam/test_role_chain_edges.py::test_the_actions_that_read_the_synth_artifact_and_what_protects_each",
            "tests/iam/test_role_chain_edges.py::test_prods_prepare_without_its_approval_lets_synth_reach_prods_execution_role",
            "tests/iam/test_role_chain_edges.py::test_a_role_allowed_to_retag_prods_deploy_role_reaches_it_where_the_trust_admits",
            "tests/unit/test_pipeline_change_check.py::test_deleting_promote_to_prod_needs_a_person",
            "tests/infra/test_pipeline_change_gate.py::test_the_synthesized_pipeline_without_promote_to_prod_needs_a_person",
            "tests/unit/test_assembly_check.py::test_a_file_asset_made_by_a_command_is_refused",
            "tests/unit/test_asset_content.py::test_code_planted_under_a_later_commits_key_waits_for_a_person",
            "tests/unit/test_asset_content.py::test_the_fingerprint_is_aws_cdk_libs",
            "tests/infra/test_bundle.py::test_a_real_synth_keys_the_bundle_by_its_own_fingerprint",
            "tests/rehearse/test_change_gate.py::test_a_commit_that_also_rewrites_the_gates_check_still_stops_at_the_deployed_gate",
        ),
    ),
    Claim(
        "stage-isolation",
        "Each stage deploys through a bootstrap of its own",
        (
            "tests/iam/test_stage_isolation.py::test_devs_execution_role_is_denied_on_prods_resources",
            "tests/iam/test_stage_isolation.py::test_prods_execution_role_is_allowed_the_same_calls",
            "tests/iam/test_stage_isolation.py::test_a_dev_named_role_with_everything_is_denied_prods_resources",
            "tests/iam/test_stage_isolation.py::test_dev_cannot_create_a_role_under_another_boundary",
            "tests/iam/test_stage_isolation.py::test_prods_key_policies_admit_only_prods_execution_role",
            "tests/iam/test_stage_isolation.py::test_devs_execution_role_cannot_edit_prods_guardrails",
            "tests/unit/test_bootstrap_policies.py::test_a_stages_set_never_names_the_other_stage_or_its_qualifier",
            "tests/iam/test_shared_account_settings.py::test_a_role_a_stage_template_creates_cannot_write_the_other_stages_logs",
            "tests/iam/test_shared_account_settings.py::test_no_execution_role_changes_the_accounts_api_gateway_setting",
            "tests/iam/test_shared_account_settings.py::test_no_execution_role_changes_or_passes_the_accounts_role",
        ),
    ),
    Claim(
        "data-plane",
        "The API takes TLS 1.3 only",
        (
            "tests/infra/test_tls.py::test_the_api_accepts_only_tls_1_3_on_its_default_endpoint",
            "tests/iam/test_data_access.py::test_a_key_administrator_manages_but_never_uses_or_destroys",
            "tests/iam/test_data_access.py::test_only_the_deploy_role_changes_the_bucket",
            "tests/iam/test_data_access.py::test_an_account_administrator_cannot_use_or_destroy_a_key",
            "tests/iam/test_data_access.py::test_break_glass_without_mfa_reads_nothing",
            "tests/iam/test_data_access.py::test_nobody_reads_an_object_not_scanned_clean",
        ),
    ),
    Claim(
        "locked-installs",
        "Python installs are hash-locked",
        (
            "tests/unit/test_dependency_locks.py::test_every_locked_file_comes_from_pypi_with_a_sha256",
            "tests/unit/test_dependency_locks.py::test_uv_sync_refuses_a_file_whose_hash_is_not_the_locked_one",
            "tests/unit/test_node_lock.py::test_node_22_comes_from_locked_binary_packages",
            "tests/unit/test_node_lock.py::test_no_locked_npm_package_has_an_install_script",
            "tests/infra/test_asset_publishing_role.py::test_pipeline_builds_install_their_tools_without_lifecycle_scripts",
        ),
    ),
)


def outcomes(junit: Path) -> dict[str, Counter[str]]:
    """`tests/<path>.py::<function>` -> how its cases ended (passed, failed, skipped), from pytest's JUnit."""
    found: dict[str, Counter[str]] = {}
    for case in ET.parse(junit).iter("testcase"):  # noqa: S314 - this build's own file
        module, name = case.get("classname", ""), case.get("name", "")
        test = f"{module.replace('.', '/')}.py::{name.split('[', 1)[0]}"
        kinds = {child.tag for child in case}
        ended = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        found.setdefault(test, Counter())[ended] += 1
    return found


def build(junit: Path = JUNIT) -> dict[str, Any]:
    """The report's `claims` section: {status, junit, claims: [{key, readme, verdict, why, tests}]}."""
    if not junit.is_file():
        ran: dict[str, Counter[str]] = {}
        status = f"not checked: no test results at {junit} (`make unit` writes them)"
    else:
        ran, status = outcomes(junit), "read"
    claims = []
    for claim in CLAIMS:
        tests = [{"test": t, **dict(ran.get(t, Counter()))} for t in claim.tests]
        why = [_why_not(t) for t in tests if _why_not(t)]
        claims.append(
            {
                "key": claim.key,
                "readme": claim.readme,
                "verdict": "checked" if not why else "NOT CHECKED",
                "why": "; ".join(why),
                "tests": tests,
            }
        )
    return {"status": status, "junit": str(junit), "claims": claims}


def _why_not(test: dict[str, Any]) -> str:
    name = test["test"].rsplit("::", 1)[-1]
    if test.get("failed"):
        return f"{name} failed"
    if test.get("skipped"):
        return f"{name} skipped"
    if not test.get("passed"):
        return f"{name} did not run"
    return ""
