"""Scanner acknowledgements, kept next to the resource they are about.

cdk-nag 3 acknowledges through CDK's own Validations API with the exact
finding id it prints (a bare rule id matches nothing). checkov reads skips from
each resource's `Metadata.checkov.skip`. Every one carries the reason a reviewer
needs: what compensates for the rule not holding.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_nag_packs(scope: IConstruct, *, serverless: bool = True) -> None:
    """AwsSolutions everywhere below `scope`, plus the Serverless pack for the upload stacks."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))
    if serverless:
        Validations.of(scope).add_plugins(ServerlessChecks(scope))


def acknowledge(construct: IConstruct, finding_id: str, reason: str) -> None:
    if "[" not in finding_id and not finding_id.count("-") == 1:
        raise ValueError(f"not a cdk-nag finding id: {finding_id!r}")
    if len(reason.split()) < 8:
        raise ValueError(f"acknowledgement of {finding_id} needs a reason that says what compensates")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding_id, reason=reason))


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a checkov skip in the resource's CloudFormation metadata (`checkov.skip`)."""
    _require_reason(check_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata("checkov", metadata)


def ignore_cfn_lint(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Ignore one cfn-lint rule for one resource (`Metadata.cfn-lint.config.ignore_checks`).

    cfn-lint reads only `config`; the reason sits next to it (`ignore_reasons`) so the
    template says why, as checkov's `comment` does.
    """
    _require_reason(rule_id, reason)
    resource = _cfn_resource(construct)
    metadata = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}, "ignore_reasons": {}}
    metadata["config"]["ignore_checks"] = [*metadata["config"]["ignore_checks"], rule_id]
    metadata["ignore_reasons"] = {**metadata["ignore_reasons"], rule_id: reason}
    resource.add_metadata("cfn-lint", metadata)


def _cfn_resource(construct: IConstruct) -> cdk.CfnResource:
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    return resource


def _require_reason(rule_id: str, reason: str) -> None:
    if len(reason.split()) < 8:
        raise ValueError(f"skipping {rule_id} needs a reason that says what compensates")
