"""The emulator measurement (rehearse/emulator_coverage.py, service_readers.py): its counts on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tools.common import assembly
from tools.review_kit.rehearse import emulator, emulator_coverage, fidelity, service_readers


def _stack(tmp_path: Path, template: dict) -> assembly.Stack:
    """A one-stack assembly as `cdk synth` writes it: the template and its asset manifest (one zip)."""
    (tmp_path / "asset.abc").mkdir()
    (tmp_path / "asset.abc" / "index.py").write_text("def handler(event, context): ...\n")
    template_file = tmp_path / "S.template.json"
    template_file.write_text(json.dumps(template))
    destination = {
        "bucketName": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}",
        "objectKey": "abc.zip",
    }
    (tmp_path / "S.assets.json").write_text(
        json.dumps(
            {
                "files": {
                    "abc": {
                        "source": {"path": "asset.abc", "packaging": "zip"},
                        "destinations": {"d": destination},
                    }
                }
            }
        )
    )
    return assembly.Stack("Dev", "S", "S", "S", template_file, {}, template)


TEMPLATE = {
    "Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "g", "RetentionInDays": 30}},
        "Bucket": {  # a queue notification: not applied, even with moto_properties.py (test_fidelity.py)
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {"Event": "s3:ObjectCreated:*", "Queue": "arn:aws:sqs:us-east-1:123456789012:q"}
                    ]
                }
            },
        },
        "Query": {  # no moto service holds it: modelled
            "Type": "AWS::Logs::QueryDefinition",
            "Properties": {"Name": "q", "QueryString": "fields @timestamp"},
        },
    }
}


def test_a_tiny_stack_on_moto_is_counted_as_written_lost_and_modelled(moto_account, tmp_path):
    # GIVEN a log group moto creates as written, a bucket it creates without a property, and a type
    # the rehearsal only models
    coverage = emulator_coverage.measure(moto_account, _stack(tmp_path, TEMPLATE), "unused", moto=True)
    # THEN each is counted once, in its own column
    assert coverage.states() == {
        "AWS::Logs::LogGroup Logs": "as written",
        "AWS::S3::Bucket Bucket": "props lost",
        "AWS::Logs::QueryDefinition Query": "modelled",
    }
    row = emulator_coverage.counts("S", list(coverage.states().values()))
    assert row == ["S", "3", "2", "1", "1", "1", "0", "0", "0"]
    # AND what bootstrap and the Assets action leave is there: the asset, packaged as a zip
    bucket = f"cdk-hnb659fds-assets-{emulator.ACCOUNT}-{emulator.REGION}"
    assert moto_account.client("s3").get_object(Bucket=bucket, Key="abc.zip")["Body"].read()[:2] == b"PK"


def test_without_another_emulators_models_a_modelled_type_is_missing_not_created(moto_account, tmp_path):
    # GIVEN the same stack read back as another emulator's is: no modelled types
    coverage = emulator_coverage.measure(moto_account, _stack(tmp_path, TEMPLATE), "unused", moto=False)
    # THEN the query definition, which no service holds here, is missing (no read-back for it)
    assert coverage.states()["AWS::Logs::QueryDefinition Query"] == "missing"


def test_a_removed_resource_leaves_placeholders_where_it_was_referenced():
    template = {
        "Resources": {
            "Gone": {"Type": "AWS::CodeDeploy::Application"},
            "Kept": {
                "Type": "AWS::IAM::Policy",
                "DependsOn": ["Gone", "Other"],
                "Properties": {
                    "A": {"Ref": "Gone"},
                    "B": {"Fn::GetAtt": ["Gone", "Arn"]},
                    "C": {"Fn::Sub": "x-${Gone}-${Gone.Arn}-${Other}"},
                },
            },
            "Other": {"Type": "AWS::SNS::Topic", "DependsOn": "Gone"},
        },
        "Outputs": {"O": {"Value": {"Ref": "Gone"}}},
    }
    body = emulator_coverage.without(template, {"Gone"}, "removed:{id}")
    assert set(body["Resources"]) == {"Kept", "Other"}
    assert body["Resources"]["Kept"]["Properties"] == {
        "A": "removed:Gone",
        "B": "removed:Gone",
        "C": {"Fn::Sub": "x-removed:Gone-removed:Gone-${Other}"},
    }
    assert body["Resources"]["Kept"]["DependsOn"] == ["Other"]
    assert "DependsOn" not in body["Resources"]["Other"]
    assert body["Outputs"]["O"]["Value"] == "removed:Gone"


def test_a_stages_throttle_is_read_back_and_a_different_one_is_lost(moto_account):
    # GIVEN a stage whose method settings hold a throttle (made through API Gateway's API)
    apigateway = moto_account.client("apigateway")
    api = apigateway.create_rest_api(name="a")["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    deployment = apigateway.create_deployment(restApiId=api)["id"]
    apigateway.create_stage(restApiId=api, stageName="dev", deploymentId=deployment)
    apigateway.update_stage(
        restApiId=api,
        stageName="dev",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "40"},
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "20"},
        ],
    )
    written = {
        "RestApiId": api,
        "StageName": "dev",
        "MethodSettings": [
            {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingBurstLimit": 40, "ThrottlingRateLimit": 20}
        ],
    }
    readers = service_readers.READERS
    # WHEN compared THEN it reads back as written (20.0 is 20)
    assert fidelity.compare(moto_account, "AWS::ApiGateway::Stage", "dev", written, readers) == []
    # AND a throttle the stage does not hold is lost
    written["MethodSettings"][0]["ThrottlingBurstLimit"] = 41
    assert fidelity.compare(moto_account, "AWS::ApiGateway::Stage", "dev", written, readers) == [
        "MethodSettings (lost)"
    ]


def test_a_request_validator_the_service_does_not_hold_fails_its_check(moto_account):
    # GIVEN an API without the validator a stack listed (MiniStack's validator is only an id)
    api = moto_account.client("apigateway").create_rest_api(name="a")["id"]
    check = service_readers.CHECKERS["AWS::ApiGateway::RequestValidator"]
    with pytest.raises(ClientError, match="GetRequestValidator"):
        check(moto_account, "abc123", {"RestApiId": api})


def test_a_type_the_emulator_refuses_is_removed_counted_rejected_and_the_rest_measured(
    moto_account, tmp_path, monkeypatch
):
    # GIVEN an emulator that refuses a type up front, as MiniStack does (its query definitions here)
    real_create = emulator_coverage.create
    refused = []

    def refusing(session, name, template, bucket, endpoint):
        if any(r["Type"] == "AWS::Logs::QueryDefinition" for r in template["Resources"].values()):
            refused.append(name)
            return {"Query": "rejected: AWS::Logs::QueryDefinition is an unrecognized resource type"}
        return real_create(session, name, template, bucket, endpoint)

    monkeypatch.setattr(emulator_coverage, "create", refusing)
    # WHEN the stack is measured
    coverage = emulator_coverage.measure(moto_account, _stack(tmp_path, TEMPLATE), "unused", moto=True)
    # THEN it was created without it, and it is counted rejected, the others as before
    assert refused == ["S"]
    assert coverage.states() == {
        "AWS::Logs::LogGroup Logs": "as written",
        "AWS::S3::Bucket Bucket": "props lost",
        "AWS::Logs::QueryDefinition Query": "rejected",
    }
    assert emulator_coverage.counts("S", list(coverage.states().values()))[-2:] == ["1", "0"]
