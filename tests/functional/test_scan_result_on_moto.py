"""The scan-result function on moto: GuardDuty's event (tests/events/, the documented shape) sets
the uploaded item's file.scanStatus, and never the status of a later upload."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from upload_api import handler, scan_result
from upload_api.scan_result import InvalidScanEvent, ItemNotWrittenYet, ScanStatusStore
from upload_api.settings import Settings
from upload_api.storage import UploadStore

from tests.bodies import valid_document

from .support import EVENTS_DIR, FUNCTION, LocalLambdaContext, call_handler, make_event

SCAN_EVENT: dict[str, Any] = json.loads(
    (EVENTS_DIR / "guardduty_malware_scan_result.json").read_text(encoding="utf-8")
)
EVENT_TIME = datetime(2026, 11, 23, 4, 20, 5, tzinfo=UTC)
LATER = EVENT_TIME + timedelta(minutes=10)


@pytest.fixture
def scanning(account, moto_clients, monkeypatch):
    """The upload handler on a scanning stage and the scan-result function, both over one moto account."""
    s3, dynamodb = moto_clients
    names = {"bucket_name": account.resources.bucket_name, "table_name": account.resources.table_name}
    monkeypatch.setattr(
        handler, "store", UploadStore(s3_client=s3, dynamodb_client=dynamodb, malware_scanning=True, **names)
    )
    monkeypatch.setattr(scan_result, "settings", Settings(malware_scanning=True, **names))
    monkeypatch.setattr(
        scan_result, "store", ScanStatusStore(dynamodb_client=dynamodb, table_name=names["table_name"])
    )
    return account


def upload(**changes: Any) -> dict[str, Any]:
    response = call_handler(make_event(json.dumps(valid_document(**changes))))
    assert response.status == 201, response.text
    return response.json["file"]


def scan_event(account: Any, file: dict[str, Any], status: str = "NO_THREATS_FOUND") -> dict[str, Any]:
    """The documented event, pointed at an object this test uploaded."""
    event = copy.deepcopy(SCAN_EVENT)
    event["detail"]["s3ObjectDetails"].update(
        bucketName=account.resources.bucket_name, objectKey=file["key"], versionId=file["versionId"]
    )
    event["detail"]["scanResultDetails"]["scanResultStatus"] = status
    return event


def item_file(account: Any, product_name: str = "Desk lamp") -> dict[str, Any]:
    (item,) = [i for i in account.items() if i["productName"] == product_name]
    return item["file"]


def test_upload_on_a_scanning_stage_is_pending_in_the_item_and_the_201(scanning):
    # GIVEN a stage that scans uploads
    # WHEN a file is uploaded
    file = upload()
    # THEN the 201 body and the item both say PENDING
    assert file["scanStatus"] == "PENDING"
    assert item_file(scanning)["scanStatus"] == "PENDING"


@pytest.mark.parametrize("status", ["NO_THREATS_FOUND", "THREATS_FOUND"])
def test_scan_result_sets_the_items_scan_status(scanning, status):
    # GIVEN an upload waiting for its scan
    file = upload()
    # WHEN GuardDuty's result for that object arrives
    outcome = scan_result.handle(scan_event(scanning, file, status), now=lambda: LATER)
    # THEN the item carries GuardDuty's verdict and when it came
    assert outcome == "updated"
    stored = item_file(scanning)
    assert (stored["scanStatus"], stored["scannedAt"]) == (status, "2026-11-23T04:20:05Z")
    assert stored["key"] == file["key"]


@pytest.mark.parametrize("status", ["UNSUPPORTED", "ACCESS_DENIED", "FAILED"])
def test_a_scan_that_judged_nothing_is_recorded_as_such_not_as_clean(scanning, status):
    # GIVEN an upload waiting for its scan
    file = upload()
    # WHEN GuardDuty reports it could not judge the object
    scan_result.handle(scan_event(scanning, file, status), now=lambda: LATER)
    # THEN the item says so verbatim (as the object's tag does): never NO_THREATS_FOUND
    assert item_file(scanning)["scanStatus"] == status


def test_a_late_result_for_an_earlier_upload_never_touches_the_later_one(scanning):
    # GIVEN an upload, then a re-upload of the same product and name (it replaces the item)
    first = upload()
    second = upload()
    # WHEN the first object's scan result arrives late, saying THREATS_FOUND
    outcome = scan_result.handle(scan_event(scanning, first, "THREATS_FOUND"), now=lambda: LATER)
    # THEN nothing is updated: the item still points at the second object, still PENDING
    assert outcome == "unmatched"
    stored = item_file(scanning)
    assert stored["key"] == second["key"]
    assert stored["scanStatus"] == "PENDING"


def test_a_result_for_another_version_of_the_key_is_not_applied(scanning):
    # GIVEN an upload
    file = upload()
    # WHEN a result names the same key but another version
    event = scan_event(scanning, file, "NO_THREATS_FOUND")
    event["detail"]["s3ObjectDetails"]["versionId"] = "another-version"
    outcome = scan_result.handle(event, now=lambda: LATER)
    # THEN the item keeps PENDING
    assert outcome == "unmatched"
    assert item_file(scanning)["scanStatus"] == "PENDING"


def test_an_older_verdict_never_replaces_a_newer_one(scanning):
    # GIVEN an upload whose re-scan result (later) arrived first
    file = upload()
    newer = scan_event(scanning, file, "THREATS_FOUND")
    newer["time"] = "2026-11-23T05:00:00Z"
    scan_result.handle(newer, now=lambda: LATER)
    # WHEN the first scan's result (earlier) arrives after it
    outcome = scan_result.handle(scan_event(scanning, file, "NO_THREATS_FOUND"), now=lambda: LATER)
    # THEN the newer verdict stands
    assert outcome == "unmatched"
    stored = item_file(scanning)
    assert (stored["scanStatus"], stored["scannedAt"]) == ("THREATS_FOUND", "2026-11-23T05:00:00Z")


def test_the_same_event_delivered_twice_changes_nothing_more(scanning):
    # GIVEN a result already recorded (EventBridge delivers at least once)
    file = upload()
    event = scan_event(scanning, file, "NO_THREATS_FOUND")
    scan_result.handle(event, now=lambda: LATER)
    # WHEN it is delivered again
    outcome = scan_result.handle(event, now=lambda: LATER)
    # THEN it is applied again, to the same effect
    assert outcome == "updated"
    assert item_file(scanning)["scanStatus"] == "NO_THREATS_FOUND"


def test_only_the_item_of_that_object_changes(scanning):
    # GIVEN two products' names under one productId, each with its own upload
    lamp = upload()
    upload(productName="Desk lamp, blue")
    # WHEN the lamp's result arrives
    scan_result.handle(scan_event(scanning, lamp), now=lambda: LATER)
    # THEN only the lamp's item changed
    assert item_file(scanning)["scanStatus"] == "NO_THREATS_FOUND"
    assert item_file(scanning, "Desk lamp, blue")["scanStatus"] == "PENDING"


def test_a_fresh_result_with_no_item_yet_is_retried(scanning):
    # GIVEN a result for an object whose item is not written yet (the upload is still finishing)
    file = upload()
    event = scan_event(scanning, file)
    event["detail"]["s3ObjectDetails"]["objectKey"] = file["key"].replace("lamp.png", "other.png")
    # WHEN it arrives within the grace period
    # THEN the function raises, so Lambda retries it later
    with pytest.raises(ItemNotWrittenYet):
        scan_result.handle(event, now=lambda: EVENT_TIME + timedelta(seconds=5))


def test_a_percent_encoded_key_finds_its_item(scanning):
    # GIVEN an upload whose name has a space and a non-ASCII letter
    file = upload(fileName="Lampe grün.png")
    # WHEN the result names the key URL-encoded (as S3's own notifications do)
    event = scan_event(scanning, file)
    event["detail"]["s3ObjectDetails"]["objectKey"] = file["key"].replace("Lampe grün", "Lampe+gr%C3%BCn")
    scan_result.handle(event, now=lambda: LATER)
    # THEN the item is updated all the same
    assert item_file(scanning)["scanStatus"] == "NO_THREATS_FOUND"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: e.update(source="aws.s3"), id="other-source"),
        pytest.param(lambda e: e.update({"detail-type": "Object Created"}), id="other-detail-type"),
        pytest.param(lambda e: e["detail"].pop("s3ObjectDetails"), id="no-object"),
        pytest.param(
            lambda e: e["detail"]["scanResultDetails"].update(scanResultStatus=None), id="no-status"
        ),
        pytest.param(
            lambda e: e["detail"]["s3ObjectDetails"].update(bucketName="elsewhere"), id="other-bucket"
        ),
        pytest.param(lambda e: e.update(time="yesterday"), id="bad-time"),
    ],
)
def test_an_event_that_is_not_this_buckets_scan_result_is_refused(scanning, change):
    # GIVEN an upload and an event that is not a well-formed result for this bucket
    file = upload()
    event = scan_event(scanning, file)
    change(event)
    # WHEN it is handled
    # THEN it is refused (so it ends in the DLQ) and the item is untouched
    with pytest.raises(InvalidScanEvent):
        scan_result.handle(event, now=lambda: LATER)
    assert item_file(scanning)["scanStatus"] == "PENDING"


def test_lambda_handler_runs_the_documented_event_end_to_end(scanning, monkeypatch):
    # GIVEN an upload and the documented event for it, arriving well after the upload
    file = upload()
    monkeypatch.setattr(scan_result, "handle", lambda e, h=scan_result.handle: h(e, now=lambda: LATER))
    # WHEN Lambda invokes the entry point (Powertools decorators included)
    answer = scan_result.lambda_handler(scan_event(scanning, file), LocalLambdaContext(FUNCTION, "req-1"))
    # THEN it reports the update
    assert answer == {"outcome": "updated"}
    assert item_file(scanning)["scanStatus"] == "NO_THREATS_FOUND"
