"""The execution policy allows every call CloudFormation makes to deploy each synthesized stack.

Judged by tools.review_kit.iam.coverage: the handler permissions of the CloudFormation resource schemas,
each evaluated with the ARN it acts on and its request context. A resource type the policy does
not cover fails here, naming the type and the actions.
"""

from __future__ import annotations

import copy

import pytest

from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE
from tests.iam.conftest import ACCOUNT, BOOTSTRAP, REGION, STACK_POLICY_SETS, set_policies
from tools.review_kit.iam.__main__ import describe_gaps, main
from tools.review_kit.iam.coverage import Gap, missing_permissions

pytestmark = pytest.mark.synth
NOTHING = {"Version": "2012-10-17", "Statement": []}


def gaps_of(stack, policy, template=None, boundary=None):
    return missing_permissions(
        template or stack.template,
        policy,
        stack_name=stack.stack_name,
        account=ACCOUNT,
        region=REGION,
        boundary=boundary,
    )


@pytest.mark.parametrize("stack_name", ["UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"])
def test_the_execution_policy_allows_every_deploy_call(stacks, stack_name):
    # GIVEN a synthesized stack, and the execution policies and boundary its own bootstrap installs
    # (bootstrap/generated/<set>/, docs/bootstrap.md)
    stack = stacks[stack_name]
    execution_policy, boundary = set_policies(STACK_POLICY_SETS[stack_name])
    # WHEN every handler call for its resources is evaluated against the policy within the boundary
    gaps = gaps_of(stack, execution_policy, boundary=boundary)
    # THEN none is denied
    assert not gaps, f"{stack_name}: the execution policy denies\n{describe_gaps(gaps)}"


@pytest.mark.parametrize("stack_name", ["UploadApiPipeline", "Dev-UploadApi", "Prod-UploadApi"])
def test_a_first_deployment_needs_no_tag_of_a_key_it_creates(stacks, stack_name):
    # GIVEN a stack's first deployment: each KMS key is created minutes before the calls that
    # follow on it (its rotation, a table's grant), and KMS documents that a tag can take five
    # minutes to affect authorization; the stack's own bootstrap's policies
    stack = stacks[stack_name]
    execution_policy, boundary = set_policies(STACK_POLICY_SETS[stack_name])
    # WHEN those calls are judged without the key's tags
    gaps = missing_permissions(
        stack.template,
        execution_policy,
        stack_name=stack.stack_name,
        account=ACCOUNT,
        region=REGION,
        boundary=boundary,
        first_deployment=True,
    )
    # THEN none is denied: no call of a first deployment waits for a key's tag to take effect
    assert not gaps, f"{stack_name}: a first deployment is denied\n{describe_gaps(gaps)}"


def with_resource(stack, logical_id, resource):
    template = copy.deepcopy(stack.template)
    template["Resources"][logical_id] = resource
    return template


def test_a_resource_type_the_policy_does_not_cover_fails_naming_type_and_actions(stacks, execution_policy):
    # GIVEN the dev stack with a Secrets Manager secret added (no statement grants secretsmanager:*;
    # SQS, the example before, is covered since the prod stack's scan-result dead-letter queue)
    stack = stacks["Dev-UploadApi"]
    template = with_resource(stack, "NewSecret", {"Type": "AWS::SecretsManager::Secret", "Properties": {}})
    # WHEN its coverage is checked
    gaps = [g for g in gaps_of(stack, execution_policy, template) if g.logical_id == "NewSecret"]
    # THEN the secret's create, read and delete calls are reported, named by type and action
    actions = {g.action for g in gaps}
    assert {
        "secretsmanager:CreateSecret",
        "secretsmanager:DescribeSecret",
        "secretsmanager:DeleteSecret",
    } <= actions
    assert "AWS::SecretsManager::Secret: " in describe_gaps(gaps)
    assert "secretsmanager:CreateSecret" in describe_gaps(gaps)


def test_a_queue_outside_the_apps_names_is_not_covered(stacks, execution_policy, boundary):
    # GIVEN the dev stack with a queue whose template names it outside the app's prefixes
    stack = stacks["Dev-UploadApi"]
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "payroll-events"}}
    template = with_resource(stack, "ForeignQueue", queue)
    # WHEN its coverage is checked
    gaps = [g for g in gaps_of(stack, execution_policy, template, boundary) if g.logical_id == "ForeignQueue"]
    # THEN creating, changing and deleting it is denied
    assert {"sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue"} <= {g.action for g in gaps}


def test_a_policy_without_codedeploy_fails_on_the_deployment_group(stacks, execution_policy):
    # GIVEN the execution policy without any codedeploy action
    policy = copy.deepcopy(execution_policy)
    for statement in (s for document in policy for s in document["Statement"]):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        statement["Action"] = [a for a in actions if not a.lower().startswith("codedeploy:")] or ["none:None"]
    # WHEN the dev stack's coverage is checked
    gaps = gaps_of(stacks["Dev-UploadApi"], policy)
    # THEN the CodeDeploy application, the deployment group and the alias's traffic shift are named
    assert {g.resource_type for g in gaps} >= {
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::Lambda::Alias",
    }
    assert any(
        g.action == "codedeploy:CreateDeployment" and g.resource_type == "AWS::Lambda::Alias" for g in gaps
    )


def test_a_type_with_no_known_handler_permissions_is_a_gap_not_a_pass(stacks, execution_policy):
    stack = stacks["Dev-UploadApi"]
    template = with_resource(stack, "Odd", {"Type": "AWS::Made::Up", "Properties": {}})
    gaps = [g for g in gaps_of(stack, execution_policy, template) if g.logical_id == "Odd"]
    assert gaps == [Gap("AWS::Made::Up", "Odd", "?", "?")]


def test_a_custom_resource_needs_its_service_token_invoked(stacks):
    # GIVEN a custom resource whose provider is a Lambda function, and a policy that allows nothing
    stack = stacks["Dev-UploadApi"]
    token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:SomeoneElsesProvider"
    resource = {"Type": "Custom::Thing", "Properties": {"ServiceToken": token}}
    template = with_resource(stack, "Thing", resource)
    # WHEN its coverage is checked
    gaps = [g for g in gaps_of(stack, NOTHING, template) if g.logical_id == "Thing"]
    # THEN the one call is CloudFormation invoking the provider
    assert {(g.action, g.resource) for g in gaps} == {("lambda:InvokeFunction", token)}


def test_the_command_line_exits_non_zero_on_a_gap(cdk_out, tmp_path, capsys):
    # GIVEN a policy that allows nothing
    policy = tmp_path / "nothing.json"
    policy.write_text('{"Version": "2012-10-17", "Statement": []}', encoding="utf-8")
    # WHEN `python -m tools.review_kit.iam coverage` runs on the synthesized app
    code = main(["coverage", str(cdk_out), str(policy)])
    # THEN it fails and names the stacks and types
    out = capsys.readouterr().out
    assert code == 1
    assert "Dev-UploadApi:" in out
    assert "AWS::DynamoDB::Table: " in out


@pytest.mark.parametrize(("stack_name", "set_name"), sorted(STACK_POLICY_SETS.items()))
def test_the_command_line_passes_with_each_stacks_bootstrap_policies(cdk_out, capsys, stack_name, set_name):
    # GIVEN a stack and its own bootstrap's policies (docs/bootstrap.md's command)
    directory = BOOTSTRAP / "generated" / set_name
    # WHEN the command line checks that stack against them
    code = main(
        [
            "coverage",
            str(cdk_out),
            str(directory / "cfn-execution-policy.json"),
            str(directory / "cfn-execution-resources-policy.json"),
            str(directory / "cfn-execution-scanning-policy.json"),
            "--boundary",
            str(directory / "permissions-boundary.json"),
            "--stack",
            stack_name,
        ]
    )
    # THEN every call is allowed, and only that stack was checked
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{stack_name}: every handler call allowed" in out
    assert len(out.strip().splitlines()) == 1, out


def test_a_stage_cannot_deploy_with_the_other_stages_policies(cdk_out, capsys):
    # GIVEN the prod stack and dev's bootstrap policies
    directory = BOOTSTRAP / "generated" / "dev"
    files = ("cfn-execution-policy.json", "cfn-execution-resources-policy.json")
    policies = [str(directory / f) for f in files]
    # WHEN the command line checks prod against them
    code = main(["coverage", str(cdk_out), *policies, "--stack", "Prod-UploadApi"])
    # THEN it fails: dev's execution role may not create prod's resources
    assert code == 1
    assert "Prod-UploadApi:" in capsys.readouterr().out


def test_a_role_without_the_boundary_cannot_be_deployed(stacks):
    # GIVEN the dev stack with the boundary taken off one role, and dev's bootstrap policies
    stack = stacks["Dev-UploadApi"]
    execution_policy, boundary = set_policies("dev")
    template = copy.deepcopy(stack.template)
    (role_id,) = [
        k
        for k, r in template["Resources"].items()
        if k.startswith("UploadFunctionRole") and r["Type"] == "AWS::IAM::Role"
    ]
    del template["Resources"][role_id]["Properties"]["PermissionsBoundary"]
    # WHEN its coverage is checked
    gaps = gaps_of(stack, execution_policy, template, boundary=boundary)
    # THEN creating that role (and putting its inline policies) is what is refused
    refused = {(g.logical_id, g.action) for g in gaps}
    assert (role_id, "iam:CreateRole") in refused
    assert any(action == "iam:PutRolePolicy" for _, action in refused)


def without_property(stack, resource_type, prop):
    """The stack's template with `prop` removed from every resource of `resource_type`."""
    template = copy.deepcopy(stack.template)
    ids = [k for k, r in template["Resources"].items() if r["Type"] == resource_type]
    for logical_id in ids:
        del template["Resources"][logical_id]["Properties"][prop]
    return template, ids


@pytest.mark.parametrize("stack_name", ["Dev-UploadApi", "Prod-UploadApi"])
def test_the_api_and_its_stage_are_created_with_the_apps_tag(stacks, stack_name):
    # CreateRestApi and CreateStage carry the template's tags: the REST API is created as the app's
    # (the execution policy requires it), and the stage carries the tag itself besides inheriting it.
    resources = stacks[stack_name].template["Resources"].values()
    apis = [r for r in resources if r["Type"] in ("AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage")]
    assert len(apis) == 2
    for resource in apis:
        assert {"Key": APP_TAG_KEY, "Value": APP_TAG_VALUE} in resource["Properties"]["Tags"]


def test_an_api_without_the_apps_tag_cannot_be_deployed(stacks):
    # GIVEN the dev stack with the app's tag taken off its REST API
    stack = stacks["Dev-UploadApi"]
    execution_policy, boundary = set_policies("dev")
    template, (untagged,) = without_property(stack, "AWS::ApiGateway::RestApi", "Tags")
    # WHEN its coverage is checked
    gaps = {(g.logical_id, g.action) for g in gaps_of(stack, execution_policy, template, boundary)}
    # THEN creating it is refused (aws:RequestTag), and so is every call under it: its resources,
    # methods, deployments and stages are authorized with the REST API's tags (aws:ResourceTag)
    assert (untagged, "apigateway:POST") in gaps
    children = {logical_id for logical_id, _ in gaps if logical_id != untagged}
    assert {stack.template["Resources"][k]["Type"] for k in children} >= {
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
    }


def test_a_key_rotated_at_another_period_cannot_be_deployed(stacks):
    # GIVEN the dev stack's keys without their rotation period (KMS's default, 365 days, applies)
    stack = stacks["Dev-UploadApi"]
    execution_policy, boundary = set_policies("dev")
    template, keys = without_property(stack, "AWS::KMS::Key", "RotationPeriodInDays")
    # WHEN the first deployment's calls are checked (the keys' tags not yet in effect)
    gaps = missing_permissions(
        template,
        execution_policy,
        stack_name=stack.stack_name,
        account=ACCOUNT,
        region=REGION,
        boundary=boundary,
        first_deployment=True,
    )
    # THEN turning each key's rotation on is refused: the policy pins the period
    assert {(g.logical_id, g.action) for g in gaps} == {(k, "kms:EnableKeyRotation") for k in keys}


VARIANTS = {
    # A CodeCommit source: an EventBridge rule starts the pipeline.
    "codecommit": (
        {
            "source": {"provider": "codecommit", "repository": "secure-upload-api", "branch": "main"},
            "sharedAccountReason": "a test of one account for both stages",
            "approvers": ["arn:aws:iam::111111111111:role/ReleaseApprover"],
        },
        {},
    ),
    # E-mail subscriptions on the approval and alarm topics; no API Gateway account role; the approver role.
    "subscriptions": (
        {
            "approverEmails": ["approver@example.com"],
            "approvers": ["arn:aws:iam::444444444444:role/release-managers"],
        },
        {"dev": {"alarmEmail": "ops@example.com", "createApiGatewayAccountRole": False}},
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_settings_variants_are_covered_too(tmp_path_factory, variant):
    # GIVEN the app synthesized with other settings (cdk.json spelling)
    from tests.infra.conftest import synth_app
    from tools.common import assembly

    pipeline, stages = VARIANTS[variant]
    outdir = tmp_path_factory.mktemp(f"{variant}.cdk.out")
    synth_app(outdir, pipeline=pipeline, stages=stages)
    # WHEN each stack's coverage is checked
    for stack in assembly.load(outdir).stacks:
        execution_policy, boundary = set_policies(STACK_POLICY_SETS[stack.stack_name])
        gaps = gaps_of(stack, execution_policy, boundary=boundary)
        # THEN it deploys as well
        assert not gaps, f"{variant} {stack.stack_name}:\n{describe_gaps(gaps)}"
