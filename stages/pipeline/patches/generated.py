"""Finding what CDK Pipelines generates, and failing loudly when it is not what a patch expects.

Every patch in this package edits a construct CDK Pipelines generates: a CodeBuild project, a
role's default policy, the permission check's auto-approve function. A CDK upgrade may rename,
move or reshape it; a patch that then matched nothing would synthesize a pipeline that silently
lost its hardening. So each patch finds its target through these helpers and checks the shape it
edits with `expect`: a surprise raises GeneratedConstructChanged, naming the construct, what the
patch expected there, and the patch to review.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from stages.template_text import as_nag_text

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C")


class GeneratedConstructChanged(RuntimeError):
    """A construct CDK Pipelines generates is missing or not shaped as a patch expects."""

    def __init__(self, path: str, expected: str) -> None:
        super().__init__(path, expected)
        self.path = path
        self.expected = expected
        # Filled in by @patch_of on the way out of the (innermost) patch that found the surprise.
        self.generated: str | None = None
        self.patch: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.path}: expected {self.expected}. CDK Pipelines changed its generated "
            f"{self.generated or 'constructs'}; review this patch: {self.patch or 'the one raising this'}"
        )


def patch_of(generated: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a function as the patch of CDK Pipelines' generated `generated` (named in its errors)."""

    def decorate(patch: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(patch)
        def patched(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return patch(*args, **kwargs)
            except GeneratedConstructChanged as changed:
                if changed.patch is None:
                    changed.generated = generated
                    changed.patch = f"{patch.__module__}.{patch.__qualname__}"
                raise

        return patched

    return decorate


def expect(condition: bool, where: IConstruct | str, expected: str) -> None:
    """Raise GeneratedConstructChanged at `where` (a construct or its path) unless `condition`."""
    if not condition:
        path = where if isinstance(where, str) else where.node.path
        raise GeneratedConstructChanged(path, expected)


def present(value: C | None, where: IConstruct | str, expected: str) -> C:
    """`value`, which must not be None."""
    expect(value is not None, where, expected)
    assert value is not None  # (expect raised otherwise; this tells the type checker)
    return value


def child(scope: IConstruct, child_id: str, kind: type[C]) -> C:
    """`scope`'s child `child_id`, which must be a `kind`."""
    found = scope.node.try_find_child(child_id)
    expect(
        isinstance(found, kind),
        f"{scope.node.path}/{child_id}",
        f"a {kind.__name__}" + ("" if found is not None else " (there is no such child)"),
    )
    return found  # type: ignore[return-value]


def default_child(construct: IConstruct, kind: type[C]) -> C:
    """The L1 resource under an L2 construct, which must be a `kind`."""
    found = construct.node.default_child
    expect(isinstance(found, kind), construct, f"a default child of type {kind.__name__}")
    return found  # type: ignore[return-value]


def role_of(construct: IConstruct, role: iam.IRole | None) -> iam.IRole:
    """A generated construct's role, which must exist (a project's, a function's)."""
    return present(role, construct, "a role")


def default_policy(role: iam.IRole) -> iam.Policy:
    """The DefaultPolicy CDK attaches to a role it grants to."""
    return child(role, "DefaultPolicy", iam.Policy)


def codebuild_projects(scope: IConstruct) -> list[codebuild.Project]:
    return [c for c in scope.node.find_all() if isinstance(c, codebuild.Project)]


def rewrite_statements(role: iam.IRole, rewrite: Callable[[dict[str, Any]], Any]) -> None:
    """Replace the role's DefaultPolicy document (the L1 property) with `rewrite` of each statement.

    A rewrite returns a statement, or the list of statements one is split into.
    """
    policy = default_child(default_policy(role), iam.CfnPolicy)
    document = cdk.Stack.of(policy).resolve(policy.policy_document)
    rewritten = [rewrite(dict(statement)) for statement in document["Statement"]]
    document["Statement"] = [s for r in rewritten for s in (r if isinstance(r, list) else [r])]
    policy.policy_document = document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_prefix(stack: cdk.Stack, service: str) -> str:
    """`arn:<partition>:<service>:<region>:<account>` of `stack` (tokens where its env is not literal)."""
    return f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}"


def nag_resource(stack: cdk.Stack, resource: str) -> str:
    """`Resource::<resource>`, as an AwsSolutions-IAM5 finding id names it in `stack`'s template.

    Literal where the stack's env is (an explicit account or region), `<AWS::AccountId>`,
    `<LogicalId>` or `<LogicalId.Attr>` where the template has a Ref or GetAtt.
    """
    return f"Resource::{as_nag_text(stack.resolve(resource))}"


def only(found: Iterable[C], where: IConstruct | str, expected: str) -> C:
    """The one item of `found`, which must hold exactly one."""
    items = list(found)
    expect(len(items) == 1, where, f"exactly one {expected} (found {len(items)})")
    return items[0]


# -- where CDK Pipelines puts what it generates (under the pipelines.CodePipeline construct) ----------


def is_asset_project(project: IConstruct) -> bool:
    return "/Assets/" in project.node.path


def is_synth_project(project: IConstruct) -> bool:
    return project.node.path.endswith("/Synth/CdkBuildProject")


def file_role(pipeline: IConstruct) -> iam.Role:
    """The one role CDK Pipelines gives every file-asset publishing project."""
    return child(child(pipeline, "Assets", Construct), "FileRole", iam.Role)


def permissions_check(pipeline: IConstruct) -> Construct:
    """What every ConfirmPermissionsBroadening step shares: a CodeBuild project and an auto-approver."""
    return child(pipeline, "PipelinesSecurityCheck", Construct)


def permissions_check_project(pipeline: IConstruct) -> codebuild.Project:
    """The CodeBuild project that runs `cdk diff --security-only` for every permission check."""
    return child(permissions_check(pipeline), "CDKSecurityCheck", codebuild.Project)


def auto_approve_function(pipeline: IConstruct) -> lambda_.Function:
    """The function a permission check invokes to approve itself when it found no broadening."""
    return child(permissions_check(pipeline), "CDKPipelinesAutoApprove", lambda_.Function)


def source_action_roles(scope: IConstruct) -> list[iam.Role]:
    """The roles CodePipeline creates for source actions (.../Source/<action>/CodePipelineActionRole)."""
    return [
        r
        for r in scope.node.find_all()
        if isinstance(r, iam.Role) and "/Source/" in r.node.path and r.node.id == "CodePipelineActionRole"
    ]
