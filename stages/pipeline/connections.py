"""The source action's permission to use its connection, under the connection's own prefix.

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

OLD_PREFIX = "codestar-connections"


def use_the_connections_prefix(role: iam.IRole) -> None:
    """Rename `codestar-connections:` actions on `codeconnections` ARNs in `role`'s default policy."""
    policy = role.node.try_find_child("DefaultPolicy")
    assert isinstance(policy, iam.Policy), f"{role.node.path} has no default policy"
    resource = policy.node.default_child
    assert isinstance(resource, iam.CfnPolicy)
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
