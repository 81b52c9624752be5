"""Account profiles (tools/review_kit/rehearse/account_profile.py): moto with a new account's Lambda quota.

The preflight (tools/pipeline_checks/preflight) runs against the emulator as the pipeline runs it, and a
stage stack with a reservation fails on a new account as Lambda documents.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tools.pipeline_checks.preflight.cli import main as preflight
from tools.review_kit.rehearse import account_profile

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    account_profile.install(account_profile.PROFILES["new-account"])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state is per process, not per server: start each test from an empty account
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.stop()
        account_profile.install(account_profile.PROFILES["mature"])


def _stack_with_reservation(reserved: int | None) -> str:
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.13",
            "Handler": "index.handler",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(event, context):\n    return None\n"},
            **({"ReservedConcurrentExecutions": reserved} if reserved is not None else {}),
        },
    }
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        },
    }
    return json.dumps({"Resources": {"Role": role, "Function": function}})


def _deploy(endpoint: str, name: str, reserved: int | None) -> str:
    """The stack's status, or the refusal's message."""
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, **CREDENTIALS)
    try:
        cloudformation.create_stack(StackName=name, TemplateBody=_stack_with_reservation(reserved))
    except ClientError as error:
        return str(error)
    return cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def test_a_reservation_fails_the_new_account_profile_as_lambda_documents(emulator):
    # GIVEN the new-account profile (quota 10) WHEN a stack reserves 100 (dev's old default)
    # THEN the stack does not come up: Lambda keeps the whole quota of 10 unreserved
    refused = _deploy(emulator, "Dev-UploadApi", 100)
    assert "UnreservedConcurrentExecution below its minimum value of [10]" in refused
    # AND without a reservation (dev as committed) it does
    assert _deploy(emulator, "Dev-UploadApi-2", None) == "CREATE_COMPLETE"


def test_the_account_settings_answer_the_profiles_quota(emulator):
    limits = boto3.client("lambda", endpoint_url=emulator, **CREDENTIALS).get_account_settings()[
        "AccountLimit"
    ]
    assert limits["ConcurrentExecutions"] == 10
    assert limits["UnreservedConcurrentExecutions"] == 10


PREFLIGHT_BASE = {
    "BOOTSTRAP_QUALIFIER": "hnb659fds",
    "MINIMUM_BOOTSTRAP_VERSION": "8",
    "CREATES_API_GATEWAY_ACCOUNT_ROLE": "true",
}


def _bootstrapped(endpoint: str) -> None:
    """The version parameter `cdk bootstrap` leaves."""
    boto3.client("ssm", endpoint_url=endpoint, **CREDENTIALS).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String"
    )


def _dev(reserved: int) -> dict[str, str]:
    return {
        **PREFLIGHT_BASE,
        "STAGE": "dev",
        "STACK_NAME": "Dev-UploadApi",
        "RESERVED_CONCURRENCY": str(reserved),
        "MALWARE_SCANNING": "false",
    }


def test_preflight_against_the_emulator_passes_dev_and_stops_prod_in_one_line(emulator, capsys):
    # GIVEN a bootstrapped new account (the version parameter) and the two stages' needs
    _bootstrapped(emulator)
    dev = _dev(0)
    prod = {
        **PREFLIGHT_BASE,
        "STAGE": "prod",
        "STACK_NAME": "Prod-UploadApi",
        "RESERVED_CONCURRENCY": "510",
        "MALWARE_SCANNING": "true",
    }
    # THEN dev passes, and prod stops before anything changes, naming the quota and its setting
    assert preflight(dev) == 0
    capsys.readouterr()
    assert preflight(prod) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert "uploadApi.stages.prod.reservedConcurrency" in failures[0]


def test_dev_reserving_100_stops_at_its_preflight_on_a_new_account_in_one_line(emulator, capsys):
    # GIVEN a bootstrapped new account (quota 10) and dev set to reserve 100, as it once did
    _bootstrapped(emulator)
    # WHEN dev's Preflight runs against it
    assert preflight(_dev(100)) == 1
    # THEN it stops in one line naming the quota, dev's setting and the fix, before anything changes
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert "the account allows 10" in failures[0]
    assert "the dev stage reserves 100 (uploadApi.stages.dev.reservedConcurrency" in failures[0]
    assert "fix: raise 'Concurrent executions' in Service Quotas (Lambda) or set" in failures[0]
    assert "Dev-UploadApi" not in [
        s["StackName"]
        for s in boto3.client("cloudformation", endpoint_url=emulator, **CREDENTIALS).describe_stacks()[
            "Stacks"
        ]
    ]


def test_the_shared_accounts_template_sets_the_role_each_preflight_reads(emulator, capsys, monkeypatch):
    # GIVEN the rehearsal's types installed (AWS::ApiGateway::Account, which moto's CloudFormation
    # lacks, is created in its API Gateway: moto_models.py), a bootstrapped account, and dev's
    # Preflight as a shared account gives it (its stack does not set the account's role)
    from tools.review_kit.rehearse.cli import _account_settings
    from tools.review_kit.rehearse.emulator import install_emulated_types

    # (AWS managed policies exist, as in the rehearsal's emulator: the template attaches one)
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"))
    install_emulated_types()
    _bootstrapped(emulator)
    dev = {
        **_dev(0),
        "CREATES_API_GATEWAY_ACCOUNT_ROLE": "false",
        "SHARED_ACCOUNT_STACKS": "Dev-UploadApi,Prod-UploadApi",
    }
    # THEN before the account's template, dev's Preflight stops, naming the missing role
    assert preflight(dev) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1, failures
    assert "fix: deploy bootstrap/shared-account/apigateway-account.json" in failures[0]
    # WHEN the administrator deploys bootstrap/shared-account/apigateway-account.json (as the rehearsal does)
    _account_settings(boto3.client("cloudformation", endpoint_url=emulator, **CREDENTIALS))
    # THEN API Gateway's account answers its role, and dev's Preflight passes
    answer = boto3.client("apigateway", endpoint_url=emulator, **CREDENTIALS).get_account()
    assert answer.get("cloudwatchRoleArn", "").endswith(":role/UploadApi-ApiGatewayCloudWatchLogs")
    assert preflight(dev) == 0
