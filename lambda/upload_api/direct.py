"""A direct upload (contract v3): the presigned PUT a client sends its file's bytes with, and the
pending record that lets the finalizer (finalizer.py) write the item once the object has arrived.

The URL is signed with the function's own role (SigV4, query-string form) for one PUT of one key.
botocore signs every request header as a header (X-Amz-SignedHeaders), none moves into the query:
Content-Type, Content-Length, Content-Disposition, x-amz-checksum-sha256 and the SSE-KMS pair.
S3 recomputes the signature from the headers the client sends, so a changed or missing one is
refused (SignatureDoesNotMatch); it refuses a body whose SHA-256 differs from the signed
x-amz-checksum-sha256 (BadDigest) or whose length differs from the signed Content-Length; and it
refuses any x-amz-* header the signature does not cover (tags, metadata, another key).

The pending record lives in the product table under a partition key no product can have
(`pending#{uploadId}`: `#` is outside productId's pattern), so the handler needs no new table and
no new permission, and the finalizer's own permissions on it are limited to that key space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Dict

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from upload_api.content import content_disposition
from upload_api.request import DirectUploadRequest

AWAITING_UPLOAD = "AWAITING_UPLOAD"
# The pending record's key: a productId the request schema can never accept (no `#` allowed).
PENDING_PARTITION_PREFIX = "pending#"
PENDING_SORT_KEY = "pending"
# The finalizer's IAM condition (dynamodb:LeadingKeys) matches this prefix.
PENDING_PARTITION_PATTERN = PENDING_PARTITION_PREFIX + "*"
PENDING_FIELD = "pendingUpload"
# The table's TTL attribute: only pending records carry it, so no product item ever expires.
TTL_ATTRIBUTE = "pendingExpiresAt"
# A PUT started just before the URL expires may take long for 5 GiB; S3 checks the signature when
# the request starts. The record outlives the URL by a day, then DynamoDB's TTL removes it.
PENDING_LIFETIME_AFTER_URL = timedelta(days=1)
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class AnnouncedUpload:
    request: DirectUploadRequest
    key: str
    url: str
    headers: Dict[str, str]
    expires_at: str  # ISO 8601 UTC, whole seconds, never later than the signature's own expiry


@dataclass(frozen=True)
class PendingUpload:
    """What the 202 promised: the item the finalizer writes once this object has arrived."""

    key: str
    product_id: str
    product_name: str
    price: Decimal
    content_type: str
    size: int
    sha256: str


def pending_key(upload_id: str) -> Dict[str, Any]:
    return {"productId": {"S": PENDING_PARTITION_PREFIX + upload_id}, "productName": {"S": PENDING_SORT_KEY}}


def upload_headers(request: DirectUploadRequest, bucket_key_arn: str) -> Dict[str, str]:
    """Every header the PUT must carry; each is signed, so S3 refuses the PUT if one differs.

    The key's ARN, as the bucket policy's DenyPutObjectWithAnotherKey compares it.
    """
    return {
        "Content-Type": request.content_type,
        "Content-Length": str(request.size),
        "Content-Disposition": content_disposition(request.file_name),
        "x-amz-checksum-sha256": request.sha256_b64,
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": bucket_key_arn,
    }


def presigned_put(s3_client: Any, *, bucket: str, key: str, headers: Dict[str, str], seconds: int) -> str:
    """A SigV4 query-string URL (SSE-KMS needs SigV4) for PutObject with exactly `headers`.

    Signed locally with the role's credentials: no AWS call. S3 also refuses the URL once the
    role's session credentials have expired, whatever X-Amz-Expires says (docs/api.md).
    """
    params = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": headers["Content-Type"],
        "ContentLength": int(headers["Content-Length"]),
        "ContentDisposition": headers["Content-Disposition"],
        "ChecksumSHA256": headers["x-amz-checksum-sha256"],
        "ServerSideEncryption": headers["x-amz-server-side-encryption"],
        "SSEKMSKeyId": headers["x-amz-server-side-encryption-aws-kms-key-id"],
    }
    url: str = s3_client.generate_presigned_url(
        "put_object", Params=params, ExpiresIn=seconds, HttpMethod="PUT"
    )
    return url


def pending_item(
    request: DirectUploadRequest, *, upload_id: str, key: str, expires: datetime
) -> Dict[str, Any]:
    """The pending record, typed for DynamoDB's low-level client."""
    pending = {
        "key": key,
        "productId": request.product_id,
        "productName": request.product_name,
        "price": request.price,
        "contentType": request.content_type,
        "size": request.size,
        "sha256": request.sha256_b64,
    }
    expires_epoch = int((expires + PENDING_LIFETIME_AFTER_URL).timestamp())
    return {
        **pending_key(upload_id),
        PENDING_FIELD: _SERIALIZER.serialize(pending),
        TTL_ATTRIBUTE: {"N": str(expires_epoch)},
    }


def read_pending(item: Dict[str, Any]) -> PendingUpload:
    """The pending record from a GetItem's Item (KeyError/TypeError: not a record this code wrote)."""
    pending = _DESERIALIZER.deserialize(item[PENDING_FIELD])
    return PendingUpload(
        key=pending["key"],
        product_id=pending["productId"],
        product_name=pending["productName"],
        price=pending["price"],
        content_type=pending["contentType"],
        size=int(pending["size"]),
        sha256=pending["sha256"],
    )


def expiry_text(moment: datetime) -> str:
    """Whole seconds, rounded down: the stated expiry is never after the signature's."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def accepted_body(announced: AnnouncedUpload, price: Any) -> Dict[str, Any]:
    """The 202 body: the file as it will be stored, and how to send it."""
    request = announced.request
    return {
        "productId": request.product_id,
        "productName": request.product_name,
        "price": price,
        "file": {
            "key": announced.key,
            "size": request.size,
            "contentType": request.content_type,
            "sha256": request.sha256_b64,
            "status": AWAITING_UPLOAD,
        },
        "upload": {
            "method": "PUT",
            "url": announced.url,
            "headers": announced.headers,
            "expiresAt": announced.expires_at,
        },
    }
