"""cdk-nag: the findings that failed (validation-report.json) and every acknowledgement (metadata.json).

A finding is reported by construct path; an acknowledgement sits on a construct and silences
that finding id for everything below it, so each is listed with the CloudFormation resources
under that construct: what the reason has to justify. A reason that speaks of "own" resources
while the wildcard it accepts reaches resources of others (`report-group/*`, `Resource::*`) is
marked for the reviewer (`ownClaimWildcards`): the words and the grant disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tools.common.assembly import Assembly, Resource, Stack
from tools.common.intrinsics import render_list

ACK_TYPE = "aws:cdk:acknowledged-rules"
REPORT_FILE = "validation-report.json"
OWN_CLAIM = re.compile(r"\bown\b", re.IGNORECASE)
# cdk-nag's IAM5 ids name the wildcard: [Resource::<Bucket1234.Arn>/*] or [Action::s3:Get*].
_NAMED_WILDCARD = re.compile(r"\[(Resource|Action)::(.*)\]$")
_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role")


def findings(assembly: Assembly) -> list[dict[str, Any]]:
    """Every entry of the validation report: cdk-nag's packs and CDK's own annotations."""
    report_file = assembly.directory / REPORT_FILE
    if not report_file.is_file():
        # No report at all means validation did not run; the caller says so (see `validation_ran`).
        return []
    report = json.loads(report_file.read_text(encoding="utf-8"))
    found = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                path = str(construct.get("constructPath", ""))
                stack = assembly.stack_of(path)
                resource = stack.resource_at(path) if stack else None
                rule = str(violation.get("ruleName", ""))
                found.append(
                    {
                        "stage": stack.stage if stack else "",
                        "stack": stack.stack_name if stack else "",
                        "pack": str(plugin.get("pluginName", "")),
                        "rule": rule,
                        "severity": str(violation.get("severity", "error")),
                        "constructPath": path,
                        "construct": (stack.relative_path(path) if stack else path) or path,
                        "logicalId": resource.logical_id if resource else "",
                        "resourceType": resource.type if resource else "",
                        "description": str(violation.get("description", "")),
                        "key": f"{rule} @ {path}",
                    }
                )
    return sorted(found, key=lambda f: (f["severity"] != "error", f["constructPath"], f["rule"]))


def validation_ran(assembly: Assembly) -> bool:
    return (assembly.directory / REPORT_FILE).is_file()


def acknowledgements(assembly: Assembly) -> list[dict[str, Any]]:
    found = []
    for stack in assembly.stacks:
        for path, entries in stack.metadata.items():
            for entry in entries:
                if entry.get("type") != ACK_TYPE:
                    continue
                for key, reason in _as_items(entry.get("data")):
                    found.append(_acknowledgement(stack, path, key, reason))
    return sorted(found, key=lambda a: (a["constructPath"], a["findingId"]))


def _acknowledgement(stack: Stack, path: str, key: str, reason: Any) -> dict[str, Any]:
    finding_id = finding_id_of(key)
    construct_path = path.lstrip("/")
    under = stack.resources_under(construct_path)
    covers = [
        {"logicalId": r.logical_id, "type": r.type, "path": stack.relative_path(r.path) or r.logical_id}
        for r in under
    ]
    return {
        "stage": stack.stage,
        "stack": stack.stack_name,
        "findingId": finding_id,
        "pack": finding_id.split("-", 1)[0] if "-" in finding_id else "",
        "rule": finding_id.split("[", 1)[0],
        "constructPath": construct_path,
        "construct": stack.relative_path(construct_path) or construct_path,
        "covers": covers,
        "reason": reason if isinstance(reason, str) else json.dumps(reason),
        "ownClaimWildcards": own_claim_wildcards(stack, finding_id, reason, under),
        "key": f"{finding_id} @ {construct_path}",
    }


def own_claim_wildcards(stack: Stack, finding_id: str, reason: Any, under: list[Resource]) -> list[str]:
    """The wildcards over others' resources that an acknowledgement speaking of "own" ones accepts.

    The accepted wildcard is the finding id's `Resource::...`; for an `Action::...` id (or any
    other rule) it is the resources of the Allow statements below the construct that grant it.
    """
    if not isinstance(reason, str) or not OWN_CLAIM.search(reason):
        return []
    named = _NAMED_WILDCARD.search(finding_id)
    if named and named.group(1) == "Resource":
        candidates = [named.group(2)]
    else:
        action = named.group(2) if named else None
        candidates = [
            resource
            for statement in _allow_statements(under)
            if action is None or action in render_list(statement.get("Action", []), stack.name_of)
            for resource in render_list(statement.get("Resource", []), stack.name_of)
        ]
    return [c for c in dict.fromkeys(candidates) if reaches_others(c)]


def reaches_others(resource: str) -> bool:
    """A wildcard not anchored to one of the stack's resources: nothing of ours comes before its `*`.

    `<ArtifactBucket.Arn>/*` and `.../report-group/<Project>-*` stay within a resource of the
    stack; `*`, `arn:...:report-group/*` and `...:log-group:/aws/codebuild/*` reach everyone's.
    Pseudo parameters (`<AWS::AccountId>` in cdk-nag's ids, `${AWS::AccountId}`) anchor nothing.
    """
    if "*" not in resource:
        return False
    before = resource.split("*", 1)[0]
    return not [ref for ref in re.findall(r"<([^>]+)>", before) if not ref.startswith("AWS::")]


def _allow_statements(resources: list[Resource]) -> list[dict[str, Any]]:
    documents = []
    for resource in resources:
        if resource.type not in _POLICY_TYPES:
            continue
        if resource.type == "AWS::IAM::Role":
            documents += [p.get("PolicyDocument") for p in resource.properties.get("Policies", []) or []]
        else:
            documents.append(resource.properties.get("PolicyDocument"))
    statements = []
    for document in documents:
        found = (document or {}).get("Statement", []) if isinstance(document, dict) else []
        statements += [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]
    return [s for s in statements if s.get("Effect", "Allow") == "Allow"]


def finding_id_of(key: str) -> str:
    """`Annotation::AwsSolutions-IAM5[Resource::*]` -> `AwsSolutions-IAM5[Resource::*]`.

    CDK stores an acknowledgement under `<source>::<id>`; the id itself may contain `::`
    inside its brackets, so only a bracket-free prefix is the source.
    """
    source, separator, rest = key.partition("::")
    return rest if separator and "[" not in source else key


def _as_items(data: Any) -> list[tuple[str, Any]]:
    entries = data if isinstance(data, list) else [data]
    return [(str(k), v) for entry in entries if isinstance(entry, dict) for k, v in entry.items()]
