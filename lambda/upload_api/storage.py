"""S3 and DynamoDB writes for one upload, behind one small class.

The object is written first and the item second, so an item never points at a
missing object. If the item write fails, the object stays (the role may not
delete) under a fresh key nobody references: it is logged and counted as an
orphan, and the client gets a 5xx and may retry safely.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Optional

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from upload_api import direct
from upload_api.content import content_disposition
from upload_api.errors import BadRequest, StorageFailed, StorageUnavailable
from upload_api.request import DirectUploadRequest, UploadRequest
from upload_api.settings import Settings

KEY_PREFIX = "uploads/"
# S3 refuses keys over 1,024 UTF-8 bytes. The contract allows 255 characters of
# fileName, which in 4-byte characters would not fit next to a long productId.
MAX_KEY_BYTES = 1024
# Fail fast enough to answer inside API Gateway's 29 s integration timeout.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
# Presigned URLs are SigV4 (S3 refuses SSE-KMS requests signed otherwise), whatever the default.
S3_CLIENT_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
# Error codes that mean "try again later" rather than "this will never work".
RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "KMS.ThrottlingException",
    }
)
_SERIALIZER = TypeSerializer()
# The item's scanStatus while GuardDuty has not reported on the object (scan_result.py updates it).
SCAN_PENDING = "PENDING"


@dataclass(frozen=True)
class StoredFile:
    key: str
    version_id: str
    size: int
    content_type: str
    sha256: str
    scan_status: Optional[str] = None  # None: the stage does not scan uploads

    def as_dict(self) -> Dict[str, Any]:
        """The file as the 201 body and the item both carry it."""
        fields: Dict[str, Any] = {
            "key": self.key,
            "versionId": self.version_id,
            "size": self.size,
            "contentType": self.content_type,
            "sha256": self.sha256,
        }
        if self.scan_status is not None:
            fields["scanStatus"] = self.scan_status
        return fields


@dataclass(frozen=True)
class StoredUpload:
    request: UploadRequest
    file: StoredFile
    uploaded_at: str


class StorageError(Exception):
    """An AWS call failed; `stage` says which write, `retryable` whether to retry.

    `orphan`: the object already written when the item write failed (no item points at it).
    """

    def __init__(self, stage: str, code: str, retryable: bool, orphan: Optional[StoredFile] = None) -> None:
        super().__init__(f"{stage} failed: {code}")
        self.stage = stage
        self.code = code
        self.retryable = retryable
        self.orphan = orphan

    def to_api_error(self) -> Exception:
        if self.retryable:
            return StorageUnavailable("The upload could not be stored right now; try again later")
        return StorageFailed("The upload could not be stored")


def object_key(product_id: str, file_name: str, upload_id: str) -> str:
    """The only key shape: the client never picks a key, so it cannot overwrite or escape."""
    return f"{KEY_PREFIX}{product_id}/{upload_id}/{file_name}"


# uploads/{productId}/{uploadId}/{fileName}: productId never holds "/", the upload id is a uuid4.
_UPLOAD_ID = re.compile(
    "^" + re.escape(KEY_PREFIX) + r"[^/]+/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/."
)


def upload_id_of(key: str) -> Optional[str]:
    """The upload id (the uuid) of a key the API writes, or None for any other key."""
    match = _UPLOAD_ID.match(key)
    return match.group(1) if match else None


def check_key_fits(key: str, file_name: str) -> None:
    """400, not an S3 failure, when the key would exceed S3's limit: the client can fix it."""
    excess = len(key.encode("utf-8")) - MAX_KEY_BYTES
    if excess > 0:
        allowed = len(file_name.encode("utf-8")) - excess
        raise BadRequest(
            "fileName is too long for a storage key",
            [
                f"fileName: at most {allowed} bytes in UTF-8 with this productId "
                f"(S3 keys are <= {MAX_KEY_BYTES} bytes)"
            ],
            reason="key_too_long",
        )


def utc_timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class UploadStore:
    def __init__(
        self,
        *,
        s3_client: Any,
        dynamodb_client: Any,
        bucket_name: str,
        table_name: str,
        malware_scanning: bool = False,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        clock: Callable[[], str] = utc_timestamp,
        bucket_key_arn: Optional[str] = None,
        upload_url_seconds: int = 900,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._s3 = s3_client
        self._dynamodb = dynamodb_client
        self._bucket = bucket_name
        self._table = table_name
        self._scan_status = SCAN_PENDING if malware_scanning else None
        self._new_id = new_id
        self._clock = clock
        self._bucket_key_arn = bucket_key_arn
        self._upload_url_seconds = upload_url_seconds
        self._now = now

    @classmethod
    def from_settings(cls, settings: Settings) -> "UploadStore":
        # AWS_ENDPOINT_URL (moto locally) is honoured by boto3 itself: no code branch.
        return cls(
            s3_client=boto3.client("s3", config=S3_CLIENT_CONFIG),
            dynamodb_client=boto3.client("dynamodb", config=CLIENT_CONFIG),
            bucket_name=settings.bucket_name,
            table_name=settings.table_name,
            malware_scanning=settings.malware_scanning,
            bucket_key_arn=settings.bucket_key_arn,
            upload_url_seconds=settings.upload_url_seconds,
        )

    def announce(self, request: DirectUploadRequest) -> direct.AnnouncedUpload:
        """The pending record, then the URL: no URL is ever handed out that the finalizer cannot
        match to its request. The bytes never pass through here."""
        if self._bucket_key_arn is None:
            # A deployment error (the stack sets BUCKET_KEY_ARN): a URL without the key would
            # be refused by the bucket policy only if the client chose another key.
            raise StorageError("s3.presign", "BucketKeyNotConfigured", retryable=False)
        upload_id = self._new_id()
        key = object_key(request.product_id, request.file_name, upload_id)
        check_key_fits(key, request.file_name)
        signed_at = self._now()
        expires = signed_at + timedelta(seconds=self._upload_url_seconds)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=direct.pending_item(request, upload_id=upload_id, key=key, expires=expires),
                # A fresh uuid4 never collides; if it ever did, never overwrite another's record.
                ConditionExpression="attribute_not_exists(productId)",
            )
        except (ClientError, BotoCoreError) as error:
            raise _storage_error("dynamodb.put_item", error) from error
        headers = direct.upload_headers(request, self._bucket_key_arn)
        url = direct.presigned_put(
            self._s3, bucket=self._bucket, key=key, headers=headers, seconds=self._upload_url_seconds
        )
        return direct.AnnouncedUpload(
            request=request, key=key, url=url, headers=headers, expires_at=direct.expiry_text(expires)
        )

    def save(self, request: UploadRequest) -> StoredUpload:
        stored_file = self._put_object(request)
        uploaded_at = self._clock()
        item = {
            "productId": request.product_id,
            "productName": request.product_name,
            "price": request.price,
            "file": stored_file.as_dict(),
            "uploadedAt": uploaded_at,
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={name: _SERIALIZER.serialize(value) for name, value in item.items()},
            )
        except (ClientError, BotoCoreError) as error:
            raise _storage_error("dynamodb.put_item", error, orphan=stored_file) from error
        return StoredUpload(request=request, file=stored_file, uploaded_at=uploaded_at)

    def _put_object(self, request: UploadRequest) -> StoredFile:
        key = object_key(request.product_id, request.file_name, self._new_id())
        check_key_fits(key, request.file_name)
        try:
            # Default bucket encryption (SSE-KMS, our key, Bucket Key) applies;
            # S3 verifies the SHA-256 we send against the bytes it receives.
            # Content-Disposition: attachment, so no browser ever renders an upload inline.
            response = self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=request.content,
                ContentType=request.content_type,
                ContentDisposition=content_disposition(request.file_name),
                ChecksumSHA256=request.sha256_b64,
            )
        except (ClientError, BotoCoreError) as error:
            raise _storage_error("s3.put_object", error) from error
        return StoredFile(
            key=key,
            version_id=response.get("VersionId", ""),
            size=len(request.content),
            content_type=request.content_type,
            sha256=request.sha256_b64,
            scan_status=self._scan_status,
        )


def _storage_error(stage: str, error: Exception, orphan: Optional[StoredFile] = None) -> StorageError:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return StorageError(stage, code, code in RETRYABLE_CODES or status == 503, orphan)
    # Connection and timeout errors from botocore: transient by nature.
    return StorageError(stage, type(error).__name__, retryable=True, orphan=orphan)
