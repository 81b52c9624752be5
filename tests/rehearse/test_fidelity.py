"""What a deploy created as written (rehearse/fidelity.py): properties read back from moto."""

from __future__ import annotations

import json

import pytest

from tools.review_kit.rehearse import deploy, fidelity


def _deploy(session, template):
    session.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(template))
    return deploy.check_stack(session, "S", template)


def test_contains_holds_what_the_template_wrote_and_nothing_less():
    assert fidelity.contains({"A": 1, "B": [{"K": "v", "X": 2}]}, {"A": "1", "B": [{"K": "v"}]})
    assert not fidelity.contains({"A": 1}, {"A": 1, "B": 2})
    assert not fidelity.contains(fidelity.MISSING, "x")
    assert fidelity.contains('{"Statement": [{"Effect": "Allow"}]}', {"Statement": [{"Effect": "Allow"}]})


def test_a_property_holding_an_unresolved_attribute_is_not_proven_never_compared():
    # GIVEN a property whose value is a Fn::GetAtt the rehearsal cannot resolve (a Version's number),
    # read back by the very call that is keyed by it (it answers what it was asked)
    written = {"FunctionName": fidelity.UNRESOLVED}
    # WHEN compared THEN it is not proven: the placeholder never compares equal to itself
    assert fidelity.compare(None, "AWS::Lambda::Version", "fn:1", written) == [
        "FunctionName (not proven: an attribute the rehearsal cannot resolve)"
    ]


def test_a_property_moto_drops_is_lost_and_the_resource_not_created_as_written(moto_account):
    # GIVEN a bucket notifying a queue, which neither moto's CloudFormation nor the rehearsal's
    # patches (moto_properties.py: EventBridge only) apply
    queue = {"Event": "s3:ObjectCreated:*", "Queue": "arn:aws:sqs:us-east-1:123456789012:q"}
    template = {
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"NotificationConfiguration": {"QueueConfigurations": [queue]}},
            }
        }
    }
    # WHEN it is deployed and read back
    check = _deploy(moto_account, template)
    # THEN it exists, but is counted with a lost property, not as written
    assert check.deployed == ["AWS::S3::Bucket Bucket"]
    assert check.fidelity.lost == {"AWS::S3::Bucket Bucket": ["NotificationConfiguration (lost)"]}
    assert check.fidelity.as_summary()["createdAsWritten"] == 0


def test_a_log_groups_kms_key_is_applied_and_read_back(moto_account):
    # GIVEN a log group encrypted with a key (moto's CloudFormation dropped KmsKeyId before the patch)
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    template = {
        "Resources": {
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": "g", "KmsKeyId": key_arn, "RetentionInDays": 30},
            }
        }
    }
    # WHEN it is deployed THEN every property reads back: created as written
    check = _deploy(moto_account, template)
    assert check.fidelity.lost == {}
    assert check.fidelity.created_as_written == ["AWS::Logs::LogGroup Logs"]


def test_the_approval_records_log_group_policy_and_rule_are_deployed_as_written(moto_account):
    # GIVEN the pipeline stack's approval record as synthesized: a log group, its CloudWatch Logs
    # resource policy (a document given as joined text) and a rule writing to the group
    document = {
        "Fn::Join": [
            "",
            [
                '{"Statement":[{"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Effect":"Allow",'
                '"Principal":{"Service":["events.amazonaws.com","delivery.logs.amazonaws.com"]},"Resource":"',
                {"Fn::GetAtt": ["Log", "Arn"]},
                '"}],"Version":"2012-10-17"}',
            ],
        ]
    }
    template = {
        "Resources": {
            "Log": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 365}},
            "LogPolicy": {
                "Type": "AWS::Logs::ResourcePolicy",
                "Properties": {"PolicyName": "S-ApprovalRecordLogPolicy", "PolicyDocument": document},
            },
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["aws.codepipeline"]},
                    "State": "ENABLED",
                    "Targets": [
                        {
                            "Arn": {
                                "Fn::Join": [
                                    "",
                                    ["arn:aws:logs:us-east-1:123456789012:log-group:", {"Ref": "Log"}],
                                ]
                            },
                            "Id": "Target0",
                        }
                    ],
                },
            },
        }
    }
    # WHEN it is deployed and read back
    check = _deploy(moto_account, template)
    # THEN each resource is there, nothing is missing, and the policy holds the document as written
    assert check.missing == []
    assert sorted(check.deployed) == [
        "AWS::Events::Rule Rule",
        "AWS::Logs::LogGroup Log",
        "AWS::Logs::ResourcePolicy LogPolicy",
    ]
    assert "AWS::Logs::ResourcePolicy LogPolicy" in check.fidelity.created_as_written


def test_modelled_types_and_unreadable_properties_are_never_created_as_written(moto_account):
    # GIVEN a modelled type (no moto service holds it), and a type with no read-back of its properties
    template = {
        "Resources": {
            "Query": {
                "Type": "AWS::Logs::QueryDefinition",
                "Properties": {"Name": "q", "QueryString": "fields @timestamp"},
            },
            "Dashboard": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardName": "d", "DashboardBody": "{}"},
            },
        }
    }
    moto_account.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(template))
    readers = {t: r for t, r in deploy.READERS.items() if t != "AWS::CloudWatch::Dashboard"}
    check = deploy.check_stack(moto_account, "S", template, readers=readers)
    summary = check.fidelity.as_summary()
    assert (summary["total"], summary["createdAsWritten"], summary["modelled"]) == (2, 0, 1)
    assert summary["propertiesLost"] == [
        "AWS::CloudWatch::Dashboard Dashboard: DashboardBody (not proven), DashboardName (not proven)"
    ]


def test_a_tables_kms_encryption_and_point_in_time_recovery_are_applied(moto_account):
    # GIVEN a table encrypted with its own key and with point-in-time recovery, as the stage writes it
    # (moto's CloudFormation dropped both before the patch)
    template = {
        "Resources": {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ],
                    }
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {
                        "SSEEnabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]},
                    },
                },
            },
        }
    }
    # WHEN it is deployed THEN both read back from DynamoDB: the table is created as written
    check = _deploy(moto_account, template)
    assert "AWS::DynamoDB::Table Table" not in check.fidelity.lost
    assert "AWS::DynamoDB::Table Table" in check.fidelity.created_as_written


@pytest.mark.parametrize(("created", "short"), [(57, True), (58, False), (68, False)])
def test_a_stack_created_as_written_below_the_floor_is_named(created, short):
    # GIVEN a deploy row of a 68-resource stack (85% of 68 is 57.8) and a row without resources
    rows = [
        {"stage": "Dev", "action": "UploadApi.Deploy",
         "resources": {"total": 68, "createdAsWritten": created, "modelled": 3, "propertiesLost": []}},
        {"stage": "Dev", "action": "VerifyDev"},
    ]  # fmt: skip
    # WHEN the floor is checked THEN exactly a share under 85% is named, with its numbers
    found = fidelity.below_floor(rows)
    assert bool(found) is short
    if short:
        assert found == [
            "Dev/UploadApi.Deploy: 57 of 68 resources created as written (84%), below the rehearsal's "
            "floor of 85% (docs/rehearsal.md: what the emulator creates as written)"
        ]


def test_the_summary_counts_what_the_rehearsals_own_models_created():
    # GIVEN a stack with one resource of a type moto's CloudFormation creates and one the rehearsal's
    # model of a type moto lacks creates in moto's service (service_models.py)
    check = fidelity.Fidelity(
        total=2,
        created_as_written=["AWS::S3::Bucket Bucket", "AWS::CloudWatch::Alarm Alarm"],
    )
    # THEN both count as created as written, and the summary says how many came from the models
    summary = check.as_summary()
    assert (summary["createdAsWritten"], summary["createdByRehearsalModels"]) == (2, 1)
    assert "1 of them by the rehearsal's models" in check.line()
