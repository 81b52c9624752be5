"""Preflight (tools/pipeline_checks/preflight): each stage's account is checked before anything changes.

The account's answers are stubbed with botocore's Stubber, which holds every request and response to
the services' own models: the calls are the real API's, only the answers are chosen.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tools.pipeline_checks.preflight.checks import AccountFacts, StageNeeds, run_checks
from tools.pipeline_checks.preflight.cli import main, needs_from, report
from tools.pipeline_checks.preflight.facts import gather

NEW_ACCOUNT = {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}
MATURE_ACCOUNT = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}
STACK = "Dev-UploadApi"


def _needs(**changes: Any) -> StageNeeds:
    base = {
        "stage": "dev",
        "stack_name": STACK,
        "reserved_concurrency": 0,
        "bootstrap_qualifier": "hnb659fds",
        "minimum_bootstrap_version": 21,
        "malware_scanning": False,
        "creates_api_gateway_account_role": True,
    }
    return StageNeeds(**{**base, **changes})


class StubbedSession:
    """A boto3 Session whose clients answer from Stubbers (every call must have been queued)."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def client(self, name: str) -> Any:
        if name not in self.clients:
            self.clients[name] = boto3.client(
                name, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
            )
            self.stubbers[name] = Stubber(self.clients[name])
            self.stubbers[name].activate()
        return self.clients[name]

    def stub(self, name: str) -> Stubber:
        self.client(name)
        return self.stubbers[name]


def _account(
    limits: dict[str, int],
    *,
    stack_functions: dict[str, int] | None = None,
    version: str | None = "21",
    cloudwatch_role: str | None = None,
    malware: bool | None = None,
) -> StubbedSession:
    session = StubbedSession()
    session.stub("lambda").add_response("get_account_settings", {"AccountLimit": limits})
    if stack_functions is None:
        session.stub("cloudformation").add_client_error(
            "describe_stack_resources", "ValidationError", f"Stack with id {STACK} does not exist"
        )
    else:
        resources = [
            {
                "LogicalResourceId": f"F{i}",
                "PhysicalResourceId": name,
                "ResourceType": "AWS::Lambda::Function",
                "Timestamp": "2026-12-01T00:00:00Z",
                "ResourceStatus": "CREATE_COMPLETE",
            }
            for i, name in enumerate(stack_functions)
        ]
        session.stub("cloudformation").add_response("describe_stack_resources", {"StackResources": resources})
        for name, reserved in stack_functions.items():
            session.stub("lambda").add_response(
                "get_function_concurrency", {"ReservedConcurrentExecutions": reserved}, {"FunctionName": name}
            )
    if version is None:
        session.stub("ssm").add_client_error("get_parameter", "ParameterNotFound")
    else:
        session.stub("ssm").add_response(
            "get_parameter", {"Parameter": {"Name": "/cdk-bootstrap/hnb659fds/version", "Value": version}}
        )
    session.stub("apigateway").add_response(
        "get_account", {"cloudwatchRoleArn": cloudwatch_role} if cloudwatch_role else {}
    )
    if malware is True:
        session.stub("guardduty").add_response(
            "list_malware_protection_plans", {"MalwareProtectionPlans": []}
        )
    elif malware is False:
        session.stub("guardduty").add_client_error("list_malware_protection_plans", "BadRequestException")
    return session


def _failed(needs: StageNeeds, session: StubbedSession) -> dict[str, str]:
    findings = run_checks(needs, gather(session, needs))
    for stubber in session.stubbers.values():
        stubber.assert_no_pending_responses()
    return {f.check: f.line for f in findings if not f.ok}


def test_the_committed_dev_stage_passes_on_a_new_account():
    # GIVEN a new account (quota 10, all of it unreservable) and dev as committed (reserves nothing)
    # THEN every check passes
    assert _failed(_needs(reserved_concurrency=0), _account(NEW_ACCOUNT)) == {}


def test_a_reservation_on_a_new_account_fails_in_one_line_naming_quota_setting_and_fix():
    # GIVEN dev reserving 100 on a new account
    failed = _failed(_needs(reserved_concurrency=100), _account(NEW_ACCOUNT))
    # THEN exactly the concurrency check fails, its line naming the quota, the setting and the fix
    assert list(failed) == ["lambda-concurrency"]
    line = failed["lambda-concurrency"]
    assert "\n" not in line
    assert "quota" in line
    assert "uploadApi.stages.dev.reservedConcurrency" in line
    assert "Service Quotas" in line
    assert '"unreserved"' in line


def test_prod_reservations_fit_a_mature_account_counting_what_the_stack_already_reserves():
    # GIVEN prod reserving 510 (500 + the scan-result function's 10) in an account with 1000, of which
    # the deployed stack already holds 510 (so 490 are unreserved)
    needs = _needs(stage="prod", stack_name=STACK, reserved_concurrency=510, malware_scanning=True)
    limits = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 490}
    session = _account(limits, stack_functions={"up": 500, "scan": 10}, malware=True)
    # THEN the redeploy fits: what the stack holds is released before it is reserved again
    assert _failed(needs, session) == {}


def test_a_missing_or_old_bootstrap_fails_naming_the_parameter():
    failed = _failed(_needs(), _account(MATURE_ACCOUNT, version=None))
    assert list(failed) == ["cdk-bootstrap"]
    assert "/cdk-bootstrap/hnb659fds/version is missing" in failed["cdk-bootstrap"]
    failed = _failed(_needs(), _account(MATURE_ACCOUNT, version="14"))
    assert "version 14" in failed["cdk-bootstrap"]
    assert "docs/bootstrap.md" in failed["cdk-bootstrap"]


def test_an_account_without_a_cloudwatch_role_fails_when_the_stage_does_not_create_one():
    needs = _needs(creates_api_gateway_account_role=False)
    failed = _failed(needs, _account(MATURE_ACCOUNT))
    assert "uploadApi.stages.dev.createApiGatewayAccountRole" in failed["api-gateway-cloudwatch-role"]
    role = "arn:aws:iam::111111111111:role/apigw-logs"
    assert _failed(needs, _account(MATURE_ACCOUNT, cloudwatch_role=role)) == {}


SHARED = ("Dev-UploadApi", "Prod-UploadApi")


def test_in_a_shared_account_a_missing_role_names_the_accounts_template():
    # GIVEN dev and prod in one account, which has no API Gateway role yet
    needs = _needs(creates_api_gateway_account_role=False, shared_account_stacks=SHARED)
    failed = _failed(needs, _account(MATURE_ACCOUNT))
    # THEN the fix is the shared account's template, not a setting synth would turn back off
    assert (
        "fix: deploy bootstrap/shared-account/apigateway-account.json"
        in failed["api-gateway-cloudwatch-role"]
    )
    assert "createApiGatewayAccountRole to true" not in failed["api-gateway-cloudwatch-role"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("owner", SHARED)
def test_in_a_shared_account_a_stage_stacks_role_as_the_accounts_fails(stage, owner):
    # GIVEN the role a stage's stack set before (retained when the stack let go of it), under that
    # stage's boundary, which denies the other stage's log groups
    role = f"arn:aws:iam::111111111111:role/{owner}-UploadApiCloudWatchRoleD812835A-1AB2C3D4E5F6"
    needs = _needs(stage=stage, creates_api_gateway_account_role=False, shared_account_stacks=SHARED)
    failed = _failed(needs, _account(MATURE_ACCOUNT, cloudwatch_role=role))
    # THEN Preflight stops, naming the role, its stack and the fix
    line = failed["api-gateway-cloudwatch-role"]
    assert f"a role of {owner}," in line
    assert "fix: deploy bootstrap/shared-account/apigateway-account.json" in line


def test_in_a_shared_account_the_templates_or_another_role_passes():
    needs = _needs(creates_api_gateway_account_role=False, shared_account_stacks=SHARED)
    for name in ("UploadApi-ApiGatewayCloudWatchLogs", "platform-apigw-logs", "Devs-UploadApi-x"):
        role = f"arn:aws:iam::111111111111:role/{name}"
        assert _failed(needs, _account(MATURE_ACCOUNT, cloudwatch_role=role)) == {}, name


def test_malware_scanning_in_a_region_without_it_fails_naming_the_setting():
    needs = _needs(stage="prod", malware_scanning=True)
    failed = _failed(needs, _account(MATURE_ACCOUNT, malware=False))
    assert "uploadApi.stages.prod.malwareScanning" in failed["guardduty-malware-protection"]


def test_the_exit_status_and_output(capsys):
    facts = AccountFacts(10, 10, 0, 21, None, None)
    assert report(run_checks(_needs(reserved_concurrency=100), facts)) == 1
    out = capsys.readouterr()
    assert out.out.count("FAIL ") == 1
    assert "nothing was changed" in out.err
    assert report(run_checks(_needs(), facts)) == 0


def test_missing_settings_are_named_and_exit_2(capsys):
    assert main({"STAGE": "dev"}) == 2
    assert "STACK_NAME" in capsys.readouterr().err
    with pytest.raises(Exception, match="RESERVED_CONCURRENCY"):
        needs_from({"STAGE": "dev", "STACK_NAME": STACK})


def test_the_shared_account_stacks_come_from_the_step_and_default_to_none():
    env = {
        "STAGE": "dev",
        "STACK_NAME": STACK,
        "RESERVED_CONCURRENCY": "0",
        "BOOTSTRAP_QUALIFIER": "uploaddev",
        "MINIMUM_BOOTSTRAP_VERSION": "8",
        "MALWARE_SCANNING": "false",
        "CREATES_API_GATEWAY_ACCOUNT_ROLE": "false",
    }
    assert needs_from(env).shared_account_stacks == ()
    shared = needs_from({**env, "SHARED_ACCOUNT_STACKS": "Dev-UploadApi,Prod-UploadApi"})
    assert shared.shared_account_stacks == ("Dev-UploadApi", "Prod-UploadApi")
