"""CloudFormation values as a reviewer reads them.

`{"Fn::Join": ["", [{"Fn::GetAtt": ["UploadBucketD2C1DA78", "Arn"]}, "/uploads/*"]]}` becomes
`<UploadBucket.Arn>/uploads/*`: a resource by its construct name (hash-free), a pseudo parameter
as `${AWS::AccountId}`, joins flattened. Anything else stays visible as `Fn::X(...)` rather than
being dropped, so a reviewer never sees less than the template says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

NameOf = Callable[[str], str]


def render(value: Any, name_of: NameOf) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ", ".join(render(item, name_of) for item in value)
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        rendered = _function(function, argument, name_of)
        if rendered is not None:
            return rendered
    return json.dumps(value, sort_keys=True)


def render_list(value: Any, name_of: NameOf) -> list[str]:
    """A policy field that may be one value or a list (Action, Resource, a principal) as strings."""
    items = value if isinstance(value, list) else [value]
    return [render(item, name_of) for item in items if item is not None]


def _function(function: str, argument: Any, name_of: NameOf) -> str | None:
    if function == "Ref" and isinstance(argument, str):
        return f"${{{argument}}}" if argument.startswith("AWS::") else f"<{name_of(argument)}>"
    if function == "Fn::GetAtt":
        logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
        return f"<{name_of(logical_id)}.{render(attribute, name_of)}>"
    if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        separator, parts = argument
        if isinstance(parts, list):
            return str(separator).join(render(part, name_of) for part in parts)
    if function == "Fn::Sub":
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        for name, replacement in dict(variables).items():
            template = template.replace(f"${{{name}}}", render(replacement, name_of))
        return str(template)
    if function == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
        index, items = argument
        if isinstance(items, list) and isinstance(index, int | str) and str(index).isdigit():
            return render(items[int(index)], name_of)
    if function == "Fn::ImportValue":
        return f"<import {render(argument, name_of)}>"
    if function.startswith("Fn::"):
        parts = argument if isinstance(argument, list) else [argument]
        return f"{function}({', '.join(render(part, name_of) for part in parts)})"
    return None


def has_wildcard(text: str) -> bool:
    """`*` anywhere: `*`, `s3:Get*`, `arn:...:table/*`."""
    return "*" in text
