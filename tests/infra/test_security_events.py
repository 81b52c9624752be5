"""Key and bucket changes reach the alarm topic: EventBridge rules on CloudTrail's API events.

The events below are CloudTrail records in the shape the KMS and S3 documentation show
(KMS Developer Guide, "ScheduleKeyDeletion" log entry; CloudTrail's "AWS API Call via
CloudTrail" envelope), with this stack's key and bucket put in. moto's EventBridge pattern
matcher decides whether each rule's pattern (as synthesized, intrinsics resolved) matches.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from stages.upload.security_events import BUCKET_EVENT_NAMES, KEY_EVENT_NAMES
from tools.review_kit.iam.arns import KEY_ID, Env, Template
from tools.review_kit.iam.validity import resolve_document

from .conftest import Synthesized

pytestmark = pytest.mark.synth

ACCOUNT, REGION = "111111111111", "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"


def _cloudtrail_event(source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": ACCOUNT,
        "time": "2026-12-03T11:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
            },
            "eventTime": "2026-12-03T11:00:00Z",
            "awsRegion": REGION,
            "sourceIPAddress": "192.0.2.0",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
            **detail,
        },
    }


SCHEDULE_KEY_DELETION = _cloudtrail_event(
    "aws.kms",
    {
        "eventSource": "kms.amazonaws.com",
        "eventName": "ScheduleKeyDeletion",
        "requestParameters": {"pendingWindowInDays": 20, "keyId": KEY_ID},
        "responseElements": {"keyId": KEY_ARN, "keyState": "PendingDeletion"},
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
    },
)


def _bucket_event(bucket: str, event_name: str) -> dict[str, Any]:
    return _cloudtrail_event(
        "aws.s3",
        {
            "eventSource": "s3.amazonaws.com",
            "eventName": event_name,
            "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com"},
            "responseElements": None,
        },
    )


class Rules:
    def __init__(self, stage: Synthesized) -> None:
        raw = stage.template.to_json()
        self.template = Template(raw, Env("Dev-UploadApi", ACCOUNT, REGION))
        self.raw = raw
        self.rules = {k: v for k, v in raw["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
        self.bucket = self.template.name(stage.bucket_id)

    def rule(self, name: str) -> dict[str, Any]:
        (found,) = [v for k, v in self.rules.items() if name in k]
        return found

    def pattern(self, name: str) -> EventPattern:
        resolved = resolve_document(self.template, self.rule(name)["Properties"]["EventPattern"])
        return EventPattern.load(json.dumps(resolved))


@pytest.fixture(scope="module")
def rules(dev: Synthesized) -> Rules:
    return Rules(dev)


@pytest.mark.parametrize("event_name", KEY_EVENT_NAMES)
@pytest.mark.parametrize("key_id", ["id", "arn"])
def test_a_key_deletion_disable_or_policy_change_matches_the_key_rule(rules, event_name, key_id):
    # GIVEN CloudTrail's record of the call on one of this stack's keys, named by id or ARN
    event = copy.deepcopy(SCHEDULE_KEY_DELETION)
    event["detail"]["eventName"] = event_name
    event["detail"]["requestParameters"]["keyId"] = KEY_ID if key_id == "id" else KEY_ARN
    # THEN the key rule matches it, and the bucket rule does not
    assert rules.pattern("KeyChangesRule").matches_event(event)
    assert not rules.pattern("BucketChangesRule").matches_event(event)


def test_the_key_rule_ignores_other_keys_and_key_use(rules):
    other = copy.deepcopy(SCHEDULE_KEY_DELETION)
    other["detail"]["requestParameters"]["keyId"] = "99999999-9999-9999-9999-999999999999"
    decrypt = copy.deepcopy(SCHEDULE_KEY_DELETION)
    decrypt["detail"]["eventName"] = "Decrypt"
    assert not rules.pattern("KeyChangesRule").matches_event(other)
    assert not rules.pattern("KeyChangesRule").matches_event(decrypt)


def test_the_key_rule_watches_every_key_of_the_stack(dev, rules):
    watched = rules.rule("KeyChangesRule")["Properties"]["EventPattern"]["detail"]["requestParameters"][
        "keyId"
    ]
    keys = set(dev.of_type("AWS::KMS::Key"))
    # THEN each key is listed by its id (Ref) and by its ARN
    assert {ref["Ref"] for ref in watched if "Ref" in ref} == keys
    assert {ref["Fn::GetAtt"][0] for ref in watched if "Fn::GetAtt" in ref} == keys


@pytest.mark.parametrize(
    "event_name",
    [
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketLifecycle",
        "PutBucketVersioning",
        "PutBucketEncryption",
    ],
)
def test_bucket_policy_lifecycle_versioning_and_encryption_changes_match_the_bucket_rule(rules, event_name):
    assert event_name in BUCKET_EVENT_NAMES
    assert rules.pattern("BucketChangesRule").matches_event(_bucket_event(rules.bucket, event_name))


def test_the_bucket_rule_ignores_object_calls_and_other_buckets(rules):
    assert not rules.pattern("BucketChangesRule").matches_event(_bucket_event(rules.bucket, "PutObject"))
    assert not rules.pattern("BucketChangesRule").matches_event(
        _bucket_event("another-bucket", "PutBucketPolicy")
    )


@pytest.mark.parametrize("name", ["KeyChangesRule", "BucketChangesRule"])
def test_each_rule_sends_a_one_line_message_to_the_alarm_topic(dev, rules, name):
    ((topic_id, _),) = dev.of_type("AWS::SNS::Topic").items()
    (target,) = rules.rule(name)["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": topic_id}
    template = target["InputTransformer"]["InputTemplate"]
    assert "<detail-eventName>" in template
    assert "<detail-userIdentity-arn>" in template


def test_eventbridge_may_use_the_topic_key_and_only_these_rules_may_publish(dev):
    (topic,) = dev.of_type("AWS::SNS::Topic").values()
    key = dev.resources[topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert {
        "Sid": "AllowEventBridgeRulesToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    } in statements
    (policy,) = dev.of_type("AWS::SNS::TopicPolicy").values()
    (deny,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DenyEventBridgeRulesButThese"
    ]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"Service": "events.amazonaws.com"}
    rule_ids = {ref["Fn::GetAtt"][0] for ref in deny["Condition"]["ArnNotEquals"]["aws:SourceArn"]}
    # (every rule of the stage but the direct-upload finalizer's, which targets a function)
    finalizer_rule = dev.stack.get_logical_id(dev.stack.finalizer.rule.node.default_child)
    assert rule_ids == set(dev.of_type("AWS::Events::Rule")) - {finalizer_rule}


def test_undelivered_security_events_raise_an_alarm_on_the_dashboard(dev):
    (alarm,) = [
        v for k, v in dev.of_type("AWS::CloudWatch::Alarm").items() if "SecurityEventsUndelivered" in k
    ]
    metrics = [m["MetricStat"]["Metric"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m]
    assert {m["Namespace"] for m in metrics} == {"AWS/Events"}
    assert {m["MetricName"] for m in metrics} == {"FailedInvocations"}
    assert len(metrics) == 2


def test_undelivered_security_events_notify_the_alarm_topic(dev):
    # GIVEN the alarm on EventBridge's failed deliveries to the topic
    (alarm,) = [
        v for k, v in dev.of_type("AWS::CloudWatch::Alarm").items() if "SecurityEventsUndelivered" in k
    ]
    # THEN CloudWatch (whose delivery to the topic is its own) tells the topic's subscribers
    (topic_id,) = dev.of_type("AWS::SNS::Topic")
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
