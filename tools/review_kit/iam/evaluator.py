"""A small IAM policy evaluator: one request against identity policies, a boundary, a resource policy.

Why our own: no maintained PyPI package evaluates conditions offline (policyuniverse and
parliament parse and match actions only; principalmapper's simulator was last released in
2022 and needs its graph model). This module follows AWS's documented evaluation logic for
one account, and only the parts this project's policies use; anything else raises
`UnsupportedPolicy` instead of guessing.

Documented behaviour implemented (IAM User Guide: "Policy evaluation logic", "Condition
operators", "Conditions with multiple context keys or values", "Permissions boundaries"):
- An explicit Deny in any policy wins; without an Allow the answer is the implicit deny.
- Identity policies and the permissions boundary: both must allow (the intersection).
- A same-account resource policy that allows the principal grants on its own (the union),
  except that a boundary still limits a role (we ask for roles; a boundary's implicit deny
  does not limit an IAM user named by a resource policy, which this project never has).
- Action/NotAction: case-insensitive, `*` and `?` wildcards. Resource/NotResource: case-
  sensitive, wildcards within each of the first five ARN segments and across the rest.
- Condition: operators AND, keys AND, values OR (NOR for negated operators). A key missing
  from the request: false, except negated operators (true), `...IfExists` (true), `Null`.
  `ForAllValues:` is true for a missing key or empty set; `ForAnyValue:` false.
  Context key names are case-insensitive; values keep their case per operator.
- Policy variables `${key}` in Resource and condition values, from the request context; a
  variable without a value makes that element not match.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ContextValue = str | list[str] | bool


class UnsupportedPolicy(ValueError):
    """A policy uses a part of the IAM language this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One API call: the action, the ARN it acts on, its request context and who makes it."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_arn: str | None = None


@dataclass(frozen=True)
class Decision:
    """The answer, and which statement decided it (or why nothing did)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


# -- wildcards ----------------------------------------------------------------------------------


# A `*` or `?` that stands for itself (the escapes ${*} and ${?}, or inside a variable's value).
_LITERAL = {"*": "\ue000", "?": "\ue001"}
_TO_LITERAL = str.maketrans({k: v for k, v in _LITERAL.items()})
_UNLITERAL = str.maketrans({v: k for k, v in _LITERAL.items()})


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    def piece(c: str) -> str:
        return ".*" if c == "*" else "." if c == "?" else re.escape(c.translate(_UNLITERAL))

    regex = "".join(piece(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """`*` any run of characters, `?` one character, the whole value (StringLike's matching)."""
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    return like(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike / Resource matching: segment by segment for arn:partition:service:region:account."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        # Not an ARN pattern (or not an ARN): no segment structure to respect.
        return len(pattern_parts) == len(arn_parts) and like(pattern, arn)
    return all(like(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


# -- policy variables ---------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_ESCAPES = {"*": _LITERAL["*"], "?": _LITERAL["?"], "$": "$"}


class _Unresolved(Exception):
    pass


def _substitute(text: str, context: Mapping[str, ContextValue]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in _ESCAPES:
            return _ESCAPES[name]
        found = _lookup(context, name)
        if found is None or isinstance(found, list):
            raise _Unresolved(name)
        return _as_text(found).translate(_TO_LITERAL)

    return _VARIABLE.sub(value, text)


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    """Context keys are case-insensitive (aws:RequestTag/Name and aws:requesttag/name are one key)."""
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _as_text(value: str | bool | float) -> str:
    """Policies may spell values as JSON booleans or numbers (`"aws:SecureTransport": false`)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


# -- conditions ---------------------------------------------------------------------------------


def _number(text: str) -> float:
    return float(text)


def _ip_in(value: str, network: str) -> bool:
    return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)


# name -> (compare(request_value, policy_value), negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: like(p, v), False),
    "StringNotLike": (lambda v, p: like(p, v), True),
    "ArnEquals": (lambda v, p: arn_matches(p, v), False),
    "ArnLike": (lambda v, p: arn_matches(p, v), False),
    "ArnNotEquals": (lambda v, p: arn_matches(p, v), True),
    "ArnNotLike": (lambda v, p: arn_matches(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
    "NumericEquals": (lambda v, p: _number(v) == _number(p), False),
    "NumericNotEquals": (lambda v, p: _number(v) == _number(p), True),
    "NumericLessThan": (lambda v, p: _number(v) < _number(p), False),
    "NumericLessThanEquals": (lambda v, p: _number(v) <= _number(p), False),
    "NumericGreaterThan": (lambda v, p: _number(v) > _number(p), False),
    "NumericGreaterThanEquals": (lambda v, p: _number(v) >= _number(p), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(
    operator: str, key: str, policy_values: Any, context: Mapping[str, ContextValue]
) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedPolicy(f"condition qualifier {qualifier!r} in {operator!r}")
    found = _lookup(context, key)
    if base == "Null":
        if qualifier:
            raise UnsupportedPolicy(f"{operator!r}: Null takes no set qualifier")
        wants_absent = _as_text(_as_list(policy_values)[0]).lower() == "true"
        return (found is None) == wants_absent
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator!r}")
    compare, negated = _OPERATORS[base]
    try:
        patterns = [_substitute(_as_text(p), context) for p in _as_list(policy_values)]
    except _Unresolved:
        return False
    if not base.startswith(("StringLike", "StringNotLike", "Arn")):
        patterns = [p.translate(_UNLITERAL) for p in patterns]  # no wildcards: literal text
    request_values = [] if found is None else [_as_text(v) for v in _as_list(found)]

    def matches_one(value: str) -> bool:
        hit = any(compare(value, pattern) for pattern in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(matches_one(v) for v in request_values)
    if qualifier == "ForAnyValue":
        return any(matches_one(v) for v in request_values)
    if found is None:
        return if_exists or negated
    # A list value without a set qualifier: a positive operator needs one value to match, a
    # negated one needs every value to miss (NOR), as for several values in the policy.
    return all(matches_one(v) for v in request_values) if negated else any(map(matches_one, request_values))


def conditions_hold(
    condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, ContextValue]
) -> bool:
    """A Condition block: every operator, every key under it (AND); any listed value (OR)."""
    return all(
        _condition_holds(operator, key, values, context)
        for operator, keys in (condition or {}).items()
        for key, values in keys.items()
    )


# -- statements ---------------------------------------------------------------------------------


def _principal_matches(statement: Mapping[str, Any], principal_arn: str | None) -> bool:
    """Principal / NotPrincipal of a resource policy: `*`, an ARN, an account id or root, a service."""
    if "NotPrincipal" in statement:
        return not _principal_listed(statement["NotPrincipal"], principal_arn)
    if "Principal" not in statement:
        return True  # an identity policy's statement: the principal is whoever holds the policy
    return _principal_listed(statement["Principal"], principal_arn)


def _principal_listed(principal: Any, principal_arn: str | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"Principal {principal!r}")
    if principal_arn is None:
        return False
    for kind, values in principal.items():
        for value in _as_list(values):
            if value == "*" or value == principal_arn:
                return True
            if kind == "AWS":
                account = principal_arn.split(":")[4] if principal_arn.count(":") >= 5 else None
                if value in (account, f"arn:{principal_arn.split(':')[1]}:iam::{account}:root"):
                    return True
    return False


def _resource_matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotResource" in statement:
        key, negate = "NotResource", True
    elif "Resource" in statement:
        key, negate = "Resource", False
    else:
        return True  # trust policies name no resource
    try:
        patterns = [_substitute(p, request.context) for p in _as_list(statement[key])]
    except _Unresolved:
        return False
    hit = any(arn_matches(p, request.resource) for p in patterns)
    return not hit if negate else hit


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Action, Resource, Principal and Condition all match the request."""
    if "NotAction" in statement:
        action_hit = not any(action_matches(a, request.action) for a in _as_list(statement["NotAction"]))
    else:
        action_hit = any(action_matches(a, request.action) for a in _as_list(statement["Action"]))
    return (
        action_hit
        and _resource_matches(statement, request)
        and _principal_matches(statement, request.principal_arn)
        and conditions_hold(statement.get("Condition"), request.context)
    )


@dataclass(frozen=True)
class _Match:
    effect: str
    where: str


def _matches(label: str, policies: Iterable[Mapping[str, Any]], request: Request) -> list[_Match]:
    found = []
    for index, policy in enumerate(policies):
        for number, statement in enumerate(_as_list(policy.get("Statement", []))):
            if statement["Effect"] not in ("Allow", "Deny"):
                raise UnsupportedPolicy(f"Effect {statement['Effect']!r}")
            if statement_applies(statement, request):
                name = statement.get("Sid") or f"#{number}"
                where = (
                    f"{label}[{index}] statement {name}"
                    if label == "identity policy"
                    else f"{label} statement {name}"
                )
                found.append(_Match(statement["Effect"], where))
    return found


def evaluate(
    request: Request,
    identity_policies: Sequence[Mapping[str, Any]],
    *,
    boundary: Mapping[str, Any] | None = None,
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """AWS's same-account decision for `request`, and the statement that made it."""
    identity = _matches("identity policy", identity_policies, request)
    bounds = _matches("permissions boundary", [boundary], request) if boundary is not None else []
    resource = _matches("resource policy", [resource_policy], request) if resource_policy is not None else []
    for match in (*identity, *bounds, *resource):
        if match.effect == "Deny":
            return Decision(False, f"explicit deny: {match.where}")
    identity_allow = next((m for m in identity if m.effect == "Allow"), None)
    resource_allow = next((m for m in resource if m.effect == "Allow"), None)
    boundary_allow = next((m for m in bounds if m.effect == "Allow"), None)
    if identity_allow is None and resource_allow is None:
        return Decision(False, f"implicit deny: no statement allows {request.action} on {request.resource}")
    granted_by = identity_allow or resource_allow
    assert granted_by is not None
    if boundary is not None and boundary_allow is None:
        return Decision(
            False,
            f"implicit deny: the permissions boundary does not allow {request.action}"
            f" ({granted_by.where} would allow it)",
        )
    suffix = f", within {boundary_allow.where}" if boundary_allow is not None else ""
    return Decision(True, f"allowed by {granted_by.where}{suffix}")
