"""Is every IAM statement of a synthesized app (and of bootstrap/) one AWS would act on?

For each statement of every policy in a template (roles' inline policies, AWS::IAM::Policy and
ManagedPolicy documents, bucket, key and topic policies, Lambda permissions) and each policy
file given: every action exists in the service authorization reference (a wildcard action
must match at least one), and every resource can be of a type the reference lists for that
action (tools.review_kit.iam.reference.pattern_fits_format: `function:NAME:live` is a function alias, not
the function lambda:GetAlias acts on; `arn:aws:codeconnections:...` is not a resource of
`codestar-connections:`). An action that supports no resource-level permissions needs `*`.
A statement that fails this grants (or denies) nothing for that action: IAM matches it to no
request, so the permission it was written for is missing.

Not checked: NotAction/NotResource statements (beyond their actions existing) and trust
policies' resources (they have none).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy_sentry.querying.actions import get_actions_for_service

from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.evaluator import action_matches
from tools.review_kit.iam.reference import action_info, pattern_fits_format


@dataclass(frozen=True)
class Finding:
    where: str  # "Dev-UploadApi/DeploymentServiceRole806EBC5E ShiftTheLiveAlias"
    action: str
    resource: str
    problem: str


# Where each resource type keeps its policy documents.
_DOCUMENTS: dict[str, tuple[str, ...]] = {
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::KMS::Key": ("KeyPolicy",),
}


@functools.cache
def _service_actions(service: str) -> tuple[str, ...]:
    try:
        return tuple(get_actions_for_service(service))
    except Exception:  # policy_sentry raises bare exceptions for unknown services
        return ()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_statement(where: str, statement: Mapping[str, Any]) -> Iterator[Finding]:
    """The findings for one resolved statement."""
    actions = _as_list(statement.get("Action", statement.get("NotAction", [])))
    resources = _as_list(statement.get("Resource", "*"))
    check_resources = "Action" in statement and "Resource" in statement
    for action in actions:
        if action == "*":
            continue
        service = action.partition(":")[0].lower()
        if "*" in action or "?" in action:
            matched = [a for a in _service_actions(service) if action_matches(action, a)]
            if not matched:
                yield Finding(where, action, "", "no action of the service matches this wildcard")
            elif check_resources and not any(_fits(a, r) for a in matched for r in resources):
                yield Finding(
                    where, action, ", ".join(resources), "no matching action acts on these resources"
                )
            continue
        info = action_info(action)
        if info is None:
            yield Finding(where, action, "", "not an action of the service authorization reference")
            continue
        if not check_resources:
            continue
        # The statement acts for this action if one of its resources can be of the action's
        # types (CDK lists a bucket and its objects in one statement for several actions).
        if info.wildcard_only and "*" not in resources:
            yield Finding(
                where, action, ", ".join(resources), "supports no resource-level permissions: needs '*'"
            )
        elif not any(_fits(info.action, resource) for resource in resources):
            formats = " or ".join(info.formats)
            yield Finding(
                where, action, ", ".join(resources), f"not a resource of this action (reference: {formats})"
            )


def _fits(action: str, resource: str) -> bool:
    info = action_info(action)
    if info is None:
        return False
    if info.wildcard_only or resource == "*":
        return resource == "*"
    return any(pattern_fits_format(resource, f) for f in info.formats)


def check_policy(where: str, document: Mapping[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    for number, statement in enumerate(_as_list(document.get("Statement", []))):
        name = statement.get("Sid") or f"#{number}"
        findings.extend(check_statement(f"{where} {name}", statement))
    return list(dict.fromkeys(findings))


def template_policies(template: Mapping[str, Any], env: Env) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, resolved policy document) for every permission policy in a template."""
    model = Template(template, env)
    for logical_id, resource in model.resources.items():
        props = resource.get("Properties", {})
        where = f"{env.stack_name}/{logical_id}"
        for key in _DOCUMENTS.get(resource["Type"], ()):
            if key in props:
                yield where, resolve_document(model, props[key])
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield f"{where} {policy['PolicyName']}", resolve_document(model, policy["PolicyDocument"])
        if resource["Type"] == "AWS::Lambda::Permission":
            statement = {
                "Effect": "Allow",
                "Action": props["Action"],
                "Resource": model.resolve(props["FunctionName"]),
            }
            yield where, {"Statement": [statement]}


def resolve_document(model: Template, value: Any) -> Any:
    """A policy document with every intrinsic function evaluated."""
    if isinstance(value, list):
        return [resolve_document(model, item) for item in value]
    if isinstance(value, Mapping):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return model.resolve(value)
        return {key: resolve_document(model, item) for key, item in value.items()}
    return value


def check_template(template: Mapping[str, Any], env: Env) -> list[Finding]:
    findings: list[Finding] = []
    for where, document in template_policies(template, env):
        findings.extend(check_policy(where, document))
    return findings
