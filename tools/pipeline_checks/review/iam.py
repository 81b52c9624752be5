"""What each principal in the app may do, in plain rows: principal, effect, actions, resources.

Roles: their inline `Policies`, every AWS::IAM::Policy / ManagedPolicy attached through `Roles`,
and their managed policy ARNs (listed, not expanded: a reviewer reads those at the source), with
who may assume them (the trust policy). Resource policies that grant or deny access to a
resource: S3 bucket policies, KMS key policies, an API's resource policy, SNS/SQS policies and
Lambda permissions. A `*` in an action or resource is marked, as are NotAction / NotResource,
which grant everything but what they name (the renderers flag them on Allow rows only: a wildcard
in a Deny takes away more, it grants nothing). Each role also carries its trust policy as rows
and the risk classes cloudsplaining finds in its statements (tools/pipeline_checks/review/risks.py).
"""

from __future__ import annotations

import json
from typing import Any

from tools.common.assembly import Stack
from tools.common.intrinsics import NameOf, render, render_list
from tools.pipeline_checks.review import risks

# type -> (policy document property, property naming what it is attached to, what a reviewer calls it)
RESOURCE_POLICIES: dict[str, tuple[str, str | None, str]] = {
    "AWS::S3::BucketPolicy": ("PolicyDocument", "Bucket", "S3 bucket policy"),
    "AWS::KMS::Key": ("KeyPolicy", None, "KMS key policy"),
    "AWS::ApiGateway::RestApi": ("Policy", None, "API resource policy"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument", "Topics", "SNS topic policy"),
    "AWS::SQS::QueuePolicy": ("PolicyDocument", "Queues", "SQS queue policy"),
    # An account-level policy: its document is a JSON string (with the template's values joined in).
    "AWS::Logs::ResourcePolicy": ("PolicyDocument", None, "CloudWatch Logs resource policy"),
}
_ATTACHABLE = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def permissions(stack: Stack) -> list[dict[str, Any]]:
    """Every role of the stack and every resource policy in it, each with its rows."""
    return [*_roles(stack), *_resource_policies(stack), *_lambda_permissions(stack)]


def _roles(stack: Stack) -> list[dict[str, Any]]:
    name = stack.name_of
    entities: dict[str, dict[str, Any]] = {}
    statements: dict[str, list[dict[str, Any]]] = {}  # role -> every statement of its own policies
    for resource in stack.resources.values():
        if resource.type != "AWS::IAM::Role":
            continue
        role = name(resource.logical_id)
        properties = resource.properties
        rows = []
        for policy in properties.get("Policies", []) or []:
            via = f"inline {render(policy.get('PolicyName', ''), name)}"
            rows += _rows(stack, policy.get("PolicyDocument", {}), principal=role, via=via, entity=role)
            statements.setdefault(resource.logical_id, []).extend(
                policy_statements(policy.get("PolicyDocument"))
            )
        for arn in render_list(properties.get("ManagedPolicyArns", []), name):
            rows.append(_managed_row(stack, role, arn))
        entities[resource.logical_id] = _entity(
            stack, "role", role, resource.logical_id, rows, trust=_trust(stack, properties)
        )
        # The trust policy as rows too: who may assume the role, with wildcards and conditions.
        entities[resource.logical_id]["trustRows"] = _rows(
            stack,
            properties.get("AssumeRolePolicyDocument", {}),
            principal=None,
            via="trust policy",
            entity=f"trust {role}",
        )
    for resource in stack.resources.values():
        if resource.type not in _ATTACHABLE:
            continue
        document = resource.properties.get("PolicyDocument", {})
        for target in resource.properties.get("Roles", []) or []:
            logical_id = target.get("Ref") if isinstance(target, dict) else None
            if logical_id not in entities:
                # A role this template does not define (imported by name or ARN): listed on its own.
                label = render(target, name)
                logical_id = f"external:{label}"
                entities.setdefault(
                    logical_id, _entity(stack, "role", label, "", [], trust=["(not in this stack)"])
                )
            role = entities[logical_id]["principal"]
            rows = _rows(stack, document, principal=role, via=name(resource.logical_id), entity=role)
            entities[logical_id]["rows"].extend(rows)
            statements.setdefault(logical_id, []).extend(policy_statements(document))
    for logical_id, entity in entities.items():
        # All of a role's statements at once: an escalation path may span two policies.
        entity["risks"] = risks.classify(
            risks.rendered_statement(s, name) for s in statements.get(logical_id, [])
        )
    return list(entities.values())


def _resource_policies(stack: Stack) -> list[dict[str, Any]]:
    name = stack.name_of
    found = []
    for resource in stack.resources.values():
        if resource.type not in RESOURCE_POLICIES:
            continue
        document_property, target_property, kind = RESOURCE_POLICIES[resource.type]
        document = resource.properties.get(document_property)
        if not document:
            continue
        if not isinstance(document, dict) or "Statement" not in document:
            # A document given as text: read as a reviewer reads it, values rendered in place.
            document = json.loads(render(document, name))
        target = (
            render(resource.properties.get(target_property), name)
            if target_property
            else name(resource.logical_id)
        )
        target = target.strip("<>") if target.count("<") == 1 else target
        rows = _rows(stack, document, principal=None, via=kind, entity=f"{kind} {target}")
        found.append(_entity(stack, kind, target, resource.logical_id, rows))
    return found


def _lambda_permissions(stack: Stack) -> list[dict[str, Any]]:
    """AWS::Lambda::Permission: one statement of the function's resource policy each."""
    name = stack.name_of
    found = []
    for resource in stack.resources.values():
        if resource.type != "AWS::Lambda::Permission":
            continue
        p = resource.properties
        conditions = [
            f"{key} = {render(p[prop], name)}"
            for prop, key in (("SourceArn", "aws:SourceArn"), ("SourceAccount", "aws:SourceAccount"))
            if prop in p
        ]
        who = render(p.get("Principal"), name)
        statement = {
            "Effect": "Allow",
            # A permission names a service (apigateway.amazonaws.com) or an account, never a dict.
            "Principal": {"Service" if who.endswith(".amazonaws.com") else "AWS": who},
            "Action": p.get("Action"),
            "Resource": p.get("FunctionName"),
        }
        target = render(p.get("FunctionName"), name).strip("<>")
        entity = f"Lambda permission {target}"
        rows = _rows(
            stack, {"Statement": [statement]}, principal=None, via="Lambda permission", entity=entity
        )
        for row in rows:
            row["condition"] = "; ".join(conditions)
            row["key"] = _key(f"{stack.stage}/{stack.stack_name}", row, entity)
        found.append(_entity(stack, "Lambda permission", target, resource.logical_id, rows))
    return found


def _entity(
    stack: Stack, kind: str, principal: str, logical_id: str, rows: list[dict[str, Any]], trust: Any = None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "stage": stack.stage,
        "stack": stack.stack_name,
        "kind": kind,
        "principal": principal,
        "logicalId": logical_id,
        "rows": rows,
    }
    if trust is not None:
        entity["trust"] = trust
    return entity


def _trust(stack: Stack, properties: dict[str, Any]) -> list[str]:
    trust = []
    for statement in policy_statements(properties.get("AssumeRolePolicyDocument", {})):
        who = _principal(statement, stack.name_of)
        actions = ", ".join(render_list(statement.get("Action", []), stack.name_of))
        condition = _condition(statement.get("Condition"), stack.name_of)
        effect = "" if statement.get("Effect", "Allow") == "Allow" else f"{statement['Effect']}: "
        trust.append(f"{effect}{who} ({actions})" + (f" if {condition}" if condition else ""))
    return trust


def _rows(
    stack: Stack, document: Any, *, principal: str | None, via: str, entity: str
) -> list[dict[str, Any]]:
    return document_rows(
        document,
        name_of=stack.name_of,
        where=f"{stack.stage}/{stack.stack_name}",
        principal=principal,
        via=via,
        entity=entity,
    )


def document_rows(
    document: Any, *, name_of: NameOf, where: str, principal: str | None, via: str, entity: str
) -> list[dict[str, Any]]:
    """One row per statement of a policy document; `where` starts each row's key (stage/stack)."""
    rows = []
    for statement in policy_statements(document):
        actions, not_action = _field(statement, "Action", name_of)
        resources, not_resource = _field(statement, "Resource", name_of)
        who = principal if principal is not None else _principal(statement, name_of)
        wildcards = [f"action {a}" for a in actions if has_wildcard(a)]
        wildcards += [f"resource {r}" for r in resources if has_wildcard(r)]
        if principal is None and has_wildcard(who):
            wildcards.append(f"principal {who}")
        wildcards += [
            f"{field} (everything but what it names)" for field in (not_action, not_resource) if field
        ]
        row = {
            "principal": who,
            "effect": str(statement.get("Effect", "Allow")),
            "actions": [f"NOT {a}" for a in actions] if not_action else actions,
            "resources": [f"NOT {r}" for r in resources] if not_resource else resources,
            "condition": _condition(statement.get("Condition"), name_of),
            "sid": str(statement.get("Sid", "")),
            "via": via,
            "managed": False,
            "wildcards": wildcards,
        }
        row["key"] = _key(where, row, entity)
        rows.append(row)
    return rows


def _managed_row(stack: Stack, role: str, arn: str) -> dict[str, Any]:
    row = {
        "principal": role,
        "effect": "Allow",
        "actions": [f"whatever managed policy {arn.rsplit('/', 1)[-1]} allows"],
        "resources": ["(defined by the managed policy)"],
        "condition": "",
        "sid": "",
        "via": f"managed policy {arn}",
        "managed": True,
        "wildcards": [],
    }
    row["key"] = _key(f"{stack.stage}/{stack.stack_name}", row, role)
    return row


def _key(where: str, row: dict[str, Any], entity: str) -> str:
    """What identifies a permission across two reports: where, who, on what, allowed or denied, if what."""
    return " | ".join(
        [
            where,
            entity,
            row["principal"],
            row["effect"],
            ",".join(sorted(row["actions"])),
            ",".join(sorted(row["resources"])),
            row["condition"],
        ]
    )


def policy_statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, dict)]


def _field(statement: dict[str, Any], field: str, name_of: NameOf) -> tuple[list[str], str]:
    if f"Not{field}" in statement:
        return render_list(statement[f"Not{field}"], name_of), f"Not{field}"
    return render_list(statement.get(field, []), name_of), ""


def _principal(statement: dict[str, Any], name_of: NameOf) -> str:
    negated = "NotPrincipal" in statement
    value = statement.get("NotPrincipal" if negated else "Principal", "")
    if isinstance(value, dict):
        parts = [
            f"{kind.lower() if kind != 'AWS' else 'AWS'} {item}"
            for kind, items in value.items()
            for item in render_list(items, name_of)
        ]
        text = ", ".join(parts)
    else:
        text = render(value, name_of)
    return f"NOT {text}" if negated else text


def _condition(condition: Any, name_of: NameOf) -> str:
    if not isinstance(condition, dict):
        return ""
    parts = []
    for operator, tests in condition.items():
        for key, value in (tests or {}).items():
            values = " | ".join(render_list(value, name_of))
            parts.append(f"{operator} {key} = {values}")
    return "; ".join(parts)


def has_wildcard(text: str) -> bool:
    """`*` anywhere: `*`, `s3:Get*`, `arn:...:table/*`."""
    return "*" in text
