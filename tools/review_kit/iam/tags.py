"""The tags a CloudFormation handler call carries, as IAM sees them: aws:ResourceTag/* (the tags of
what it acts on) and aws:RequestTag/* with aws:TagKeys (the tags it sets).

Most services: a call on an existing resource carries the tags of the resource the ARN belongs to;
the call that creates the resource (the own service's Create*) and tagging calls carry the
resource's template tags in the request (all services here tag at creation).

API Gateway, as the Developer Guide's "API Gateway resources that can be tagged" gives it: every
resource under `/restapis/{id}` (resources, methods, integrations, models, deployments, stages...)
is authorized with the REST API's tags, a stage's own tags taking precedence; the call that creates
a REST API or a stage (POST on the collection it is created in) carries its tags in the request.
`/restapis` itself, `/account` and `/tags/...` carry no resource tags (the reference lists none).
"""

from __future__ import annotations

from collections.abc import Mapping

from tools.review_kit.iam.arns import Template, service_of

Tags = dict[str, str]


def template_tags(template: Template, logical_id: str) -> Tags:
    """The Tags property of a resource, resolved."""
    tags = template.props(logical_id).get("Tags", {})
    if isinstance(tags, list):
        return {template.resolve(t["Key"]): template.resolve(t["Value"]) for t in tags}
    if isinstance(tags, Mapping):
        return {str(k): template.resolve(v) for k, v in tags.items()}
    return {}


def call_tags(
    template: Template, logical_id: str, handler: str, action: str, arn: str, owner: str | None
) -> tuple[Tags, Tags]:
    """(resource tags, request tags) of `action` on `arn`, made by `logical_id`'s `handler`;
    `owner` is the template resource `arn` belongs to (None: outside the template)."""
    if arn.startswith(f"arn:{template.env.partition}:apigateway:"):
        return _api_gateway_tags(template, logical_id, handler, action, arn)
    creating = owner == logical_id and _is_creating(action, template.type_of(logical_id), handler)
    resource_tags = template_tags(template, owner) if owner is not None and not creating else {}
    request_tags = template_tags(template, logical_id) if creating or _is_tagging(action) else {}
    return resource_tags, request_tags


def _is_creating(action: str, resource_type: str, handler: str) -> bool:
    """The call that makes the resource (so it has no tags yet): the own service's Create*."""
    service, _, name = action.partition(":")
    return handler == "create" and service == service_of(resource_type) and name.startswith("Create")


def _is_tagging(action: str) -> bool:
    name = action.partition(":")[2]
    return name.startswith("Tag") or name in ("PutBucketTagging", "TagRole")


def _api_gateway_tags(
    template: Template, logical_id: str, handler: str, action: str, arn: str
) -> tuple[Tags, Tags]:
    resource_type = template.type_of(logical_id)
    own = template.arns(logical_id)
    request_tags: Tags = {}
    if handler == "create" and action == "apigateway:POST" and len(own) > 1 and arn == own[1]:
        request_tags = template_tags(template, logical_id)  # CreateRestApi, CreateStage take the tags
    path = arn.split("::", 1)[1]
    if not path.startswith("/restapis/"):
        return {}, request_tags
    api: str | None = logical_id
    if resource_type != "AWS::ApiGateway::RestApi":
        api = next(iter(template.references(template.props(logical_id).get("RestApiId", {}))), None)
    resource_tags = template_tags(template, api) if api is not None else {}
    if resource_type == "AWS::ApiGateway::Stage" and arn == own[0]:
        resource_tags = {**resource_tags, **template_tags(template, logical_id)}
    return resource_tags, request_tags
