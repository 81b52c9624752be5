"""The source action's role: its permission to use the connection, under the connection's own prefix.

AWS CodeConnections (formerly CodeStar Connections) has two IAM prefixes, and "the service
prefix needs to match that of the resource" (Developer Tools console guide, "Connections
rename"). CDK's connection source action grants `codestar-connections:UseConnection` whatever
the ARN; on a `arn:...:codeconnections:...` connection (what the console creates since July
2024) that statement matches no request, and the source stage is refused. The policy is
rewritten at synth time so the action's prefix is the ARN's (tools/review_kit/iam validity checks it).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stages.pipeline.patches.generated import (
    default_child,
    default_policy,
    only,
    patch_of,
    source_action_roles,
)

OLD_PREFIX = "codestar-connections"


@patch_of("connection source action's role (Source/<action>/CodePipelineActionRole)")
def use_the_connections_prefix(pipeline: IConstruct) -> None:
    """Rename `codestar-connections:` actions on `codeconnections` ARNs in the source role's policy.

    The document is rewritten lazily, when it is resolved at synth, so statements added to the
    policy after this runs are renamed too.
    """
    role = only(source_action_roles(pipeline), pipeline, "source action role")
    resource = default_child(default_policy(role), iam.CfnPolicy)
    resource.policy_document = cdk.Lazy.uncached_any(_MatchingPrefix(resource.policy_document))


@jsii.implements(cdk.IAnyProducer)
class _MatchingPrefix:
    def __init__(self, document: Any) -> None:
        self._document = document

    def produce(self, context: cdk.IResolveContext) -> Any:
        document = context.resolve(self._document)
        for statement in document.get("Statement", []):
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            prefixes = {r.split(":")[2] for r in resources if isinstance(r, str) and r.count(":") >= 5}
            if prefixes != {"codeconnections"}:
                continue
            actions = statement["Action"]
            renamed = [_renamed(a) for a in (actions if isinstance(actions, list) else [actions])]
            statement["Action"] = renamed if isinstance(actions, list) else renamed[0]
        return document


def _renamed(action: str) -> str:
    service, _, name = action.partition(":")
    return f"codeconnections:{name}" if service == OLD_PREFIX else action
