"""Data-protection controls at a glance, read from each synthesized template.

What a reviewer checks first of the stacks' hardening, stated per stack with the value the
template holds: the API's TLS policy, whether the access log records TLS, each function's
reserved concurrency, keys whose policy still gives the account root kms:*, the bucket
policies' protections, and the CloudTrail rules that report key and bucket changes.
`ok` is False where the template holds the weaker choice; the report shows it, it does not fail.
"""

from __future__ import annotations

import json
from typing import Any

from tools.common.assembly import Resource, Stack

CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"


def controls(stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(control: str, subject: str, value: str, ok: bool) -> None:
        found.append(
            {
                "stage": stack.stage,
                "stack": stack.stack_name,
                "control": control,
                "subject": subject,
                "value": value,
                "ok": ok,
            }
        )

    resources = stack.resources
    for resource in resources.values():
        name = stack.relative_path(resource.path) or resource.logical_id
        for control, value, ok in _resource_controls(resource):
            add(control, name, value, ok)
    rules = [
        r
        for r in resources.values()
        if r.type == "AWS::Events::Rule"
        and CLOUDTRAIL_API_CALL in _as_list(r.properties.get("EventPattern", {}).get("detail-type"))
    ]
    if any(r.type == "AWS::KMS::Key" for r in resources.values()) and any(
        c["control"] == "key policy without account-root kms:*" and c["ok"] for c in found
    ):
        add(
            "CloudTrail rules reporting key and bucket changes",
            stack.stack_name,
            f"{len(rules)} (needs a CloudTrail trail with management events)",
            len(rules) >= 2,
        )
    return found


Control = tuple[str, str, bool]  # (control, value, ok)


def _resource_controls(resource: Resource) -> list[Control]:
    """The controls one resource shows, by its type."""
    props = resource.properties
    if resource.type == "AWS::ApiGateway::RestApi":
        policy = props.get("SecurityPolicy")
        found = [
            (
                "TLS security policy",
                policy or "none (regional default: TLS_1_0)",
                bool(policy) and policy != "TLS_1_0",
            )
        ]
        if str(policy or "").startswith("SecurityPolicy_"):
            mode = props.get("EndpointAccessMode")
            found.append(("endpoint access mode", mode or "none", mode == "STRICT"))
        return found
    if resource.type == "AWS::ApiGateway::Stage" and "AccessLogSetting" in props:
        text = json.dumps(props["AccessLogSetting"].get("Format", ""))
        records = "$context.tlsVersion" in text and "$context.cipherSuite" in text
        return [("access log records TLS version and cipher", "yes" if records else "no", records)]
    if resource.type == "AWS::Lambda::Function":
        reserved = props.get("ReservedConcurrentExecutions")
        value = str(reserved) if reserved is not None else "none"
        return [("reserved concurrency", value, reserved is not None)]
    if resource.type == "AWS::KMS::Key":
        root_all = [s for s in _statements(props.get("KeyPolicy")) if _root_with_everything(s)]
        value = (
            "account root has kms:* (IAM policies decide)" if root_all else "split: administrators and users"
        )
        return [("key policy without account-root kms:*", value, not root_all)]
    if resource.type == "AWS::S3::BucketPolicy":
        denies = [s for s in _statements(props.get("PolicyDocument")) if s.get("Effect") == "Deny"]
        protected = any("s3:DeleteBucketPolicy" in _as_list(s.get("Action")) for s in denies)
        pinned = any(
            "s3:x-amz-server-side-encryption-aws-kms-key-id" in json.dumps(s.get("Condition", {}))
            for s in denies
        )
        if protected or pinned:
            value = f"bucket changes denied: {_yes(protected)}; PutObject key pinned: {_yes(pinned)}"
            return [("bucket policy", value, protected and pinned)]
    return []


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _root_with_everything(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow" or "kms:*" not in _as_list(statement.get("Action")):
        return False
    principal = statement.get("Principal", {})
    aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(":root" in json.dumps(p) for p in aws) and not statement.get("Condition")


def _yes(value: bool) -> str:
    return "yes" if value else "no"
