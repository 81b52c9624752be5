"""CloudFormation's intrinsic functions, evaluated in one place for every tool that reads a template.

`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select` (over a list or an `Fn::Split`) and the
pseudo parameters. The evaluation is the same for every reader; what a name stands for is the
reader's `Policy`, passed in:

- `Placeholders`: a reviewer's reading. `{"Fn::GetAtt": ["UploadBucketD2C1DA78", "Arn"]}` reads
  `<UploadBucket.Arn>`, a pseudo parameter `${AWS::AccountId}`; what is not evaluated stays visible
  as `Fn::X(...)`, so a reviewer never sees less than the template says. Never fails.
- `Deployed`: concrete values in one account and region, from the physical names CloudFormation
  gave (the rehearsal reads them back from the emulator; local mode names its own resources).
- the IAM checks' `tools.review_kit.iam.arns.Template`: the names and ARNs CloudFormation will
  give, before anything exists.

`resolve` gives one string and raises `Unresolved` when the policy has no value; `resolve_tree`
resolves every intrinsic in a property tree and keeps, as written, one the policy cannot resolve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# A template value: JSON as json.loads returns it (str, number, bool, None, list, dict).
TemplateValue = Any
NameOf = Callable[[str], str]  # logical id -> the name a reader knows it by

_SUB_NAME = re.compile(r"\$\{([^}!]+)\}")
URL_SUFFIX = "amazonaws.com"


class Unresolved(ValueError):
    """A value the policy cannot give: the caller fails, or keeps the intrinsic as written."""


class Policy:
    """What the names in a template stand for. The defaults resolve nothing."""

    def pseudo(self, name: str) -> str | None:
        """`AWS::AccountId` and friends; None if `name` is no pseudo parameter this policy knows."""
        return None

    def ref(self, logical_id: str) -> str:
        raise Unresolved(f"no value for Ref {logical_id}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        raise Unresolved(f"no value for Fn::GetAtt {logical_id}.{attribute}")

    def sub_variable(self, name: str) -> str:
        """`${name}` in an Fn::Sub string that the function's own variable map does not give."""
        pseudo = self.pseudo(name)
        if pseudo is not None:
            return pseudo
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return self.ref(name)

    def split(self, separator: str, text: str) -> list[str] | None:
        """Fn::Split's parts; None where the text is no real value (a placeholder has no parts)."""
        return text.split(separator)

    def other(self, value: TemplateValue) -> str:
        """A value that is no intrinsic evaluated here (a list, an object, Fn::ImportValue)."""
        raise Unresolved(f"cannot resolve {value!r}")


@dataclass(frozen=True)
class Account:
    """Where a stack is deployed: the values of the pseudo parameters."""

    account: str
    region: str
    partition: str = "aws"
    stack_name: str | None = None

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack_name,
        }.get(name)


@dataclass(frozen=True)
class Deployed(Policy):
    """Concrete values: Ref is the physical name (a logical id with none stays itself),
    Fn::GetAtt Arn is built from it for the types whose ARN a deployed reader needs."""

    where: Account
    physical: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)  # logical id -> resource type
    attributes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (id, attribute) -> value

    def pseudo(self, name: str) -> str | None:
        return self.where.pseudo(name)

    def ref(self, logical_id: str) -> str:
        return self.physical.get(logical_id, logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[logical_id, attribute]
        name, w = self.ref(logical_id), self.where
        arns = {
            "AWS::IAM::Role": f"arn:{w.partition}:iam::{w.account}:role/{name}",
            "AWS::Lambda::Function": f"arn:{w.partition}:lambda:{w.region}:{w.account}:function:{name}",
            "AWS::CodeBuild::ReportGroup": (
                f"arn:{w.partition}:codebuild:{w.region}:{w.account}:report-group/{name}"
            ),
        }
        resource_type = self.types.get(logical_id, "")
        if attribute == "Arn" and resource_type in arns:
            return arns[resource_type]
        return f"{name}.{attribute}"


@dataclass(frozen=True)
class Placeholders(Policy):
    """A reviewer's reading: a resource by its construct name, pseudo parameters as `${AWS::X}`."""

    name_of: NameOf

    def pseudo(self, name: str) -> str | None:
        return f"${{{name}}}" if name.startswith("AWS::") else None

    def ref(self, logical_id: str) -> str:
        return f"<{self.name_of(logical_id)}>"

    def get_att(self, logical_id: str, attribute: str) -> str:
        return f"<{self.name_of(logical_id)}.{attribute}>"

    def sub_variable(self, name: str) -> str:
        return f"${{{name}}}"  # the Fn::Sub text as written

    def split(self, separator: str, text: str) -> list[str] | None:
        return None

    def other(self, value: TemplateValue) -> str:
        if isinstance(value, list):
            return ", ".join(resolve(item, self) for item in value)
        if isinstance(value, Mapping) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Fn::ImportValue":
                return f"<import {resolve(argument, self)}>"
            if function.startswith("Fn::"):
                parts = argument if isinstance(argument, list) else [argument]
                return f"{function}({', '.join(resolve(part, self) for part in parts)})"
        return json.dumps(value, sort_keys=True)


def resolve(value: TemplateValue, policy: Policy) -> str:
    """A template value as one string, its intrinsics evaluated under `policy`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        evaluate = _FUNCTIONS.get(function)
        if evaluate is not None:
            resolved = evaluate(argument, policy)
            if resolved is not None:
                return resolved
    return policy.other(value)


def resolve_tree(value: TemplateValue, policy: Policy) -> TemplateValue:
    """Properties with every intrinsic evaluated; one the policy cannot resolve stays as written."""
    if isinstance(value, list):
        return [resolve_tree(item, policy) for item in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) == 1 and next(iter(value)) in _FUNCTIONS:
        try:
            return resolve(value, policy)
        except Unresolved:
            pass
    return {key: resolve_tree(item, policy) for key, item in value.items()}


def references(value: TemplateValue, logical_ids: Mapping[str, Any]) -> Iterator[str]:
    """The logical ids (keys of `logical_ids`) a value refers to: Ref, Fn::GetAtt, `${Id}` in Fn::Sub."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str) and item in logical_ids:
                yield item
            elif key == "Fn::GetAtt":
                logical_id = item[0] if isinstance(item, list) else item.split(".", 1)[0]
                if logical_id in logical_ids:
                    yield logical_id
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                for name in _SUB_NAME.findall(text):
                    if name.split(".", 1)[0] in logical_ids:
                        yield name.split(".", 1)[0]
                if not isinstance(item, str):
                    yield from references(item[1], logical_ids)
            else:
                yield from references(item, logical_ids)
    elif isinstance(value, list):
        for item in value:
            yield from references(item, logical_ids)


# -- the functions: each returns None for an argument it does not understand (policy.other decides) --


def _ref(argument: TemplateValue, policy: Policy) -> str | None:
    if not isinstance(argument, str):
        return None
    pseudo = policy.pseudo(argument)
    return pseudo if pseudo is not None else policy.ref(argument)


def _get_att(argument: TemplateValue, policy: Policy) -> str | None:
    if isinstance(argument, str):
        logical_id, _, attribute = argument.partition(".")
        return policy.get_att(logical_id, attribute)
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        return policy.get_att(argument[0], resolve(argument[1], policy))
    return None


def _join(argument: TemplateValue, policy: Policy) -> str | None:
    if not (isinstance(argument, list) and len(argument) == 2):
        return None
    separator, parts = argument
    items = _list(parts, policy)
    return None if items is None else str(separator).join(resolve(part, policy) for part in items)


def _sub(argument: TemplateValue, policy: Policy) -> str | None:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    if not (isinstance(text, str) and isinstance(variables, Mapping)):
        return None

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return resolve(variables[name], policy) if name in variables else policy.sub_variable(name)

    return _SUB_NAME.sub(substitute, text)


def _select(argument: TemplateValue, policy: Policy) -> str | None:
    if not (isinstance(argument, list) and len(argument) == 2):
        return None
    index, items = argument
    position = resolve(index, policy) if isinstance(index, int | str | Mapping) else ""
    chosen = _list(items, policy)
    if chosen is None or not position.isdigit() or int(position) >= len(chosen):
        return None
    return resolve(chosen[int(position)], policy)


def _list(value: TemplateValue, policy: Policy) -> list[TemplateValue] | None:
    """A list argument: a list as written, or the parts of an Fn::Split."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping) and len(value) == 1 and "Fn::Split" in value:
        argument = value["Fn::Split"]
        if isinstance(argument, list) and len(argument) == 2:
            return policy.split(str(argument[0]), resolve(argument[1], policy))
    return None


_FUNCTIONS: dict[str, Callable[[TemplateValue, Policy], str | None]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::Select": _select,
}


def render(value: TemplateValue, name_of: NameOf) -> str:
    """A value as a reviewer reads it (`Placeholders`)."""
    return resolve(value, Placeholders(name_of))


def render_list(value: TemplateValue, name_of: NameOf) -> list[str]:
    """A policy field that may be one value or a list (Action, Resource, a principal) as strings."""
    items = value if isinstance(value, list) else [value]
    return [render(item, name_of) for item in items if item is not None]
