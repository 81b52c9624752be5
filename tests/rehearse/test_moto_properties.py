"""The properties moto's CloudFormation drops, applied through its backends (rehearse/moto_properties.py)
and read back through each service's API (rehearse/fidelity.py, s3_readback.py)."""

from __future__ import annotations

import io
import json
import zipfile

from tools.review_kit.rehearse import deploy, fidelity

ACCOUNT = "123456789012"
TAGS = [{"Key": "upload-api:app", "Value": "secure-upload-api"}]
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


def _deploy(session, template, name="S"):
    session.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return deploy.check_stack(session, name, template)


def _logging_target(session, name="access-logs"):
    """A bucket whose policy lets S3's logging service write under it (moto checks it, as the
    template's access log bucket policy grants it)."""
    s3 = session.client("s3")
    s3.create_bucket(Bucket=name)
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    return lambda: s3.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


BUCKET = {
    "Type": "AWS::S3::Bucket",
    "Properties": {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {
                    "BucketKeyEnabled": True,
                    "ServerSideEncryptionByDefault": {"KMSMasterKeyID": KEY_ARN, "SSEAlgorithm": "aws:kms"},
                }
            ]
        },
        "LifecycleConfiguration": {
            "Rules": [
                {
                    "Id": "Noncurrent",
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
                    "Status": "Enabled",
                },
                {
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    "ExpirationInDays": 365,
                    "Id": "Expire",
                    "Status": "Enabled",
                },
            ]
        },
        "LoggingConfiguration": {"DestinationBucketName": "access-logs", "LogFilePrefix": "upload-bucket/"},
        "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "Tags": TAGS,
        "VersioningConfiguration": {"Status": "Enabled"},
    },
}


def test_a_buckets_configuration_is_applied_and_read_back_as_written(moto_account):
    # GIVEN the upload bucket as the stage writes it, logging into a bucket whose policy allows it
    _logging_target(moto_account)()
    # WHEN it is deployed THEN every property reads back from S3: created as written
    check = _deploy(moto_account, {"Resources": {"Bucket": BUCKET}})
    assert check.fidelity.lost == {}
    assert check.fidelity.created_as_written == ["AWS::S3::Bucket Bucket"]
    # AND S3's own answers are AWS's: the bucket key, and an EventBridge notification (an empty
    # EventBridgeConfiguration, GetBucketNotificationConfiguration's documented shape)
    s3 = moto_account.client("s3")
    name = moto_account.client("cloudformation").describe_stack_resource(
        StackName="S", LogicalResourceId="Bucket"
    )["StackResourceDetail"]["PhysicalResourceId"]
    (rule,) = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_notification_configuration(Bucket=name)["EventBridgeConfiguration"] == {}
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]


def test_logging_waits_for_the_target_buckets_policy_as_moto_requires_it(moto_account):
    # GIVEN a logging target whose policy is put only after the logged bucket exists
    put_policy = _logging_target(moto_account)
    check = _deploy(moto_account, {"Resources": {"Bucket": BUCKET}})
    # THEN until then, logging is not applied (read back as lost), never assumed
    assert check.fidelity.lost == {"AWS::S3::Bucket Bucket": ["LoggingConfiguration (lost)"]}
    # WHEN the target's policy is put THEN the logging configuration is applied
    put_policy()
    assert deploy.check_stack(moto_account, "S", {"Resources": {"Bucket": BUCKET}}).fidelity.lost == {}


def test_a_target_policy_put_after_the_logged_bucket_is_gone_still_succeeds(moto_account):
    # GIVEN a logged bucket waiting for its target's policy, then deleted with its stack
    put_policy = _logging_target(moto_account)
    _deploy(moto_account, {"Resources": {"Bucket": BUCKET}})
    moto_account.client("cloudformation").delete_stack(StackName="S")
    # WHEN the target's policy is put THEN S3 takes it (nothing is left to apply)
    put_policy()
    assert moto_account.client("s3").get_bucket_policy(Bucket="access-logs")["Policy"]


def test_a_bucket_update_applies_the_new_configuration(moto_account):
    # GIVEN a bucket created with no lifecycle and no public access block
    cloudformation = moto_account.client("cloudformation")
    bare = {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
    _deploy(moto_account, {"Resources": {"Bucket": bare}})
    # WHEN the stack is updated with a lifecycle rule and a public access block
    rules = {"Rules": [{"Id": "Expire", "ExpirationInDays": 30, "Status": "Enabled"}]}
    block = {"BlockPublicAcls": True, "RestrictPublicBuckets": True}
    updated = {
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    **bare["Properties"],
                    "LifecycleConfiguration": rules,
                    "PublicAccessBlockConfiguration": block,
                },
            }
        }
    }
    cloudformation.update_stack(StackName="S", TemplateBody=json.dumps(updated))
    # THEN S3 answers both (moto's update applies neither)
    assert deploy.check_stack(moto_account, "S", updated).fidelity.created_as_written == [
        "AWS::S3::Bucket Bucket"
    ]


def test_s3s_answers_are_read_in_the_templates_shape(moto_account):
    # GIVEN a bucket configured through S3's API (no CloudFormation): AES256 encryption (which moto's
    # CloudFormation always applied, but was read back under the API's ApplyServerSideEncryptionByDefault
    # and counted lost), a lifecycle rule and logging
    s3 = moto_account.client("s3")
    put_policy = _logging_target(moto_account)
    put_policy()
    s3.create_bucket(Bucket="api-bucket")
    s3.put_bucket_encryption(
        Bucket="api-bucket",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket="api-bucket",
        LifecycleConfiguration={
            "Rules": [{"ID": "Expire", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 365}}]
        },
    )
    s3.put_bucket_logging(
        Bucket="api-bucket",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "p/"}},
    )
    written = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        },
        "LifecycleConfiguration": {"Rules": [{"Id": "Expire", "Status": "Enabled", "ExpirationInDays": 365}]},
        "LoggingConfiguration": {"DestinationBucketName": "access-logs", "LogFilePrefix": "p/"},
    }
    # WHEN read back THEN each compares in AWS::S3::Bucket's names
    assert fidelity.compare(moto_account, "AWS::S3::Bucket", "api-bucket", written) == []
    # AND another value still reads as lost
    other = {"LoggingConfiguration": {"DestinationBucketName": "access-logs", "LogFilePrefix": "q/"}}
    assert fidelity.compare(moto_account, "AWS::S3::Bucket", "api-bucket", other) == [
        "LoggingConfiguration (lost)"
    ]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


ROLE = {
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
        },
        "Policies": [
            {
                "PolicyName": "ShiftLiveAlias",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "WatchTheRollbackAlarms",
                            "Effect": "Allow",
                            "Action": "cloudwatch:DescribeAlarms",
                            "Resource": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:a",
                        }
                    ],
                },
            }
        ],
    },
}


def _function_template() -> dict:
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
            "Handler": "index.handler",
            "Runtime": "python3.13",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Architectures": ["arm64"],
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": {
                "ApplicationLogLevel": "INFO",
                "LogFormat": "JSON",
                "LogGroup": "fn-logs",
                "SystemLogLevel": "WARN",
            },
            "DeadLetterConfig": {"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"},
            "Tags": TAGS,
        },
    }
    version = {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Function"}}}
    alias = {
        "Type": "AWS::Lambda::Alias",
        "Properties": {
            "FunctionName": {"Ref": "Function"},
            "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]},
            "Name": "live",
        },
    }
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventPattern": {"source": ["aws.s3"]},
            "Targets": [{"Arn": {"Fn::GetAtt": ["Function", "Arn"]}, "Id": "Target0"}],
        },
    }
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
        },
    }
    return {
        "Resources": {
            "Role": ROLE,
            "Function": function,
            "Version": version,
            "Alias": alias,
            "Rule": rule,
            "Permission": permission,
        }
    }


def test_a_functions_configuration_alias_and_rule_permission_read_back_as_written(moto_account):
    # GIVEN a function as the stage writes it (arm64, active tracing, JSON logging to its own group, a
    # dead-letter queue, tags), its role's inline policy, a version, the live alias on that version's
    # number, and a rule's permission to invoke it
    check = _deploy(moto_account, _function_template())
    # THEN every property reads back: the function's from Lambda, the role's inline policy from IAM,
    # the alias's version (Fn::GetAtt Version) and the permission's SourceArn (the rule's ARN)
    assert check.fidelity.lost == {}
    assert sorted(check.fidelity.created_as_written) == [
        "AWS::Events::Rule Rule",
        "AWS::IAM::Role Role",
        "AWS::Lambda::Alias Alias",
        "AWS::Lambda::Function Function",
        "AWS::Lambda::Permission Permission",
        "AWS::Lambda::Version Version",
    ]


def test_lambdas_answer_holds_logging_and_dead_letter_config_as_aws_documents(moto_account):
    # GIVEN a function created through Lambda's API with neither setting (moto's model has no field)
    iam = moto_account.client("iam")
    role = iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps(ROLE["Properties"]["AssumeRolePolicyDocument"])
    )
    client = moto_account.client("lambda")
    client.create_function(
        FunctionName="f",
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    # THEN its configuration answers Lambda's default logging: text, to /aws/lambda/<name>
    config = client.get_function_configuration(FunctionName="f")
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}
    assert "DeadLetterConfig" not in config
    # WHEN UpdateFunctionConfiguration sets both THEN they are answered
    client.update_function_configuration(
        FunctionName="f",
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "LogGroup": "g"},
        DeadLetterConfig={"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"},
    )
    config = client.get_function_configuration(FunctionName="f")
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "LogGroup": "g"}
    assert config["DeadLetterConfig"] == {"TargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"}


def test_a_rest_apis_policy_endpoint_tls_and_tags_read_back_as_written(moto_account):
    # GIVEN the REST API as the stage writes it: a resource policy, a regional endpoint, a TLS 1.3
    # security policy, strict endpoint access mode, tags
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyEveryoneElse",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "execute-api:Invoke",
                "Resource": "execute-api:/*",
            }
        ],
    }
    api = {
        "Type": "AWS::ApiGateway::RestApi",
        "Properties": {
            "Name": "Dev-UploadApi",
            "EndpointAccessMode": "STRICT",
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "Policy": policy,
            "SecurityPolicy": "SecurityPolicy_TLS13_1_3_2025_09",
            "Tags": TAGS,
        },
    }
    check = _deploy(moto_account, {"Resources": {"Api": api}})
    # THEN GetRestApi answers each (in the API's names: endpointConfiguration.types, securityPolicy,
    # endpointAccessMode, the policy as JSON text, tags as a map): created as written
    assert check.fidelity.lost == {}
    assert check.fidelity.created_as_written == ["AWS::ApiGateway::RestApi Api"]


def test_a_topics_tags_and_a_tables_time_to_live_read_back_as_written(moto_account):
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": TAGS}},
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": "pendingExpiresAt", "Enabled": True},
                },
            },
        }
    }
    check = _deploy(moto_account, template)
    assert check.fidelity.lost == {}
    assert sorted(check.fidelity.created_as_written) == [
        "AWS::DynamoDB::Table Table",
        "AWS::SNS::Topic Topic",
    ]
    # AND another attribute name is not taken for the one written
    name = moto_account.client("cloudformation").describe_stack_resource(
        StackName="S", LogicalResourceId="Table"
    )["StackResourceDetail"]["PhysicalResourceId"]
    other = {"TimeToLiveSpecification": {"AttributeName": "other", "Enabled": True}}
    assert fidelity.compare(moto_account, "AWS::DynamoDB::Table", name, other) == [
        "TimeToLiveSpecification (lost)"
    ]


def test_written_resolves_the_arns_and_version_number_aws_builds_from_the_ref():
    where = fidelity.intrinsics.Account(ACCOUNT, "us-east-1")
    written = fidelity.Written(
        where,
        {"Rule": "r", "Alarm": "a", "Version": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:3"},
        {"Rule": "AWS::Events::Rule", "Alarm": "AWS::CloudWatch::Alarm", "Version": "AWS::Lambda::Version"},
    )
    assert written.get_att("Rule", "Arn") == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"
    assert written.get_att("Alarm", "Arn") == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:a"
    assert written.get_att("Version", "Version") == "3"
    assert written.get_att("Rule", "EventBusName") == fidelity.UNRESOLVED


def test_a_keys_rotation_period_reads_back_as_written(moto_account):
    # GIVEN a key as the stacks write it: rotation on, every 90 days
    key = {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "EnableKeyRotation": True,
            "RotationPeriodInDays": 90,
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
            },
        },
    }
    check = _deploy(moto_account, {"Resources": {"Key": key}})
    # THEN GetKeyRotationStatus answers the period, as KMS documents, and the key is as written
    assert check.fidelity.lost == {}
    assert check.fidelity.created_as_written == ["AWS::KMS::Key Key"]
