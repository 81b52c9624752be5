"""The types moto's CloudFormation lacks, created in moto's services (rehearse/moto_models.py), and the
read-backs of what they and the API Gateway, dashboard and rule resources hold (service_readers.py)."""

from __future__ import annotations

import json

import pytest

from tools.review_kit.rehearse import deploy, emulator, service_models, service_readers

TAGS = [{"Key": "upload-api:app", "Value": "secure-upload-api"}]
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def _api() -> dict:
    """The stage's API as synthesized: a REST API, a validated, modelled POST, gateway responses,
    a deployment and an access-logged, traced, throttled stage, and the account's CloudWatch role."""
    api = {"Ref": "Api"}
    return {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "Dev-UploadApi"}},
        "Upload": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "upload",
                "RestApiId": api,
            },
        },
        "Model": {
            "Type": "AWS::ApiGateway::Model",
            "Properties": {
                "ContentType": "application/json",
                "Name": "UploadRequest",
                "RestApiId": api,
                "Schema": {"type": "object", "required": ["fileName"]},
            },
        },
        "Validator": {
            "Type": "AWS::ApiGateway::RequestValidator",
            "Properties": {"RestApiId": api, "ValidateRequestBody": True, "ValidateRequestParameters": True},
        },
        "Post": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "AuthorizationType": "AWS_IAM",
                "HttpMethod": "POST",
                "Integration": {
                    "IntegrationHttpMethod": "POST",
                    "Type": "AWS_PROXY",
                    "Uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations",
                },
                "RequestModels": {"application/json": {"Ref": "Model"}},
                "RequestValidatorId": {"Ref": "Validator"},
                "ResourceId": {"Ref": "Upload"},
                "RestApiId": api,
            },
        },
        "BadBody": {
            "Type": "AWS::ApiGateway::GatewayResponse",
            "Properties": {
                "ResponseParameters": {"gatewayresponse.header.Cache-Control": "'no-store'"},
                "ResponseTemplates": {"application/json": '{"message":$context.error.messageString}'},
                "ResponseType": "BAD_REQUEST_BODY",
                "RestApiId": api,
                "StatusCode": "400",
            },
        },
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "Properties": {"Description": "POST /upload", "RestApiId": api},
            "DependsOn": ["Post", "Model", "Validator", "BadBody"],
        },
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "AccessLogSetting": {
                    "DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:a",
                    "Format": "$context.requestId",
                },
                "DeploymentId": {"Ref": "Deployment"},
                "MethodSettings": [
                    {
                        "DataTraceEnabled": False,
                        "HttpMethod": "*",
                        "LoggingLevel": "INFO",
                        "MetricsEnabled": True,
                        "ResourcePath": "/*",
                        "ThrottlingBurstLimit": 2000,
                        "ThrottlingRateLimit": 1000,
                    }
                ],
                "RestApiId": api,
                "StageName": "dev",
                "Tags": TAGS,
                "TracingEnabled": True,
            },
        },
        "Account": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": "arn:aws:iam::123456789012:role/apigw-logs"},
        },
    }


def _observability() -> dict:
    """Alarms (one on a metric, one on metric math), the dashboard naming them, a metric filter,
    the alarm topic and a queue with their policies, a rule, a deployment group watching an alarm."""
    topic = {"Ref": "Topic"}
    return {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": topic,
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]}}},
                        }
                    ],
                },
                "Topics": [topic],
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue"},
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"PolicyDocument": POLICY, "Queues": [{"Ref": "Queue"}]},
        },
        "Errors": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmActions": [topic],
                "AlarmDescription": "queue not empty",
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
                "EvaluationPeriods": 1,
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Namespace": "AWS/SQS",
                "Period": 300,
                "Statistic": "Maximum",
                "Tags": TAGS,
                "Threshold": 1,
                "TreatMissingData": "notBreaching",
            },
        },
        "Latency": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "ComparisonOperator": "GreaterThanThreshold",
                "DatapointsToAlarm": 3,
                "EvaluationPeriods": 5,
                "Metrics": [
                    {
                        "Id": "m1",
                        "Label": "Latency p99",
                        "MetricStat": {
                            "Metric": {
                                "Dimensions": [{"Name": "Stage", "Value": "dev"}],
                                "MetricName": "Latency",
                                "Namespace": "AWS/ApiGateway",
                            },
                            "Period": 60,
                            "Stat": "p99",
                        },
                        "ReturnData": True,
                    }
                ],
                "OKActions": [topic],
                "Threshold": 3000,
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardBody": {
                    "Fn::Join": [
                        "",
                        ['{"widgets":[{"alarms":["', {"Fn::GetAtt": ["Latency", "Arn"]}, '"]}]}'],
                    ]
                }
            },
        },
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "access"}},
        "Throttled": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "FilterPattern": '{ $.status = "429" }',
                "LogGroupName": {"Ref": "Logs"},
                "MetricTransformations": [
                    {
                        "Dimensions": [{"Key": "ApiId", "Value": "$.apiId"}],
                        "MetricName": "Throttled429",
                        "MetricNamespace": "UploadApi",
                        "MetricValue": "1",
                        "Unit": "Count",
                    }
                ],
            },
            "DependsOn": ["Logs"],
        },
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Description": "bucket changes",
                "EventPattern": {"source": ["aws.s3"], "detail-type": ["AWS API Call via CloudTrail"]},
                "State": "ENABLED",
                "Tags": TAGS,
                "Targets": [
                    {
                        "Arn": topic,
                        "Id": "Target0",
                        "InputTransformer": {
                            "InputPathsMap": {"e": "$.detail.eventName"},
                            "InputTemplate": '"<e>"',
                        },
                    }
                ],
            },
        },
        "Application": {
            "Type": "AWS::CodeDeploy::Application",
            "Properties": {"ComputePlatform": "Lambda", "Tags": TAGS},
        },
        "Group": {
            "Type": "AWS::CodeDeploy::DeploymentGroup",
            "Properties": {
                "AlarmConfiguration": {"Alarms": [{"Name": {"Ref": "Latency"}}], "Enabled": True},
                "ApplicationName": {"Ref": "Application"},
                "AutoRollbackConfiguration": {"Enabled": True, "Events": ["DEPLOYMENT_FAILURE"]},
                "DeploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce",
                "DeploymentStyle": {
                    "DeploymentOption": "WITH_TRAFFIC_CONTROL",
                    "DeploymentType": "BLUE_GREEN",
                },
                "ServiceRoleArn": "arn:aws:iam::123456789012:role/codedeploy",
                "Tags": TAGS,
            },
        },
    }


def _deploy(session, template):
    session.client("cloudformation").create_stack(StackName="S", TemplateBody=json.dumps(template))
    return deploy.check_stack(session, "S", template)


def test_the_types_moto_lacks_are_created_in_its_services_and_read_back_as_written(moto_account):
    # GIVEN the stage's API and observability resources, as synthesized
    template = {"Resources": {**_api(), **_observability()}}
    # WHEN the stack is created and every resource read back through its service
    check = _deploy(moto_account, template)
    # THEN none is modelled: each is created, and every property reads back as written
    assert check.missing == []
    assert check.emulated == []
    assert check.fidelity.lost == {}
    assert len(check.fidelity.created_as_written) == len(template["Resources"])


def test_the_stage_and_the_method_hold_what_the_template_wrote(moto_account):
    # GIVEN the stage's API WHEN created
    _deploy(moto_account, {"Resources": _api()})
    apigateway = moto_account.client("apigateway")
    (api,) = apigateway.get_rest_apis()["items"]
    # THEN the stage has its access log setting and the throttling of every method (UpdateStage's paths)
    stage = apigateway.get_stage(restApiId=api["id"], stageName="dev")
    assert stage["accessLogSettings"]["format"] == "$context.requestId"
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 2000
    assert stage["methodSettings"]["*/*"]["loggingLevel"] == "INFO"
    assert stage["tracingEnabled"] is True
    # AND the method its request model and validator (moto's own model of it drops both)
    upload = next(
        r for r in apigateway.get_resources(restApiId=api["id"])["items"] if r.get("pathPart") == "upload"
    )
    method = apigateway.get_method(restApiId=api["id"], resourceId=upload["id"], httpMethod="POST")
    assert method["requestModels"] == {"application/json": "UploadRequest"}
    validators = apigateway.get_request_validators(restApiId=api["id"])["items"]
    assert method["requestValidatorId"] == validators[0]["id"]
    # AND the account its CloudWatch role, which a later stage's Preflight reads
    assert apigateway.get_account()["cloudwatchRoleArn"] == "arn:aws:iam::123456789012:role/apigw-logs"


def test_a_deployment_groups_alarms_are_answered_as_codedeploy_documents_them(moto_account):
    # GIVEN a deployment group that stops on an alarm (CodeDeploy API Reference, GetDeploymentGroup:
    # deploymentGroupInfo.alarmConfiguration {enabled, ignorePollAlarmFailure, alarms [{name}]})
    _deploy(moto_account, {"Resources": _observability()})
    codedeploy = moto_account.client("codedeploy")
    (application,) = codedeploy.list_applications()["applications"]
    (group,) = codedeploy.list_deployment_groups(applicationName=application)["deploymentGroups"]
    # WHEN it is read back THEN it answers the alarms it stops on
    info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)
    alarms = info["deploymentGroupInfo"]["alarmConfiguration"]
    assert alarms["enabled"] is True
    assert [a["name"] for a in alarms["alarms"]] == [
        moto_account.client("cloudwatch").describe_alarms(AlarmNamePrefix="S-Latency")["MetricAlarms"][0][
            "AlarmName"
        ]
    ]


def test_a_bucket_policy_is_applied_and_deleted_with_its_stack(moto_account):
    # GIVEN a bucket, and a stack holding its policy
    s3 = moto_account.client("s3")
    s3.create_bucket(Bucket="upload-bucket")
    template = {
        "Resources": {
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": "upload-bucket",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Resource": "arn:aws:s3:::upload-bucket/*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    },
                },
            },
        }
    }
    # WHEN created THEN S3 answers the policy, and it is created as written
    check = _deploy(moto_account, template)
    assert (
        json.loads(s3.get_bucket_policy(Bucket="upload-bucket")["Policy"])["Statement"][0]["Effect"] == "Deny"
    )
    assert check.fidelity.created_as_written == ["AWS::S3::BucketPolicy Policy"]
    # AND deleting the stack deletes the policy, not the bucket
    moto_account.client("cloudformation").delete_stack(StackName="S")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket="upload-bucket")
    s3.head_bucket(Bucket="upload-bucket")


def test_only_the_types_no_moto_service_holds_stay_modelled():
    # GIVEN the types moto's CloudFormation lacks THEN each is either created in a service or modelled
    assert set(emulator.EMULATED_TYPES).isdisjoint(service_models.MODELS)
    assert set(emulator.EMULATED_TYPES) == {
        "AWS::CDK::Metadata",
        "AWS::CodeBuild::ReportGroup",
        "AWS::GuardDuty::MalwareProtectionPlan",
        "AWS::Logs::QueryDefinition",
    }
    # AND every created type has a read-back of its properties and an existence check
    assert set(service_models.MODELS) <= set(service_readers.READERS)
    assert set(service_models.MODELS) <= set(deploy.CHECKERS)
