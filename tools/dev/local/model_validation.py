"""The method's request model, checked as API Gateway's validator checks it, in its wording.

Draft 4 JSON Schema with numbers as exact Decimals and patterns anchored as ECMA 262 anchors them;
each failure worded as java-json-tools' json-schema-validator (what API Gateway runs) words it,
because those messages reach the client through the BAD_REQUEST_BODY gateway response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators


def js_end_anchors(pattern: str) -> str:
    """`pattern` with each unescaped `$` outside a character class rewritten to `\\Z`.

    JSON Schema patterns are ECMA 262 regexes, where `$` (no multiline flag) matches
    only at the end of the input. Python's `$` also matches before a trailing
    newline, so "p-1\\n" would pass `^[A-Za-z0-9._:-]*$` under re.search.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A `]` first in a class (after an optional `^`) is a literal, as in Python's re.
            lookahead = index + 1 + (pattern[index + 1 : index + 2] == "^")
            if pattern[lookahead : lookahead + 1] == "]":
                out.append(pattern[index : lookahead + 1])
                index = lookahead + 1
                continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


def _multiple_of(
    validator: Any, divisor: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """Draft 4 multipleOf on exact Decimals; a quotient too large to compute (1e999999 % 0.01 raises
    InvalidOperation) is not a multiple either: API Gateway answers such a body with a 400, not a 500."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        failed = Decimal(instance) % Decimal(str(divisor)) != 0
    except InvalidOperation:
        failed = True
    if failed:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


_ExactDraft4Validator = validators.extend(Draft4Validator, {"multipleOf": _multiple_of})


def _with_js_anchors(schema: Any) -> Any:
    """A copy of `schema` whose `pattern` keywords use JavaScript's `$`."""
    if isinstance(schema, list):
        return [_with_js_anchors(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _with_js_anchors(value) for key, value in schema.items()}
    if isinstance(copy.get("pattern"), str):
        copy["pattern"] = js_end_anchors(copy["pattern"])
    return copy


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fge_type(value: Any) -> str:
    """The JSON type name the validator API Gateway runs prints (it tells integers apart)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, Decimal) and value == value.to_integral_value()):
        return "integer"
    if isinstance(value, Decimal | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "unknown")


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


# The validator's wording per keyword (java-json-tools json-schema-validator's message bundle).
FGE_MESSAGES = {
    "required": "object has missing required properties ({names})",
    "additionalProperties": "object instance has properties which are not allowed by the schema: {names}",
    "type": "instance type ({found}) does not match any allowed primitive type (allowed: {allowed})",
    "minLength": "string {value} is too short (length: {length}, required minimum: {bound})",
    "maxLength": "string {value} is too long (length: {length}, required maximum: {bound})",
    "pattern": 'ECMA 262 regex "{regex}" does not match input string {value}',
    "minimum": "numeric instance is lower than the required minimum (minimum: {bound}, found: {value})",
    "maximum": "numeric instance is greater than the required maximum (maximum: {bound}, found: {value})",
    "multipleOf": "remainder of division is not zero ({value} / {bound})",
    "enum": "instance value ({value}) not found in enum (possible values: {allowed})",
    "not": "instance matched a schema which it should not",
}


class BodyValidator:
    """The method's model check: Draft 4, numbers as Decimal (multipleOf 0.01 is exact).

    `messages` words each failure as API Gateway's validator (java-json-tools' json-schema-validator)
    does: no field path, one message per failed keyword, all missing properties in one message.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        exact = json.loads(json.dumps(schema), parse_float=Decimal)
        self._validator = _ExactDraft4Validator(_with_js_anchors(exact))
        self._patterns = {js_end_anchors(p): p for p in _all_patterns(exact)}

    def is_valid(self, body: bytes) -> bool:
        return self.messages(body) is None

    def messages(self, body: bytes) -> list[str] | None:
        """None if `body` passes the model, else the validator's messages."""
        try:
            document = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; RecursionError: nested deeper
        # than the parser's stack (API Gateway's validator refuses such a body with a 400 too).
        except (ValueError, RecursionError):
            return ["instance is not valid JSON"]
        errors = sorted(self._validator.iter_errors(document), key=lambda e: (list(e.path), e.validator))
        if not errors:
            return None
        return list(self._worded(errors))

    def _worded(self, errors: list[ValidationError]) -> Iterator[str]:
        missing: dict[tuple[Any, ...], list[str]] = {}
        for error in errors:
            if error.validator == "required":
                missing.setdefault(tuple(error.path), []).extend(
                    name for name in error.validator_value if name not in error.instance
                )
        reported: set[tuple[Any, ...]] = set()
        for error in errors:
            keyword, value, bound = error.validator, error.instance, error.validator_value
            if keyword == "required":
                path = tuple(error.path)
                if path not in reported:
                    reported.add(path)
                    names = sorted(set(missing[path]))
                    yield FGE_MESSAGES[keyword].format(names=_json_text(names))
            elif keyword == "additionalProperties":
                extra = sorted(set(value) - set(error.schema.get("properties", {})))
                yield FGE_MESSAGES[keyword].format(names=_json_text(extra))
            elif keyword == "type":
                allowed = [bound] if isinstance(bound, str) else list(bound)
                yield FGE_MESSAGES[keyword].format(found=_fge_type(value), allowed=_json_text(allowed))
            elif keyword in ("minLength", "maxLength"):
                yield FGE_MESSAGES[keyword].format(value=_json_text(value), length=len(value), bound=bound)
            elif keyword == "pattern":
                original = self._patterns.get(bound, bound)
                yield FGE_MESSAGES[keyword].format(regex=original, value=_json_text(value))
            elif keyword in ("minimum", "maximum", "multipleOf"):
                yield FGE_MESSAGES[keyword].format(bound=bound, value=value)
            elif keyword == "enum":
                yield FGE_MESSAGES[keyword].format(value=_json_text(value), allowed=_json_text(bound))
            elif keyword == "not":
                yield FGE_MESSAGES[keyword]
            else:
                yield f"instance failed the {keyword!r} keyword"


def _all_patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            yield schema["pattern"]
        for value in schema.values():
            yield from _all_patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _all_patterns(item)


def validation_error_string(messages: list[str]) -> str:
    """`$context.error.validationErrorString`: the validator's messages as a Java list prints."""
    return "[" + ", ".join(messages) + "]"
