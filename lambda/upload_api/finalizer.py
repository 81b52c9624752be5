"""EventBridge target: a direct upload's object has arrived; write its item (contract v3).

The upload bucket sends S3's "Object Created" events to EventBridge; a rule hands those under
uploads/ to this function. For an object a 202 announced (a pending record under its upload id,
lambda/upload_api/direct.py), the item is written, and the pending record deleted, in one
DynamoDB transaction: exactly what a 201 stores (file.versionId, scanStatus PENDING where the
stage scans), once. Anything else is a no-op:

- no pending record: the inline path wrote the object (its item is already written), or this
  object was finalized before (an event delivered twice, or a replay of the same signed PUT);
- a pending record whose key, size or write differs from what arrived: never the item.

The SHA-256 is not read back here: the object can only have come through the URL, whose signed
x-amz-checksum-sha256 S3 checked against the bytes before storing them (BadDigest otherwise).
Reading it back (GetObjectAttributes) needs s3:GetObjectVersion, which the bucket policy denies
to everyone but GuardDuty's scanner until the object is scanned clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from upload_api import direct
from upload_api.settings import Settings
from upload_api.storage import CLIENT_CONFIG, SCAN_PENDING, StoredFile, upload_id_of, utc_timestamp
from upload_api.tracing import log_key, traces_without_file_names

SOURCE = "aws.s3"
DETAIL_TYPE = "Object Created"
# How the object was written: a presigned PUT is a PutObject; a copy or multipart upload is
# nothing the URL allows. Local mode may leave the field out.
EXPECTED_REASON = "PutObject"
FINALIZED = "finalized"
NOT_DIRECT = "not_direct"
MISMATCH = "mismatch"
ALREADY_FINALIZED = "already_finalized"
_SERIALIZER = TypeSerializer()


class InvalidObjectEvent(ValueError):
    """Not an S3 Object Created event this function can act on; retried, then kept in the DLQ."""


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str
    size: int
    version_id: str
    reason: Optional[str]


def parse_object_created(event: Dict[str, Any]) -> ObjectCreated:
    """detail.bucket.name, detail.object.{key, size, version-id}, detail.reason: checked."""
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidObjectEvent("not an S3 Object Created event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidObjectEvent("the event has no detail")
    bucket, obj = detail.get("bucket"), detail.get("object")
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise InvalidObjectEvent("detail lacks bucket or object")
    name, key, size, version = bucket.get("name"), obj.get("key"), obj.get("size"), obj.get("version-id")
    if not isinstance(name, str) or not isinstance(key, str) or not key:
        raise InvalidObjectEvent("detail lacks bucket.name or object.key")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidObjectEvent("detail.object.size is not a byte count")
    # The bucket is versioned: every object has a version, and the item must name it.
    if not isinstance(version, str) or not version:
        raise InvalidObjectEvent("detail.object.version-id is missing")
    reason = detail.get("reason")
    return ObjectCreated(
        bucket=name,
        key=key,
        size=size,
        version_id=version,
        reason=reason if isinstance(reason, str) else None,
    )


def candidate_keys(key: str) -> List[str]:
    """The key as the event carries it, then percent-decoded if that differs (S3's notifications
    encode keys; each candidate must still equal the pending record's key exactly)."""
    decoded = unquote_plus(key)
    return [key] if decoded == key else [key, decoded]


class UploadFinalizer:
    """Turns a pending record into the product item once its object has arrived."""

    def __init__(
        self,
        *,
        dynamodb_client: Any,
        table_name: str,
        malware_scanning: bool = False,
        clock: Callable[[], str] = utc_timestamp,
    ) -> None:
        self._dynamodb = dynamodb_client
        self._table = table_name
        self._scan_status = SCAN_PENDING if malware_scanning else None
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> "UploadFinalizer":
        return cls(
            dynamodb_client=boto3.client("dynamodb", config=CLIENT_CONFIG),
            table_name=settings.table_name,
            malware_scanning=settings.malware_scanning,
        )

    def finalize(self, created: ObjectCreated) -> str:
        """FINALIZED, NOT_DIRECT, MISMATCH or ALREADY_FINALIZED; raises for a retry."""
        for key in candidate_keys(created.key):
            upload_id = upload_id_of(key)
            if upload_id is None:
                continue
            response = self._dynamodb.get_item(
                TableName=self._table, Key=direct.pending_key(upload_id), ConsistentRead=True
            )
            if "Item" not in response:
                continue
            pending = direct.read_pending(response["Item"])
            if pending.key != key:
                continue
            if created.size != pending.size or created.reason not in (None, EXPECTED_REASON):
                return MISMATCH
            return self._write_item(upload_id, pending, created.version_id)
        return NOT_DIRECT

    def _write_item(self, upload_id: str, pending: direct.PendingUpload, version_id: str) -> str:
        stored = StoredFile(
            key=pending.key,
            version_id=version_id,
            size=pending.size,
            content_type=pending.content_type,
            sha256=pending.sha256,
            scan_status=self._scan_status,
        )
        item = {
            "productId": pending.product_id,
            "productName": pending.product_name,
            "price": pending.price,
            "file": stored.as_dict(),
            "uploadedAt": self._clock(),
        }
        try:
            # One transaction: the item appears exactly when the pending record goes, so a
            # retried or duplicated event finds no record and writes nothing a second time.
            self._dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {name: _SERIALIZER.serialize(value) for name, value in item.items()},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": direct.pending_key(upload_id),
                            "ConditionExpression": "attribute_exists(productId)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if _lost_to_another_finalizer(error):
                return ALREADY_FINALIZED
            raise
        return FINALIZED


def _lost_to_another_finalizer(error: ClientError) -> bool:
    """The delete's condition failed: another invocation finalized this upload meanwhile."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    return len(reasons) == 2 and reasons[1].get("Code") == "ConditionalCheckFailed"


logger = Logger()
tracer = traces_without_file_names()
metrics = Metrics()
settings = Settings.from_env()
finalizer = UploadFinalizer.from_settings(settings)


def handle(event: Dict[str, Any]) -> str:
    created = parse_object_created(event)
    if created.bucket != settings.bucket_name:
        raise InvalidObjectEvent("the object is in another bucket")
    outcome = finalizer.finalize(created)
    log_keys = {
        "key": log_key(created.key),
        "versionId": created.version_id,
        "size": created.size,
        "outcome": outcome,
    }
    if outcome == FINALIZED:
        metrics.add_metric(name="DirectUploadsFinalized", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="UploadedBytes", unit=MetricUnit.Bytes, value=created.size)
        logger.info("Direct upload stored", extra=log_keys)
    elif outcome == MISMATCH:
        metrics.add_metric(name="DirectUploadsRefused", unit=MetricUnit.Count, value=1)
        logger.warning("The object is not the announced one; no item written", extra=log_keys)
    else:
        logger.info("Nothing to finalize", extra=log_keys)
    return outcome


# capture_response=False: no object keys (file names) in X-Ray metadata.
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: Dict[str, Any], context: LambdaContext) -> Dict[str, str]:
    return {"outcome": handle(event)}
