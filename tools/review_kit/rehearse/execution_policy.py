"""The Deploy action's execution-policy check: the role's policies and boundary, read back from the
account, must allow what the template's resources need (review_kit/iam/coverage.py: the resource
schemas' handler permissions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tools.review_kit.rehearse import emulator


def _managed_policy_document(iam: Any, policy_arn: str) -> dict[str, Any]:
    policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    return dict(json.loads(document) if isinstance(document, str) else document)


def check(
    session: Any, coverage: Callable[..., list[Any]], role_arn: str, template: dict[str, Any], stack_name: str
) -> tuple[bool, str]:
    """(allowed, what was found): every handler call allowed, or the calls denied by resource type."""
    iam = session.client("iam")
    role_name = role_arn.split("/")[-1]
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    if not attached:
        return False, f"execution role {role_name} has no policy attached"
    policies = [_managed_policy_document(iam, a["PolicyArn"]) for a in attached]
    boundary_arn = (iam.get_role(RoleName=role_name)["Role"].get("PermissionsBoundary") or {}).get(
        "PermissionsBoundaryArn"
    )
    boundary = _managed_policy_document(iam, boundary_arn) if boundary_arn else None
    gaps = coverage(
        template,
        policies,
        stack_name=stack_name,
        account=emulator.ACCOUNT,
        region=emulator.REGION,
        boundary=boundary,
    )
    if gaps:
        by_type: dict[str, set[str]] = {}
        for gap in gaps:
            by_type.setdefault(gap.resource_type, set()).add(gap.action)
        listed = "; ".join(f"{t}: {', '.join(sorted(a))}" for t, a in sorted(by_type.items()))
        return False, f"execution policy of {role_name} does not allow: {listed}"
    names = ", ".join(a["PolicyName"] for a in attached)
    within = f" within boundary {boundary_arn.split('/')[-1]}" if boundary_arn else " (no boundary)"
    return True, f"execution policies {names}{within} allow every resource's handler permissions"
