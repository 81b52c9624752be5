"""What tests/iam/test_bootstrap_roles_*.py share: each bootstrap of each layout, the boundary the
committed (or the CLI's) bootstrap template gives a bootstrap role, and that role's own policies from
the CLI's template, resolved for the bootstrap's account.

Two layouts: the committed files (a fresh clone: every bootstrap in one account) and cdk.json naming
three accounts (rendered by tools.dev.bootstrap_policies, not written).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stages.guardrails import (
    PERMISSIONS_BOUNDARY_NAME,
    bootstrap_roles_boundary_name,
    stage_policy_name,
)
from tools.dev import bootstrap_policies as bp
from tools.dev import bootstrap_roles_boundary as brb
from tools.dev import bootstrap_template as bt
from tools.review_kit.iam.evaluator import Request, evaluate

REGION = "us-east-1"
ONE_ACCOUNT = "111111111111"
PIPELINE_ACCOUNT, DEV_ACCOUNT, PROD_ACCOUNT, OTHER_ACCOUNT = (
    "333333333333",
    "111111111111",
    "222222222222",
    "444444444444",
)
ROLE_KIND = {
    "DeploymentActionRole": "deploy",
    "FilePublishingRole": "file-publishing",
    "ImagePublishingRole": "image-publishing",
    "LookupRole": "lookup",
}
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# AWS managed policies the CLI's template attaches (not in the template): AWSCloudFormationReadOnlyAccess
# as AWS publishes it, and ReadOnlyAccess as the reads it grants on every service.
CFN_READ_ONLY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "cloudformation:Describe*",
                "cloudformation:EstimateTemplateCost",
                "cloudformation:Get*",
                "cloudformation:List*",
                "cloudformation:ValidateTemplate",
                "cloudformation:Detect*",
            ],
            "Resource": "*",
        }
    ]
}
READ_ONLY = {
    "Statement": [{"Effect": "Allow", "Action": ["*:Describe*", "*:Get*", "*:List*"], "Resource": "*"}]
}


def three_accounts_context() -> Any:
    context = copy.deepcopy(bp.cdk_json_context())
    context["pipeline"].update(account=PIPELINE_ACCOUNT, region=REGION, sharedAccountReason=None)
    context["stages"]["dev"].update(account=DEV_ACCOUNT, region=REGION)
    context["stages"]["prod"].update(account=PROD_ACCOUNT, region=REGION)
    return context


@dataclass(frozen=True)
class Bootstrap:
    """One account's bootstrap of one set: where, and the ceiling document the set gives its roles."""

    layout: str  # "one" (the committed files) or "three" (cdk.json naming three accounts)
    set_name: str
    stage: str | None
    qualifier: str
    account: str
    pipeline_account: str
    ceiling: dict[str, Any]

    @property
    def stack(self) -> str:
        return brb.stack_name(self.stage)

    def role(self, role_id: str) -> str:
        kind = ROLE_KIND.get(role_id, "cfn-exec")
        return f"arn:aws:iam::{self.account}:role/cdk-{self.qualifier}-{kind}-role-{self.account}-{REGION}"

    def stack_arn(self, name: str | None = None) -> str:
        return f"arn:aws:cloudformation:{REGION}:{self.account}:stack/{name or self.stack}/0a1b2c3d"


def bootstraps(layout: str) -> list[Bootstrap]:
    three = layout == "three-accounts"
    context = three_accounts_context() if three else bp.cdk_json_context()
    found = []
    for policy_set in bp.policy_sets(context):
        set_name = policy_set.stage or bp.PIPELINE_SET
        path = policy_set.directory / brb.FILE
        text = bp.rendered(policy_set)[path] if three else path.read_text(encoding="utf-8")
        account = (
            {"dev": DEV_ACCOUNT, "prod": PROD_ACCOUNT}.get(set_name, PIPELINE_ACCOUNT)
            if three
            else ONE_ACCOUNT
        )
        pipeline_account = PIPELINE_ACCOUNT if three else ONE_ACCOUNT
        found.append(
            Bootstrap(
                "three" if three else "one",
                set_name,
                policy_set.stage,
                policy_set.qualifier,
                account,
                pipeline_account,
                json.loads(text),
            )
        )
    return found


BOOTSTRAPS = [b for layout in ("committed", "three-accounts") for b in bootstraps(layout)]
IDS = [f"{b.layout}-{b.set_name}" for b in BOOTSTRAPS]


@functools.cache
def committed_template() -> dict[str, Any]:
    return dict(json.loads(bt.TEMPLATE_PATH.read_text(encoding="utf-8")))


@functools.cache
def stock_template() -> dict[str, Any]:
    """The locked CLI's own template (`cdk bootstrap --show-template`)."""
    return bt.cli_template()


def deployed_boundary(template: Mapping[str, Any], role_id: str, b: Bootstrap) -> dict[str, Any] | None:
    """The boundary document `template` gives the role, bootstrapped as docs/bootstrap.md says."""
    given = stage_policy_name(PERMISSIONS_BOUNDARY_NAME, b.stage)
    arn = bt.role_boundary(template, role_id, bt.Bootstrap(b.account, permissions_boundary=given))
    if arn is None:
        return None
    expected = f"arn:aws:iam::{b.account}:policy/{bootstrap_roles_boundary_name(b.stage)}"
    assert arn == expected, f"{role_id} carries {arn}"
    return b.ceiling


def decide(
    b: Bootstrap,
    role_id: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    *,
    policies: list[dict[str, Any]],
    boundary: dict[str, Any] | None,
    resource_policy: dict[str, Any] | None = None,
) -> Any:
    full = {"aws:PrincipalAccount": b.account, **context}
    request = Request(action, resource, full, principal_arn=b.role(role_id))
    return evaluate(request, policies, boundary=boundary, resource_policy=resource_policy)


def granting(principal: str, action: str, resource: str) -> dict[str, Any]:
    """A resource policy (bucket, key, trust) that grants `principal`: whatever denies, it is not this."""
    return {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": resource}
        ]
    }


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def own_policies(
    template: Mapping[str, Any], role_id: str, b: Bootstrap, *, managed: bool = True
) -> list[dict[str, Any]]:
    """The role's identity policies as the template deploys them in `b`'s account (inline, the
    template's AWS::IAM::Policy on it, and the AWS managed policies it attaches)."""
    names = {
        "AWS::AccountId": b.account,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "CdkBootstrapVersion": f"/cdk-bootstrap/{b.qualifier}/version",
        "StagingBucket.Arn": f"arn:aws:s3:::cdk-{b.qualifier}-assets-{b.account}-{REGION}",
        "CloudFormationExecutionRole.Arn": b.role("CloudFormationExecutionRole"),
        "FileAssetsBucketEncryptionKey.Arn": f"arn:aws:kms:{REGION}:{b.account}:key/{KEY_ID}",
        "ContainerAssetsRepository.Arn": (
            f"arn:aws:ecr:{REGION}:{b.account}:repository/cdk-{b.qualifier}-container-assets-{b.account}-{REGION}"
        ),
    }
    resources = template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role_id]["Properties"].get("Policies", [])]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    attached = {"DeploymentActionRole": [CFN_READ_ONLY], "LookupRole": [READ_ONLY]}.get(role_id, [])
    return [_resolved(d, names) for d in documents] + (attached if managed else [])


def _resolved(value: Any, names: Mapping[str, str]) -> Any:
    """Fn::Sub and Ref from `names`; Fn::If's first branch (the policies' only one: CreateNewKey)."""
    if isinstance(value, list):
        return [_resolved(v, names) for v in value]
    if isinstance(value, dict):
        if list(value) == ["Fn::Sub"]:
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        if list(value) == ["Ref"]:
            return names[value["Ref"]]
        if list(value) == ["Fn::If"]:
            return _resolved(value["Fn::If"][1], names)
        return {k: _resolved(v, names) for k, v in value.items()}
    return value
