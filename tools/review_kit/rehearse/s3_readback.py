"""S3's API answers in AWS::S3::Bucket's shape, so fidelity.py compares them with the template.

The API names the same settings differently from CloudFormation (AWS::S3::Bucket's reference
against the GetBucket* operations): encryption rules hold `ApplyServerSideEncryptionByDefault`
where the template writes `ServerSideEncryptionByDefault`; a lifecycle rule's `ID`,
`Expiration.Days` and `Transitions[].Days` are the template's `Id`, `ExpirationInDays` and
`Transitions[].TransitionInDays`; logging's `TargetBucket`/`TargetPrefix` are
`DestinationBucketName`/`LogFilePrefix`; an enabled EventBridge notification is an empty
`EventBridgeConfiguration` where the template writes `EventBridgeEnabled: true`. Anything else is
passed on as the API answers it (and compares only where the names agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def encryption(answer: Mapping[str, Any]) -> dict[str, Any]:
    """GetBucketEncryption's ServerSideEncryptionConfiguration as BucketEncryption."""
    rules = []
    for rule in answer.get("Rules", []):
        shaped = {k: v for k, v in rule.items() if k != "ApplyServerSideEncryptionByDefault"}
        if "ApplyServerSideEncryptionByDefault" in rule:
            shaped["ServerSideEncryptionByDefault"] = rule["ApplyServerSideEncryptionByDefault"]
        rules.append(shaped)
    return {"ServerSideEncryptionConfiguration": rules}


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    reshaped = ("ID", "Expiration", "Filter", "Transitions", "NoncurrentVersionTransitions")
    shaped = {k: v for k, v in rule.items() if k not in reshaped}
    if "ID" in rule:
        shaped["Id"] = rule["ID"]
    expiration = rule.get("Expiration") or {}
    for api, cfn in (
        ("Days", "ExpirationInDays"),
        ("Date", "ExpirationDate"),
        ("ExpiredObjectDeleteMarker", "ExpiredObjectDeleteMarker"),
    ):
        if api in expiration:
            shaped[cfn] = expiration[api]
    if "Prefix" in (rule.get("Filter") or {}):
        shaped["Prefix"] = rule["Filter"]["Prefix"]
    if rule.get("Transitions"):
        shaped["Transitions"] = [
            {
                "TransitionInDays" if k == "Days" else "TransitionDate" if k == "Date" else k: v
                for k, v in t.items()
            }
            for t in rule["Transitions"]
        ]
    if rule.get("NoncurrentVersionTransitions"):
        shaped["NoncurrentVersionTransitions"] = [
            {"TransitionInDays" if k == "NoncurrentDays" else k: v for k, v in t.items()}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    return shaped


def lifecycle(answer: Mapping[str, Any]) -> dict[str, Any]:
    """GetBucketLifecycleConfiguration's answer as LifecycleConfiguration."""
    return {"Rules": [_lifecycle_rule(rule) for rule in answer.get("Rules", [])]}


def logging(answer: Mapping[str, Any]) -> dict[str, Any]:
    """GetBucketLogging's LoggingEnabled as LoggingConfiguration."""
    enabled = answer["LoggingEnabled"]  # absent: logging is off (the caller reads that as lost)
    shaped = {
        "DestinationBucketName": enabled["TargetBucket"],
        "LogFilePrefix": enabled.get("TargetPrefix", ""),
    }
    if "TargetObjectKeyFormat" in enabled:
        shaped["TargetObjectKeyFormat"] = enabled["TargetObjectKeyFormat"]
    return shaped


def notification(answer: Mapping[str, Any]) -> dict[str, Any]:
    """GetBucketNotificationConfiguration's answer as NotificationConfiguration (EventBridge's part
    renamed; topic, queue and function configurations as the API names them)."""
    shaped = {k: v for k, v in answer.items() if k not in ("ResponseMetadata", "EventBridgeConfiguration")}
    if "EventBridgeConfiguration" in answer:
        shaped["EventBridgeConfiguration"] = {"EventBridgeEnabled": True}
    return shaped
