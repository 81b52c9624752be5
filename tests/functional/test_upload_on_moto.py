"""A successful upload on moto: the 201 body, the object, its encryption and the item."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal

import pytest

from tests.bodies import sha256_b64, valid_document

# Distinctive, binary, and not valid UTF-8: a stand-in for a real picture.
CONTENT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"LAMP-PIXELS-" * 64
UTC_MILLIS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def created(upload):
    """The 201 response to one valid upload of CONTENT."""
    response = upload(valid_document(CONTENT))
    assert response.status == 201, response.text
    return response


def test_created_body_has_exactly_the_contract_fields(created):
    # GIVEN a valid upload (the fixture)
    # WHEN the 201 body is read
    body = created.json
    # THEN it has the contract's fields and no others
    assert set(body) == {"productId", "productName", "price", "file", "uploadedAt"}
    assert set(body["file"]) == {"key", "versionId", "size", "contentType", "sha256"}


def test_created_body_echoes_the_product_and_describes_the_file(created):
    # GIVEN a valid upload
    # WHEN the 201 body is read
    body = created.json
    # THEN it echoes the product and describes the stored file
    assert (body["productId"], body["productName"]) == ("p-1", "Desk lamp")
    assert body["file"]["size"] == len(CONTENT)
    assert body["file"]["contentType"] == "image/png"
    assert body["file"]["sha256"] == sha256_b64(CONTENT)
    assert body["file"]["versionId"]
    assert UTC_MILLIS.fullmatch(body["uploadedAt"])


def test_created_body_writes_the_price_as_the_number_sent(created):
    # GIVEN a valid upload with price 29.99
    # WHEN the raw 201 body text is read
    text = created.text
    # THEN the price is the JSON number 29.99, not a string and not 29.989999...
    assert '"price":29.99,' in text
    assert json.loads(text, parse_float=Decimal)["price"] == Decimal("29.99")


def test_created_response_is_json_and_not_cacheable(created):
    # GIVEN a valid upload
    # WHEN the response headers are read
    headers = created.headers
    # THEN it is JSON, not to be cached or sniffed
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"


def test_key_is_uploads_product_uuid4_file_name(created):
    # GIVEN a valid upload
    # WHEN the key in the body is read
    key = created.json["file"]["key"]
    # THEN it is uploads/{productId}/{uuid4}/{fileName}
    prefix, product_id, upload_id, file_name = key.split("/")
    assert (prefix, product_id, file_name) == ("uploads", "p-1", "lamp.png")
    assert uuid.UUID(upload_id).version == 4


def test_object_at_key_and_version_holds_exactly_the_decoded_bytes(account, created):
    # GIVEN a valid upload
    file = created.json["file"]
    # WHEN the object is read back at its key and version
    stored = account.client("s3").get_object(
        Bucket=account.resources.bucket_name, Key=file["key"], VersionId=file["versionId"]
    )
    # THEN it holds the decoded bytes, byte for byte, with the declared type
    assert stored["Body"].read() == CONTENT
    assert stored["ContentType"] == "image/png"


def test_object_is_encrypted_with_the_template_bucket_key(account, created):
    # GIVEN a valid upload into the bucket the template describes
    file = created.json["file"]
    # WHEN the object's encryption is read
    head = account.client("s3").head_object(
        Bucket=account.resources.bucket_name, Key=file["key"], VersionId=file["versionId"]
    )
    # THEN it is SSE-KMS with the template's bucket key, through an S3 Bucket Key
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == account.bucket_key_arn
    assert head["BucketKeyEnabled"] is True


def test_item_holds_exact_price_and_the_same_file_metadata(account, created):
    # GIVEN a valid upload
    body = created.json
    # WHEN the item for (productId, productName) is read
    (item,) = account.items()
    # THEN it has the price as the exact decimal, and the file and time the body reported
    assert (item["productId"], item["productName"]) == ("p-1", "Desk lamp")
    assert item["price"] == Decimal("29.99")
    assert str(item["price"]) == "29.99"
    assert item["file"] == {**body["file"], "size": Decimal(len(CONTENT))}
    assert item["uploadedAt"] == body["uploadedAt"]


def test_reupload_replaces_the_item_and_keeps_the_earlier_object(account, upload):
    # GIVEN two uploads for the same (productId, productName) with different files and prices
    first = upload(valid_document(b"first version"))
    second = upload(valid_document(b"second version", price=31.5, contentType="text/plain"))
    assert (first.status, second.status) == (201, 201)
    # WHEN the table and the bucket are read
    items = account.items()
    s3 = account.client("s3")
    first_file = first.json["file"]
    earlier = s3.get_object(
        Bucket=account.resources.bucket_name, Key=first_file["key"], VersionId=first_file["versionId"]
    )
    # THEN one item remains, describing the second upload...
    assert len(items) == 1
    assert items[0]["file"]["key"] == second.json["file"]["key"]
    assert items[0]["price"] == Decimal("31.5")
    # ...and the first upload's object is still there, untouched, under its own key
    assert first_file["key"] != second.json["file"]["key"]
    assert earlier["Body"].read() == b"first version"
    assert len(account.object_versions()) == 2


def test_other_product_name_is_another_item(account, upload):
    # GIVEN two uploads for one productId under two product names
    upload(valid_document(b"a", productName="Desk lamp"))
    upload(valid_document(b"b", productName="Floor lamp"))
    # WHEN the table is read
    names = sorted(item["productName"] for item in account.items())
    # THEN each (productId, productName) pair has its own item
    assert names == ["Desk lamp", "Floor lamp"]


def test_four_mib_upload_is_stored_whole(account, upload):
    # GIVEN a file of exactly 4 MiB
    content = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    # WHEN it is uploaded
    response = upload(valid_document(content, fileName="big.bin"))
    # THEN it is created and the object has every byte
    assert response.status == 201, response.text
    file = response.json["file"]
    stored = account.client("s3").get_object(
        Bucket=account.resources.bucket_name, Key=file["key"], VersionId=file["versionId"]
    )
    assert stored["Body"].read() == content


@pytest.mark.parametrize("file_name", ["Prospekt ü.pdf", "报告.png", "💡.bin", "a b%2F?#.txt"])
def test_unicode_and_url_special_file_names_are_stored_under_the_exact_key(account, upload, file_name):
    # GIVEN a file name with non-ASCII or URL-special characters
    # WHEN it is uploaded
    response = upload(valid_document(b"x", fileName=file_name))
    # THEN the key ends with the name unchanged and the object is there
    assert response.status == 201, response.text
    key = response.json["file"]["key"]
    assert key.endswith(f"/{file_name}")
    account.client("s3").head_object(Bucket=account.resources.bucket_name, Key=key)


def test_rejected_upload_writes_nothing(account, upload):
    # GIVEN an upload whose checksum does not match
    document = valid_document(CONTENT, checksumSha256=sha256_b64(b"other"))
    # WHEN it is posted
    response = upload(document)
    # THEN it is a 400 and neither an object nor an item was written
    assert response.status == 400
    assert account.object_versions() == []
    assert account.items() == []
