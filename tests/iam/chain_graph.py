"""The graph of who can become whom on the delivery path, read from the synthesized templates and the
committed bootstrap template, for tests/iam/test_role_chains.py and test_role_chain_edges.py.

Nodes: every role of the pipeline stack and of both upload stacks (their policies, boundary, trust
and tags), and each account's bootstrap roles (deploy, file-publishing, image-publishing, lookup:
bootstrap/cdk/bootstrap-template.json's trust, policies and tags as `cdk bootstrap` deploys them
with docs/bootstrap.md's parameters; the CloudFormation execution role with its generated policies
and boundary, bootstrap/generated/<set>/). Edges, each decided by the project's IAM evaluator:

- `assume`: sts:AssumeRole the source's policies allow and the target's trust admits;
- `build`: a CodeBuild project runs the caller's commands as its role: StartBuild (it takes a
  buildspec override), UpdateProject (a new buildspec the pipeline then runs), or CreateProject
  with iam:PassRole of the role to CodeBuild;
- `cfn`: iam:PassRole of an execution role to CloudFormation with CreateChangeSet (CloudFormation
  then acts as that role: the deploy role's way to the execution role);
- `artifact`: s3:PutObject into the pipeline's artifact bucket changes what a later action reads:
  an edge to the role of every action that runs something from that artifact without checking the
  gate's digest first (chain_builds.py reads which do from their buildspecs);
- `tag`: iam:TagRole / iam:UntagRole of a tag some grant's `aws:ResourceTag` / `iam:ResourceTag`
  condition names: the walk re-evaluates AssumeRole into the retagged role with its new tags;
- `create`: iam:CreateRole and iam:PutRolePolicy: a new role with `*:*` within the boundary the
  grant requires (CloudFormation as deputy: what the execution role creates, the template decides).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stages.guardrails import BOOTSTRAP_ROLES_BOUNDARY_SUFFIX, PIPELINE_QUALIFIER
from stages.settings import DEFAULT_BOOTSTRAP_QUALIFIERS
from tests.iam.chain_builds import Consumer, Project, consumers, projects
from tests.iam.conftest import EXECUTION_POLICY_FILES, template_roles
from tools.dev import bootstrap_policies as bp
from tools.dev import bootstrap_template as bt
from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.tags import template_tags
from tools.review_kit.iam.validity import resolve_document

REGION = "us-east-1"
BOOTSTRAP_TAG = "aws-cdk:bootstrap-role"
KIND = {
    "DeploymentActionRole": "deploy",
    "FilePublishingRole": "file-publishing",
    "ImagePublishingRole": "image-publishing",
    "LookupRole": "lookup",
}
EXEC = "cfn-exec"
QUALIFIER = {"pipeline": PIPELINE_QUALIFIER, **DEFAULT_BOOTSTRAP_QUALIFIERS}
BOUNDARY_NAME = {
    "pipeline": "UploadApiPermissionsBoundary",
    "dev": "UploadApiPermissionsBoundary-Dev",
    "prod": "UploadApiPermissionsBoundary-Prod",
}
# Stand-ins for the AWS managed policies the bootstrap template attaches (read-only, by their names).
MANAGED = {
    "ReadOnlyAccess": ["*:Describe*", "*:Get*", "*:List*", "*:BatchGet*", "*:Search*", "*:View*"],
    "AWSCloudFormationReadOnlyAccess": [
        "cloudformation:Describe*",
        "cloudformation:Get*",
        "cloudformation:List*",
        "cloudformation:Detect*",
        "cloudformation:Estimate*",
        "cloudformation:Validate*",
    ],
}


@dataclass(frozen=True)
class Layout:
    """The accounts of the pipeline, dev and prod."""

    pipeline: str
    dev: str
    prod: str

    def account(self, where: str) -> str:
        return {"pipeline": self.pipeline, "dev": self.dev, "prod": self.prod}[where]

    def settings(self) -> dict[str, Any]:
        """synth_pipeline's keyword arguments (cdk.json spelling) for this layout."""
        return {
            "pipeline": {"account": self.pipeline, "region": REGION},
            "stages": {s: {"account": self.account(s), "region": REGION} for s in ("dev", "prod")},
        }


THREE = Layout("333333333333", "111111111111", "222222222222")
ONE = Layout("111111111111", "111111111111", "111111111111")


@dataclass
class Role:
    arn: str
    policies: list[dict[str, Any]]
    trust: dict[str, Any] | None  # None: nothing assumes it (reached another way)
    boundary: Mapping[str, Any] | None
    tags: dict[str, str] = field(default_factory=dict)
    home: str = "pipeline-stack"  # pipeline-stack, bootstrap, Dev-UploadApi, Prod-UploadApi
    kind: str | None = None  # a bootstrap role's kind: deploy, ..., lookup, cfn-exec

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


@dataclass
class Graph:
    roles: dict[str, Role]
    projects: dict[str, Project]  # logical id -> project
    consumers: list[Consumer]  # every action that reads an artifact
    bucket_arn: str  # the pipeline's artifact bucket
    bucket_policy: dict[str, Any] | None
    layout: Layout

    def name_of(self, arn: str) -> str | None:
        """The node of a role ARN (two generated names may share a truncated prefix: the first)."""
        return next((n for n, r in self.roles.items() if r.arn == arn), None)

    def runs_as(self, consumer: Consumer) -> str:
        """The node of the role an action reading an artifact acts as."""
        name = consumer.role_id or self.name_of(consumer.runs_as)
        assert name is not None, consumer
        return name

    def planted(self) -> Graph:
        return copy.deepcopy(self)


# -- reading the templates ------------------------------------------------------------------------


def _tags(model: Template, logical_id: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in template_tags(model, logical_id).items()}


def _stack_roles(raw: dict[str, Any], env: Env, home: str, boundary: Mapping[str, Any]) -> dict[str, Role]:
    model = Template(raw, env)
    prefix = "" if home == "pipeline-stack" else f"{home.split('-')[0]}/"
    return {
        f"{prefix}{lid}": Role(
            r.arn, r.policies, r.trust, boundary if r.bounded else None, _tags(model, lid), home
        )
        for lid, r in template_roles(raw, env).items()
    }


def _sub(value: Any, names: Mapping[str, str]) -> Any:
    """Fn::Sub strings resolved from `names` (an unknown name fails: the template changed)."""
    if isinstance(value, list):
        return [_sub(v, names) for v in value]
    if isinstance(value, dict):
        if list(value) == ["Fn::Sub"]:
            return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
        return {k: _sub(v, names) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class PolicySet:
    """One bootstrap's generated policies, as `make bootstrap-policies` writes them for a layout."""

    execution: list[dict[str, Any]]
    boundary: dict[str, Any]  # the app's roles' and the execution role's
    bootstrap_roles_boundary: dict[str, Any]  # the CDK bootstrap roles'


def rendered_sets(layout: Layout | None) -> dict[str, PolicySet]:
    """Each bootstrap's policies for `layout`'s accounts in cdk.json (None: cdk.json as committed)."""
    context = copy.deepcopy(bp.cdk_json_context())
    if layout is not None:
        context["pipeline"].update(account=layout.pipeline, region=REGION)
        for stage in ("dev", "prod"):
            context["stages"][stage].update(account=layout.account(stage), region=REGION)
    files = bp.all_rendered(context)
    sets = {}
    for where in ("pipeline", "dev", "prod"):
        docs = {p.name: json.loads(t) for p, t in files.items() if p.parent.name == where}
        sets[where] = PolicySet(
            [docs[name] for name in EXECUTION_POLICY_FILES],
            docs["permissions-boundary.json"],
            docs["bootstrap-roles-boundary.json"],
        )
    return sets


def _bootstrap_roles(
    committed: Mapping[str, Any], where: str, layout: Layout, policy_set: PolicySet
) -> dict[str, Role]:
    """One account's bootstrap (`pipeline`, `dev`, `prod`), deployed as docs/bootstrap.md says:
    `--trust PIPELINE_ACCOUNT` for a stage in another account, own-account trust otherwise. The
    execution role carries the app's boundary, the others the bootstrap roles' (the template names
    each from `InputPermissionsBoundary`)."""
    account, qualifier = layout.account(where), QUALIFIER[where]
    trusted = [layout.pipeline] if account != layout.pipeline else []
    bootstrap = bt.Bootstrap(account=account, trusted_accounts=trusted)
    policies = policy_set.execution
    parameters = {
        **{k: v.get("Default", "") for k, v in committed["Parameters"].items()},
        "TrustedAccounts": trusted,
        "TrustedAccountsForLookup": [],
        "Qualifier": qualifier,
        "InputPermissionsBoundary": BOUNDARY_NAME[where],
        "CloudFormationExecutionPolicies": ["(bootstrap/generated policies)"],
        "AWS::AccountId": account,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
    }
    arn = f"arn:aws:iam::{account}:role/cdk-{qualifier}-{{}}-role-{account}-{REGION}"
    names = {
        **{k: str(v) for k, v in parameters.items() if isinstance(v, str)},
        "StagingBucket.Arn": f"arn:aws:s3:::cdk-{qualifier}-assets-{account}-{REGION}",
        "CloudFormationExecutionRole.Arn": arn.format(EXEC),
        "FileAssetsBucketEncryptionKey.Arn": f"arn:aws:kms:{REGION}:{account}:key/{qualifier}",
        "ContainerAssetsRepository.Arn": f"arn:aws:ecr:{REGION}:{account}:repository/cdk-{qualifier}",
        "CdkBootstrapVersion": f"/cdk-bootstrap/{qualifier}/version",
    }

    def holds(name: str) -> bool:
        return bool(bt._evaluate(committed["Conditions"][name], parameters, holds))

    def resolved(value: Any) -> Any:
        return _sub(bt._resolve(value, parameters, holds), names)

    roles = {}
    resources = committed["Resources"]
    for role_id, kind in {**KIND, "CloudFormationExecutionRole": EXEC}.items():
        props = resolved(resources[role_id]["Properties"])
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        documents += [
            resolved(r["Properties"]["PolicyDocument"])
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        ]
        for managed in props.get("ManagedPolicyArns", []):
            if managed == "(bootstrap/generated policies)":
                documents += policies
            else:
                actions = MANAGED[managed.rpartition("/")[2]]
                documents.append({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
        trust = bt.trust_policy(committed, role_id, bootstrap) if kind != EXEC else None
        tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
        named = str(props.get("PermissionsBoundary", ""))
        bounded = (
            policy_set.bootstrap_roles_boundary
            if named.endswith(BOOTSTRAP_ROLES_BOUNDARY_SUFFIX)
            else policy_set.boundary
            if named
            else None
        )
        roles[f"{where}:{kind}"] = Role(arn.format(kind), documents, trust, bounded, tags, "bootstrap", kind)
    return roles


def build(
    app: Any, layout: Layout, committed: Mapping[str, Any], sets: Mapping[str, PolicySet] | None = None
) -> Graph:
    """The graph of a synthesized app (tests/infra/conftest.py's SynthesizedApp) in `layout`, with
    the bootstrap policies generated for it (`sets`; default: for `layout`'s accounts)."""
    sets = sets or rendered_sets(layout)
    raw = app.template.to_json()
    env = Env(bt.PIPELINE_STACK, layout.pipeline, REGION)
    roles = _stack_roles(raw, env, "pipeline-stack", sets["pipeline"].boundary)
    for stage_id in ("Dev", "Prod"):
        stage_env = Env(f"{stage_id}-UploadApi", layout.account(stage_id.lower()), REGION)
        boundary = sets[stage_id.lower()].boundary
        roles |= _stack_roles(app.stage_template(stage_id), stage_env, f"{stage_id}-UploadApi", boundary)
    for where in ("pipeline", "dev", "prod"):
        roles |= _bootstrap_roles(committed, where, layout, sets[where])
    model = Template(raw, env)
    (pipeline,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    bucket = pipeline["Properties"]["ArtifactStore"]["Location"]["Ref"]
    policies = [
        resolve_document(model, r["Properties"]["PolicyDocument"])
        for r in raw["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    found = projects(app, model)
    return Graph(
        roles=roles,
        projects=found,
        consumers=consumers(pipeline["Properties"], model, found),
        bucket_arn=model.get_att(bucket, "Arn"),
        bucket_policy=policies[0] if policies else None,
        layout=layout,
    )


def read_committed() -> dict[str, Any]:
    return dict(json.loads(bt.TEMPLATE_PATH.read_text(encoding="utf-8")))
