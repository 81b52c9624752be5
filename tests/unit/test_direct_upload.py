"""The direct-upload parts that need no AWS: settings, the SigV4 presigner, key and event parsing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from upload_api.finalizer import InvalidObjectEvent, candidate_keys, parse_object_created
from upload_api.request import DirectUploadRequest
from upload_api.settings import Settings, SettingsError
from upload_api.storage import UploadStore, upload_id_of

BASE_ENV = {"BUCKET_NAME": "b", "TABLE_NAME": "t"}
UPLOAD_ID = "0b7e2a3c-64f1-4c55-9a8e-1d2f3a4b5c6d"


@pytest.mark.parametrize(("value", "seconds"), [(None, 900), ("60", 60), ("900", 900), ("1", 1)])
def test_the_url_lifetime_defaults_to_15_minutes_and_never_exceeds_it(value: str | None, seconds: int):
    env = {**BASE_ENV, **({"UPLOAD_URL_SECONDS": value} if value is not None else {})}
    assert Settings.from_env(env).upload_url_seconds == seconds


@pytest.mark.parametrize("value", ["0", "901", "3600", "15m", "-5", "1.5"])
def test_a_url_lifetime_outside_1_to_900_seconds_is_a_deployment_error(value: str):
    with pytest.raises(SettingsError, match="UPLOAD_URL_SECONDS"):
        Settings.from_env({**BASE_ENV, "UPLOAD_URL_SECONDS": value})


def test_the_bucket_key_is_read_and_optional():
    assert Settings.from_env(BASE_ENV).bucket_key_arn is None
    arn = "arn:aws:kms:us-east-1:123456789012:key/k"
    assert Settings.from_env({**BASE_ENV, "BUCKET_KEY_ARN": arn}).bucket_key_arn == arn


def test_the_handler_s_own_s3_client_presigns_with_sigv4(monkeypatch: pytest.MonkeyPatch):
    # GIVEN the store the handler builds from its settings (presigning is local: no AWS call)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = Settings(
        bucket_name="b-direct", table_name="t", bucket_key_arn="arn:aws:kms:us-east-1:1:key/k"
    )
    store = UploadStore.from_settings(settings)
    # WHEN it signs a PUT THEN SigV4 (SSE-KMS requests signed otherwise are refused by S3)
    url = store._s3.generate_presigned_url("put_object", Params={"Bucket": "b-direct", "Key": "k"})
    assert parse_qs(urlsplit(url).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]


def test_without_the_bucket_key_no_url_is_handed_out():
    from upload_api.storage import StorageError

    store = UploadStore(s3_client=None, dynamodb_client=None, bucket_name="b", table_name="t")
    request = DirectUploadRequest(
        product_id="p",
        product_name="n",
        price=Decimal(1),
        file_name="f.pdf",
        content_type="application/pdf",
        sha256_b64="x" * 43 + "=",
        size=3,
    )
    with pytest.raises(StorageError) as caught:
        store.announce(request)
    assert (caught.value.code, caught.value.retryable) == ("BucketKeyNotConfigured", False)


@pytest.mark.parametrize(
    ("key", "upload_id"),
    [
        (f"uploads/p-1/{UPLOAD_ID}/manual.pdf", UPLOAD_ID),
        (f"uploads/p.1:x/{UPLOAD_ID}/a/b", UPLOAD_ID),
        (f"uploads/p-1/{UPLOAD_ID}/", None),
        (f"uploads/{UPLOAD_ID}/manual.pdf", None),
        (f"other/p-1/{UPLOAD_ID}/manual.pdf", None),
        ("malware-protection-resource-validation-object", None),
        (f"uploads/p-1/{UPLOAD_ID.upper()}/manual.pdf", None),
    ],
)
def test_the_upload_id_is_the_uuid_of_a_key_the_api_writes(key: str, upload_id: str | None):
    assert upload_id_of(key) == upload_id


def event(**detail_changes: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "bucket": {"name": "b"},
        "object": {"key": "uploads/p/x/f", "size": 3, "version-id": "v1"},
        "reason": "PutObject",
    }
    detail.update(detail_changes)
    return {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}


def test_an_object_created_event_gives_what_the_finalizer_needs():
    created = parse_object_created(event())
    assert (created.bucket, created.key, created.size, created.version_id, created.reason) == (
        "b",
        "uploads/p/x/f",
        3,
        "v1",
        "PutObject",
    )
    assert parse_object_created(event(reason=None)).reason is None


@pytest.mark.parametrize(
    "broken",
    [
        {"source": "aws.guardduty"},
        {"detail-type": "Object Deleted"},
        {"detail": None},
        {"detail": {"bucket": {"name": "b"}}},
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": "3", "version-id": "v"}}},
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": True, "version-id": "v"}}},
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": 3}}},
        {"detail": {"bucket": {"name": "b"}, "object": {"key": "", "size": 3, "version-id": "v"}}},
    ],
)
def test_anything_else_is_an_invalid_event(broken: dict[str, Any]):
    with pytest.raises(InvalidObjectEvent):
        parse_object_created({**event(), **broken})


def test_an_encoded_key_is_tried_as_sent_then_decoded():
    assert candidate_keys("uploads/p/x/a+b%C3%A9.pdf") == [
        "uploads/p/x/a+b%C3%A9.pdf",
        "uploads/p/x/a bé.pdf",
    ]
    assert candidate_keys("uploads/p/x/plain.pdf") == ["uploads/p/x/plain.pdf"]
