"""EventBridge target: GuardDuty's verdict on an uploaded object becomes its item's `file.scanStatus`.

GuardDuty Malware Protection for S3 publishes one "GuardDuty Malware Protection Object Scan
Result" event per scanned object. The object key is uploads/{productId}/{uuid4}/{fileName}; the
item key is (productId, productName). So: Query the product's items for the one whose file is
this object, then update it only if it still points at this object and version. A re-upload for
the same (productId, productName) replaces the item with a new key, so a late result for the old
object finds nothing to update and can never overwrite the new upload's status.

The status is GuardDuty's scanResultStatus, verbatim: NO_THREATS_FOUND, THREATS_FOUND, or one of
UNSUPPORTED, ACCESS_DENIED, FAILED (the scan did not judge the object). Those three are kept as
they are, not folded into PENDING (no further result will come) nor into THREATS_FOUND (that
would report malware nobody found): the item then says exactly what the object's
GuardDutyMalwareScanStatus tag says, and only NO_THREATS_FOUND makes the object readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from upload_api.settings import Settings
from upload_api.storage import CLIENT_CONFIG, KEY_PREFIX
from upload_api.tracing import log_key, traces_without_file_names

DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
SOURCE = "aws.guardduty"
CLEAN = "NO_THREATS_FOUND"
INFECTED = "THREATS_FOUND"
# A result GuardDuty may add later is stored too (it is not CLEAN, so the object stays unreadable);
# anything not shaped like an enum value is refused as a malformed event.
_STATUS_SHAPE = re.compile(r"^[A-Z][A-Z_]{0,63}$")
# uploads/{productId}/{uuid4}/{fileName}: productId never holds "/" (the request schema's pattern).
_KEY_SHAPE = re.compile(
    r"^" + re.escape(KEY_PREFIX) + r"([A-Za-z0-9][A-Za-z0-9._:-]*)/[0-9a-f-]{36}/.+\Z", re.S
)
# The upload handler writes the item right after the object; a result this young that finds no
# item may have overtaken that write (or its retries, within the function's 29 s at most), so
# it is retried (Lambda retries an asynchronous invoke after about 1 and 3 minutes) instead of
# being dropped. An older one belongs to an object whose item was replaced or never written.
ITEM_WRITE_GRACE = timedelta(seconds=120)


class InvalidScanEvent(ValueError):
    """Not a scan result this function can act on; retried, then kept in the DLQ for a person."""


class ItemNotWrittenYet(RuntimeError):
    """No item points at a freshly scanned object yet: raise so Lambda retries the event."""


@dataclass(frozen=True)
class ScanResult:
    bucket: str
    key: str
    version_id: Optional[str]
    status: str
    scanned_at: str  # the event's time, ISO 8601 UTC
    scanned_at_time: datetime


def parse_scan_result(event: Dict[str, Any]) -> ScanResult:
    """The fields this function needs, checked; InvalidScanEvent for anything else."""
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidScanEvent("not a GuardDuty Malware Protection object scan result")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidScanEvent("the event has no detail")
    obj = detail.get("s3ObjectDetails")
    result = detail.get("scanResultDetails")
    if not isinstance(obj, dict) or not isinstance(result, dict):
        raise InvalidScanEvent("detail lacks s3ObjectDetails or scanResultDetails")
    bucket, key, version = obj.get("bucketName"), obj.get("objectKey"), obj.get("versionId")
    status = result.get("scanResultStatus")
    if not isinstance(bucket, str) or not isinstance(key, str) or not key:
        raise InvalidScanEvent("s3ObjectDetails lacks bucketName or objectKey")
    if version is not None and not isinstance(version, str):
        raise InvalidScanEvent("s3ObjectDetails.versionId is not a string")
    if not isinstance(status, str) or not _STATUS_SHAPE.match(status):
        raise InvalidScanEvent("scanResultDetails.scanResultStatus is missing or malformed")
    time_text = event.get("time")
    try:
        scanned = datetime.strptime(str(time_text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidScanEvent("the event's time is not ISO 8601 UTC") from None
    return ScanResult(
        bucket=bucket,
        key=key,
        version_id=version or None,
        status=status,
        scanned_at=str(time_text),
        scanned_at_time=scanned,
    )


def product_id_of(key: str) -> Optional[str]:
    """The productId of an upload key, or None when the key is not one the API writes."""
    match = _KEY_SHAPE.match(key)
    return match.group(1) if match else None


class ScanStatusStore:
    """Finds the item whose file is the scanned object and sets its scanStatus, conditionally."""

    def __init__(self, *, dynamodb_client: Any, table_name: str) -> None:
        self._dynamodb = dynamodb_client
        self._table = table_name

    @classmethod
    def from_settings(cls, settings: Settings) -> "ScanStatusStore":
        return cls(
            dynamodb_client=boto3.client("dynamodb", config=CLIENT_CONFIG), table_name=settings.table_name
        )

    def record(self, result: ScanResult) -> bool:
        """True when an item was updated; False when no item points at this object (version)."""
        for key in _candidate_keys(result.key):
            product_id = product_id_of(key)
            if product_id is None:
                continue
            for product_name in self._items_pointing_at(product_id, key):
                if self._update(product_id, product_name, key, result):
                    return True
        return False

    def _items_pointing_at(self, product_id: str, key: str) -> Iterator[str]:
        """productName of each item of `product_id` whose file.key is `key` (normally one)."""
        request: Dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "productId = :productId",
            "FilterExpression": "#file.#key = :key",
            "ProjectionExpression": "productName",
            "ExpressionAttributeNames": {"#file": "file", "#key": "key"},
            "ExpressionAttributeValues": {":productId": {"S": product_id}, ":key": {"S": key}},
        }
        while True:
            page = self._dynamodb.query(**request)
            for item in page.get("Items", []):
                yield item["productName"]["S"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update(self, product_id: str, product_name: str, key: str, result: ScanResult) -> bool:
        names = {"#file": "file", "#key": "key", "#status": "scanStatus", "#at": "scannedAt"}
        values: Dict[str, Any] = {
            ":key": {"S": key},
            ":status": {"S": result.status},
            ":at": {"S": result.scanned_at},
        }
        # The item may have been replaced between the Query and now: update only if it still
        # points at this very object, and at this version when GuardDuty names one; and never
        # with a verdict older than the one it holds (EventBridge may deliver a re-scan's result
        # and an earlier one in either order). The times are ISO 8601 UTC: text order is time order.
        condition = "#file.#key = :key AND (attribute_not_exists(#file.#at) OR #file.#at <= :at)"
        if result.version_id is not None:
            names["#version"] = "versionId"
            values[":version"] = {"S": result.version_id}
            condition += " AND #file.#version = :version"
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"productId": {"S": product_id}, "productName": {"S": product_name}},
                UpdateExpression="SET #file.#status = :status, #file.#at = :at",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _candidate_keys(key: str) -> List[str]:
    """The key as GuardDuty sent it, then percent-decoded if that differs.

    S3's own notifications URL-encode keys; whether GuardDuty's event does is not documented
    (unverified here). Trying the exact key first and the decoded one second is safe: an
    update needs an item whose file.key equals the candidate, and each key holds a fresh uuid4.
    """
    decoded = unquote_plus(key)
    return [key] if decoded == key else [key, decoded]


logger = Logger()
tracer = traces_without_file_names()
metrics = Metrics()
settings = Settings.from_env()
store = ScanStatusStore.from_settings(settings)


def handle(event: Dict[str, Any], now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> str:
    """What happened to one event: "updated" or "unmatched"; raises for retry or the DLQ."""
    result = parse_scan_result(event)
    if result.bucket != settings.bucket_name:
        raise InvalidScanEvent("the scan result is for another bucket")
    log_keys = {"key": log_key(result.key), "versionId": result.version_id, "scanStatus": result.status}
    if store.record(result):
        if result.status == INFECTED:
            metrics.add_metric(name="ThreatsFound", unit=MetricUnit.Count, value=1)
            logger.warning("Malware found in an upload; it stays unreadable", extra=log_keys)
        elif result.status != CLEAN:
            # Not judged: the object stays unreadable until someone scans it again.
            metrics.add_metric(name="ScansNotCompleted", unit=MetricUnit.Count, value=1)
            logger.warning("The scan did not judge the upload", extra=log_keys)
        else:
            logger.info("Scan result recorded", extra=log_keys)
        metrics.add_metric(name="ScanResultsRecorded", unit=MetricUnit.Count, value=1)
        return "updated"
    if now() - result.scanned_at_time < ITEM_WRITE_GRACE:
        logger.info("No item points at the scanned object yet; retrying", extra=log_keys)
        raise ItemNotWrittenYet("no item points at the scanned object yet")
    metrics.add_metric(name="ScanResultsUnmatched", unit=MetricUnit.Count, value=1)
    logger.warning(
        "No item to update: the upload was replaced, a newer verdict is recorded, or it was never stored",
        extra=log_keys,
    )
    return "unmatched"


# capture_response=False: no object keys (file names) in X-Ray metadata.
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: Dict[str, Any], context: LambdaContext) -> Dict[str, str]:
    return {"outcome": handle(event)}
