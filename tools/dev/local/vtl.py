"""API Gateway's mapping templates, rendered locally: Velocity (airspeed) plus the `$util` and Java
string methods the templates here use.

airspeed-ext is LocalStack's Velocity engine for AWS templates; what it lacks is added here, each
with the Java semantics API Gateway's Velocity has:

- `$util.escapeJavaScript(s)`: Apache commons-lang 2 `StringEscapeUtils.escapeJavaScript`, as
  AWS documents it (it turns `'` into `\\'`): `"` `'` `\\` `/` get a backslash, \\b \\t \\n \\f \\r
  their short escapes, other characters below U+0020 and every one above U+007E a `\\uXXXX`
  (upper-case hex) per UTF-16 code unit, since Java strings are UTF-16;
- `String.split(regex)`: Java drops trailing empty strings; `endsWith`; `replaceAll` with a
  Java regex (the patterns here are in the common subset of Java's and Python's syntax).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import airspeed
from airspeed import operators

_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_BACKSLASHED = {'"', "'", "\\", "/"}


def escape_javascript(text: Any) -> str:
    """commons-lang 2 `StringEscapeUtils.escapeJavaScript`, on the UTF-16 code units of `text`."""
    text = "" if text is None else str(text)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:  # a Java string holds it as a surrogate pair, escaped unit by unit
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
        elif code > 0x7E:
            out.append(f"\\u{code:04X}")
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20:
            out.append(f"\\u{code:04X}")
        elif char in _BACKSLASHED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _java_split(text: str, regex: str) -> list[str]:
    if text == "":
        return [""]  # Java: "".split(x) is [""]
    parts = re.split(regex, text)
    while parts and parts[-1] == "":  # String.split(regex) drops trailing empty strings
        parts.pop()
    return parts


def _java_replace_all(text: str, regex: str, replacement: str) -> str:
    # Java's replacement syntax ($1, \$) is not used by our templates; a literal is a literal.
    return re.sub(regex, lambda _: replacement, text)


class _JavaString(str):
    """A string whose `split` is Java's: airspeed looks up Python's own methods first."""

    def split(self, regex: str) -> list[str]:  # type: ignore[override]
        return _java_split(str(self), regex)


_STRING_METHODS = operators.__additional_methods__[str]
_STRING_METHODS.update(
    {
        "endsWith": lambda self, suffix: self.endswith(suffix),
        "replaceAll": _java_replace_all,
        "lastIndexOf": lambda self, sub: self.rfind(sub),
        "indexOf": lambda self, sub: self.find(sub),
        "trim": lambda self: self.strip(" \t\n\r\x0b\x0c\x00"),
    }
)
operators.__additional_methods__[_JavaString] = _STRING_METHODS
_airspeed_calculate = operators.NameOrCall.calculate


def _calculate(self: Any, current_object: Any, loader: Any, top_namespace: Any) -> Any:
    if type(current_object) is str:
        current_object = _JavaString(current_object)
    return _airspeed_calculate(self, current_object, loader, top_namespace)


operators.NameOrCall.calculate = _calculate  # type: ignore[method-assign]


class _Util:
    """The part of API Gateway's `$util` the templates use."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:  # the VTL name
        return escape_javascript(text)


@lru_cache(maxsize=16)
def _compiled(template: str) -> airspeed.Template:
    return airspeed.Template(template)


def render(template: str, context: Mapping[str, Any]) -> str:
    """`template` rendered with `$context` = `context` and API Gateway's `$util`."""
    return str(_compiled(template).merge({"context": context, "util": _Util()}))
