"""A small IAM policy evaluator: one request against identity policies, a boundary, a resource policy.

Why our own: no maintained PyPI package evaluates conditions offline (policyuniverse and
parliament parse and match actions only; principalmapper's simulator was last released in 2022).
The maintained npm simulator @cloud-copilot/iam-simulate is AGPL-3.0 and would add a Node
dependency to the Python test suite, so it is not a test oracle here. Only the parts this project's
policies use are implemented; anything else raises `UnsupportedPolicy` instead of guessing.

Documented behaviour implemented (IAM User Guide: "Policy evaluation logic", "Cross-account policy
evaluation logic", "Condition operators", "Permissions boundaries", "Principal", "NotPrincipal";
KMS Developer Guide: "Key policies"):
- An explicit Deny in any policy wins; without an Allow the answer is the implicit deny.
- Identity policies and the permissions boundary: both must allow (the intersection). A resource
  policy's grant to a role is limited by the boundary too; one naming the session itself is not.
- Same account: a resource policy naming the principal (its ARN, its role, `*`) grants on its
  own; one naming the account (id or `:root`) delegates to the identity policies. KMS: the key
  policy must allow, directly or by naming the account. Across accounts both sides must allow.
- NotPrincipal with Deny applies to any principal with a boundary. A role ARN names its sessions;
  aws:PrincipalArn and aws:PrincipalAccount are derived from the principal when not given.
- Action/NotAction: case-insensitive, `*` and `?` wildcards. Resource/NotResource: case-
  sensitive, wildcards within each of the first five ARN segments and across the rest.
- Condition: operators AND, keys AND, values OR (NOR for negated operators). A key missing
  from the request: false, except negated operators (true), `...IfExists` (true), `Null`.
  `ForAllValues:` is true for a missing key or empty set; `ForAnyValue:` false. A value that is
  not a number (or an address) matches no numeric (or IP) condition. Key names are
  case-insensitive; policy variables `${key}` come from the request context, and a variable
  without a value makes that element not match.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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


# Cached: a coverage run matches a few hundred patterns against tens of thousands of actions and ARNs.
@functools.lru_cache(maxsize=8192)
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

    try:
        if qualifier == "ForAllValues":
            return all(matches_one(v) for v in request_values)
        if qualifier == "ForAnyValue":
            return any(matches_one(v) for v in request_values)
        if found is None:
            return if_exists or negated
        # A list value without a set qualifier: a positive operator needs one value to match, a
        # negated one needs every value to miss (NOR), as for several values in the policy.
        return all(map(matches_one, request_values)) if negated else any(map(matches_one, request_values))
    except ValueError:  # not a number (Numeric*) or not an address (IpAddress): no match, no error
        return False


def conditions_hold(
    condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, ContextValue]
) -> bool:
    """A Condition block: every operator, every key under it (AND); any listed value (OR)."""
    return all(
        _condition_holds(operator, key, values, context)
        for operator, keys in (condition or {}).items()
        for key, values in keys.items()
    )


# -- principals ---------------------------------------------------------------------------------

_ACCOUNT_ID = re.compile(r"\d{12}")
_ROLE = re.compile(r"arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)")
_SESSION = re.compile(r"arn:(?P<partition>[^:]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/[^/]+")


@dataclass(frozen=True)
class _Who:
    """Who makes the request: its ARN, account, and (for a role or one of its sessions) the role."""

    arn: str
    account: str | None
    partition: str
    role_name: str | None
    is_session: bool

    @classmethod
    def of(cls, arn: str) -> _Who:
        for pattern, is_session in ((_ROLE, False), (_SESSION, True)):
            found = pattern.fullmatch(arn)
            if found:
                return cls(arn, found["account"], found["partition"], found["name"], is_session)
        parts = arn.split(":")
        account = parts[4] if len(parts) > 5 and _ACCOUNT_ID.fullmatch(parts[4]) else None
        return cls(arn, account, parts[1] if len(parts) > 5 else "aws", None, False)

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: for an assumed-role session, the role's ARN (IAM User Guide, global keys);
        a session ARN carries no role path."""
        role = f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}"
        return role if self.is_session else self.arn


def _names(value: str, who: _Who) -> str | None:
    """How a Principal value names `who`: "direct" (everyone, its ARN, its role), "account", or None."""
    if value == who.arn and who.is_session:
        return "session"
    if value in ("*", who.arn):
        return "direct"
    if who.role_name is not None:
        role = _ROLE.fullmatch(value)
        if role and role["account"] == who.account and role["name"] == who.role_name:
            return "direct"  # a role names every session of that role (IAM User Guide, Principal)
    if who.account is not None and value in (who.account, f"arn:{who.partition}:iam::{who.account}:root"):
        return "account"
    return None


def _principal_listed(principal: Any, who: _Who | None) -> str | None:
    if principal == "*":
        return "direct"
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"Principal {principal!r}")
    if who is None:
        return None
    kinds = {_names(value, who) for values in principal.values() for value in _as_list(values)}
    return next((kind for kind in ("session", "direct", "account") if kind in kinds), None)


def _principal_kind(statement: Mapping[str, Any], who: _Who | None, *, bounded: bool) -> str | None:
    """Whether a statement's Principal / NotPrincipal applies to `who`, and how it names it."""
    if "NotPrincipal" in statement:
        # A Deny with NotPrincipal "will always deny any IAM principal that has a permissions boundary
        # policy attached, regardless of the values specified" (IAM User Guide, Permissions boundaries).
        if bounded and statement["Effect"] == "Deny":
            return "direct"
        return None if _principal_listed(statement["NotPrincipal"], who) else "direct"
    if "Principal" not in statement:
        return "direct"  # an identity policy's statement: the principal is whoever holds the policy
    return _principal_listed(statement["Principal"], who)


# -- statements ---------------------------------------------------------------------------------


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


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(action_matches(a, action) for a in _as_list(statement["NotAction"]))
    return any(action_matches(a, action) for a in _as_list(statement["Action"]))


def _applies(
    statement: Mapping[str, Any], request: Request, who: _Who | None, *, bounded: bool
) -> str | None:
    if not (_action_matches(statement, request.action) and _resource_matches(statement, request)):
        return None
    kind = _principal_kind(statement, who, bounded=bounded)
    if kind is None or not conditions_hold(statement.get("Condition"), request.context):
        return None
    return kind


@dataclass(frozen=True)
class _Match:
    effect: str
    where: str
    kind: str = "direct"  # for a resource policy: "direct" (names the principal) or "account"


def _matches(
    label: str, policies: Iterable[Mapping[str, Any]], request: Request, who: _Who | None, *, bounded: bool
) -> list[_Match]:
    found = []
    for index, policy in enumerate(policies):
        for number, statement in enumerate(_as_list(policy.get("Statement", []))):
            if statement["Effect"] not in ("Allow", "Deny"):
                raise UnsupportedPolicy(f"Effect {statement['Effect']!r}")
            kind = _applies(statement, request, who, bounded=bounded)
            if kind is not None:
                policy_name = f"{label}[{index}]" if label == "identity policy" else label
                where = f"{policy_name} statement {statement.get('Sid') or f'#{number}'}"
                found.append(_Match(statement["Effect"], where, kind))
    return found


# -- the decision -------------------------------------------------------------------------------


def _with_principal_keys(request: Request, who: _Who | None) -> Request:
    """aws:PrincipalArn and aws:PrincipalAccount from the principal, where the context lacks them."""
    if who is None:
        return request
    derived = {"aws:PrincipalArn": who.principal_arn, "aws:PrincipalAccount": who.account}
    missing = {k: v for k, v in derived.items() if v is not None and _lookup(request.context, k) is None}
    return replace(request, context={**request.context, **missing}) if missing else request


def _resource_account(request: Request) -> str | None:
    """aws:ResourceAccount if given, else the ARN's account field (S3 ARNs have none: unknown)."""
    given = _lookup(request.context, "aws:ResourceAccount")
    if isinstance(given, str):
        return given
    parts = request.resource.split(":")
    return parts[4] if len(parts) > 5 and _ACCOUNT_ID.fullmatch(parts[4]) else None


def _gate(request: Request) -> str | None:
    """The resource policy that must itself allow: a KMS key's key policy, a role's trust policy."""
    action = request.action.lower()
    if action.startswith("kms:") and ":key/" in request.resource:
        return "key policy"
    return "trust policy" if action.startswith("sts:assumerole") and ":role/" in request.resource else None


def evaluate(
    request: Request,
    identity_policies: Sequence[Mapping[str, Any]],
    *,
    boundary: Mapping[str, Any] | None = None,
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """AWS's decision for `request`, and the statement that made it.

    Same account when the resource's account (aws:ResourceAccount, or the ARN's) is unknown or the
    principal's. `resource_policy=None` means the resource has none; for a KMS key of the same
    account it means the key policy was not given and is taken to enable IAM policies (as the
    default key policy does), which the reason then says.
    """
    who = _Who.of(request.principal_arn) if request.principal_arn else None
    request = _with_principal_keys(request, who)
    bounded = boundary is not None
    identity = _matches("identity policy", identity_policies, request, who, bounded=bounded)
    bounds = _matches("permissions boundary", [boundary] if boundary else [], request, who, bounded=bounded)
    resource = _matches(
        "resource policy", [resource_policy] if resource_policy else [], request, who, bounded=bounded
    )
    for match in (*identity, *bounds, *resource):
        if match.effect == "Deny":
            return Decision(False, f"explicit deny: {match.where}")
    identity_allow = next((m for m in identity if m.effect == "Allow"), None)
    boundary_allow = next((m for m in bounds if m.effect == "Allow"), None)
    session = next((m for m in resource if m.effect == "Allow" and m.kind == "session"), None)
    direct = next((m for m in resource if m.effect == "Allow" and m.kind in ("session", "direct")), None)
    delegated = next((m for m in resource if m.effect == "Allow" and m.kind == "account"), None)
    if bounded and boundary_allow is None:
        # The boundary's implicit deny limits the identity policies and a resource policy's grant to
        # the role; a same-account grant naming the role session itself is not limited (IAM User
        # Guide, "Policy evaluation for requests within a single account").
        if session is not None and not _crosses_accounts(request, who):
            return Decision(True, f"allowed by {session.where}")
        granted = identity_allow or direct
        if granted is None:
            return Decision(
                False, f"implicit deny: no statement allows {request.action} on {request.resource}"
            )
        return Decision(
            False,
            f"implicit deny: the permissions boundary does not allow {request.action}"
            f" ({granted.where} would allow it)",
        )
    within = f", within {boundary_allow.where}" if boundary_allow is not None else ""
    return _decide(
        request, who, identity_allow, direct, delegated, within, has_resource_policy=bool(resource_policy)
    )


def _crosses_accounts(request: Request, who: _Who | None) -> bool:
    resource_account = _resource_account(request)
    return who is not None and None not in (who.account, resource_account) and who.account != resource_account


def _decide(
    request: Request,
    who: _Who | None,
    identity_allow: _Match | None,
    direct: _Match | None,
    delegated: _Match | None,
    within: str,
    *,
    has_resource_policy: bool,
) -> Decision:
    """The allow rules once no Deny applies and the boundary has been checked for the identity side."""
    nothing = f"implicit deny: no statement allows {request.action} on {request.resource}"
    resource_allow = direct or delegated
    if _crosses_accounts(request, who):
        # IAM User Guide, "Cross-account policy evaluation logic": both sides must allow.
        if identity_allow is None:
            reason = f"{resource_allow.where} allows, but " if resource_allow else ""
            return Decision(
                False, f"implicit deny: {reason}no identity policy allows {request.action} across accounts"
            )
        if resource_allow is None:
            return Decision(
                False,
                f"implicit deny: the resource's account ({_resource_account(request)}) has no resource policy"
                f" statement allowing {request.action} ({identity_allow.where} would allow it)",
            )
        return Decision(True, f"allowed by {identity_allow.where}{within} and {resource_allow.where}")
    gate = _gate(request)
    if gate and has_resource_policy:
        # KMS Developer Guide, "Key policies in AWS KMS" (and a role's trust policy likewise): without
        # its permission IAM allows have no effect; naming the account root enables them.
        if direct is not None:
            return Decision(True, f"allowed by {direct.where}")
        if delegated is not None and identity_allow is not None:
            return Decision(True, f"allowed by {identity_allow.where}{within}, enabled by {delegated.where}")
        would = f" ({identity_allow.where} would allow it)" if identity_allow else ""
        return Decision(False, f"implicit deny: the {gate} does not allow {request.action}{would}")
    if identity_allow is not None:
        note = f" (the {gate} not given: taken to enable IAM policies)" if gate else ""
        return Decision(True, f"allowed by {identity_allow.where}{within}{note}")
    if direct is not None:
        return Decision(True, f"allowed by {direct.where}")
    if delegated is not None:
        return Decision(
            False, f"implicit deny: {delegated.where} names the account; no identity policy allows"
        )
    return Decision(False, nothing)
