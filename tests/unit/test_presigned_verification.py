"""Local mode's S3 front refuses what S3 refuses in a presigned (SigV4 query-string) request.

The oracles: S3's documented presigned GET example (its published signature), and botocore's own
presigner for PUT URLs like the handler's. Every tamper case is refused with S3's error code and
status; the untouched request is accepted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tools.dev.local.s3_front import (
    Grant,
    IncomingRequest,
    S3Error,
    SigningSecret,
    check_body,
    error_body,
    verify_presigned,
)

REGION = "us-east-1"
SECRETS = {"testing": SigningSecret("testing", "testing", "testing")}
BODY = b"a direct upload's bytes\n" * 100
SHA256 = base64.b64encode(hashlib.sha256(BODY).digest()).decode("ascii")
KEY = "uploads/p-1/4f1c/desk lamp+manual (1).pdf"


def request_from(url: str, method: str, headers: Mapping[str, str]) -> IncomingRequest:
    parts = urlsplit(url)
    return IncomingRequest(method, parts.path, parts.query, {"Host": parts.netloc, **headers})


def presigned_put(expires: int = 900, **params: object) -> str:
    """A presigned PUT as the handler makes it, by botocore's presigner (the oracle)."""
    client = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:4566",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        config=Config(signature_version="s3v4"),
    )
    signed = {
        "Bucket": "local-bucket",
        "Key": KEY,
        "ContentType": "application/pdf",
        "ChecksumSHA256": SHA256,
        "ContentLength": len(BODY),
        "ServerSideEncryption": "aws:kms",
        **params,
    }
    return str(client.generate_presigned_url("put_object", Params=signed, ExpiresIn=expires))


SIGNED_HEADERS = {
    "Content-Type": "application/pdf",
    "x-amz-checksum-sha256": SHA256,
    "Content-Length": str(len(BODY)),
    "x-amz-server-side-encryption": "aws:kms",
}


def now() -> datetime:
    return datetime.now(UTC)


def refusal(request: IncomingRequest, at: datetime | None = None) -> S3Error:
    with pytest.raises(S3Error) as caught:
        verify_presigned(request, SECRETS, REGION, at or now())
    return caught.value


def test_the_documented_example_verifies():
    # GIVEN S3's documented presigned GET (AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, 86400 s)
    url = (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    secrets = {
        "AKIAIOSFODNN7EXAMPLE": SigningSecret(
            "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        )
    }
    signed_at = datetime(2013, 5, 24, tzinfo=UTC)
    # WHEN verified within its day THEN it grants GET of test.txt
    grant = verify_presigned(request_from(url, "GET", {}), secrets, REGION, signed_at + timedelta(hours=1))
    assert (grant.method, grant.bucket, grant.key) == ("GET", "examplebucket", "test.txt")
    # AND one changed hex digit of the documented signature is refused
    with pytest.raises(S3Error) as caught:
        verify_presigned(request_from(url[:-1] + "5", "GET", {}), secrets, REGION, signed_at)
    assert (caught.value.status, caught.value.code) == (403, "SignatureDoesNotMatch")


def test_the_untouched_put_is_granted_with_its_length_and_checksum():
    grant = verify_presigned(request_from(presigned_put(), "PUT", SIGNED_HEADERS), SECRETS, REGION, now())
    assert grant == Grant("PUT", "local-bucket", KEY, len(BODY), SHA256)
    check_body(grant, len(BODY), hashlib.sha256(BODY).digest())  # the announced bytes pass


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Content-Type", "text/html"),
        ("x-amz-checksum-sha256", base64.b64encode(hashlib.sha256(b"other").digest()).decode()),
        ("Content-Length", str(len(BODY) + 1)),
        ("x-amz-server-side-encryption", "AES256"),
        ("Host", "127.0.0.1:9999"),
    ],
)
def test_a_changed_signed_header_is_refused(header: str, value: str):
    headers = {**SIGNED_HEADERS, header: value}
    url = presigned_put()
    request = request_from(url, "PUT", headers)
    if header == "Host":
        request = IncomingRequest("PUT", request.raw_path, request.raw_query, headers)
    error = refusal(request)
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("missing", ["Content-Type", "x-amz-checksum-sha256", "x-amz-server-side-encryption"])
def test_a_missing_signed_header_is_refused(missing: str):
    headers = {name: value for name, value in SIGNED_HEADERS.items() if name != missing}
    error = refusal(request_from(presigned_put(), "PUT", headers))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


def test_an_unsigned_amz_header_is_refused():
    headers = {**SIGNED_HEADERS, "x-amz-acl": "public-read"}
    error = refusal(request_from(presigned_put(), "PUT", headers))
    assert (error.status, error.code) == (403, "AccessDenied")
    assert "not signed" in error.message


def test_another_key_is_refused():
    url = presigned_put().replace("manual%20%281%29.pdf", "other.pdf")
    assert "other.pdf" in url
    error = refusal(request_from(url, "PUT", SIGNED_HEADERS))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD"])
def test_another_method_is_refused(method: str):
    error = refusal(request_from(presigned_put(), method, SIGNED_HEADERS))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


def test_an_expired_url_is_refused():
    error = refusal(
        request_from(presigned_put(expires=60), "PUT", SIGNED_HEADERS), now() + timedelta(seconds=61)
    )
    assert (error.status, error.code, error.message) == (403, "AccessDenied", "Request has expired")


def test_a_url_used_before_its_date_is_refused():
    error = refusal(request_from(presigned_put(), "PUT", SIGNED_HEADERS), now() - timedelta(minutes=16))
    assert (error.status, error.code) == (403, "AccessDenied")


def test_expires_over_a_week_is_refused_even_if_signed():
    # botocore signs what it is given; S3 refuses more than 604800 seconds all the same
    error = refusal(request_from(presigned_put(expires=604_801), "PUT", SIGNED_HEADERS))
    assert (error.status, error.code) == (400, "AuthorizationQueryParametersError")


def test_a_changed_expiry_is_refused():
    url = presigned_put(expires=900).replace("X-Amz-Expires=900", "X-Amz-Expires=3600")
    error = refusal(request_from(url, "PUT", SIGNED_HEADERS))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


def test_a_bad_signature_is_refused():
    url = presigned_put()
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    tampered = url.replace(signature, signature[::-1])
    error = refusal(request_from(tampered, "PUT", SIGNED_HEADERS))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("old", "new", "status", "code"),
    [
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Algorithm=AWS4-HMAC-SHA1",
            400,
            "AuthorizationQueryParametersError",
        ),
        ("%2Fus-east-1%2F", "%2Feu-west-1%2F", 400, "AuthorizationQueryParametersError"),
        ("%2Fs3%2F", "%2Fexecute-api%2F", 400, "AuthorizationQueryParametersError"),
        ("X-Amz-Credential=testing", "X-Amz-Credential=AKIAUNKNOWN", 403, "InvalidAccessKeyId"),
        ("X-Amz-Security-Token=testing", "X-Amz-Security-Token=other", 400, "InvalidToken"),
        ("X-Amz-SignedHeaders=", "X-Amz-Ignored=", 400, "AuthorizationQueryParametersError"),
        ("X-Amz-Expires=900", "X-Amz-Expires=soon", 400, "AuthorizationQueryParametersError"),
    ],
)
def test_malformed_auth_parameters_are_refused(old: str, new: str, status: int, code: str):
    url = presigned_put()
    assert old in url
    error = refusal(request_from(url.replace(old, new), "PUT", SIGNED_HEADERS))
    assert (error.status, error.code) == (status, code)


def test_a_checksum_that_is_not_a_sha256_is_an_invalid_request():
    url = presigned_put(ChecksumSHA256="bm90IGEgc2hhMjU2")
    headers = {**SIGNED_HEADERS, "x-amz-checksum-sha256": "bm90IGEgc2hhMjU2"}
    error = refusal(request_from(url, "PUT", headers))
    assert (error.status, error.code) == (400, "InvalidRequest")


def test_the_body_must_have_the_announced_sha256():
    grant = verify_presigned(request_from(presigned_put(), "PUT", SIGNED_HEADERS), SECRETS, REGION, now())
    with pytest.raises(S3Error) as caught:
        check_body(grant, len(BODY), hashlib.sha256(BODY[:-1] + b"!").digest())
    assert (caught.value.status, caught.value.code) == (400, "BadDigest")


def test_the_body_must_have_the_signed_length():
    grant = verify_presigned(request_from(presigned_put(), "PUT", SIGNED_HEADERS), SECRETS, REGION, now())
    with pytest.raises(S3Error) as caught:
        check_body(grant, len(BODY) - 1, hashlib.sha256(BODY).digest())
    assert (caught.value.status, caught.value.code) == (400, "IncompleteBody")


def test_a_checksum_hoisted_to_the_query_is_checked_too():
    # GIVEN a URL presigned by botocore's S3 query signer with the checksum as a query parameter
    checksum = quote(SHA256, safe="")
    aws_request = AWSRequest(
        method="PUT",
        url=f"http://127.0.0.1:4566/local-bucket/k?x-amz-checksum-sha256={checksum}",
        headers={"Host": "127.0.0.1:4566", "Content-Type": "application/pdf"},
    )
    S3SigV4QueryAuth(Credentials("testing", "testing", "testing"), "s3", REGION, 900).add_auth(aws_request)
    request = request_from(aws_request.url, "PUT", {"Content-Type": "application/pdf"})
    # WHEN verified THEN the body is held to the parameter's SHA-256
    grant = verify_presigned(request, SECRETS, REGION, now())
    assert grant.checksum_sha256 == SHA256
    with pytest.raises(S3Error) as caught:
        check_body(grant, 5, hashlib.sha256(b"other").digest())
    assert caught.value.code == "BadDigest"
    # AND changing the parameter breaks the signature
    tampered = aws_request.url.replace(checksum, quote(base64.b64encode(bytes(32)).decode(), safe=""))
    assert (
        refusal(request_from(tampered, "PUT", {"Content-Type": "application/pdf"})).code
        == "SignatureDoesNotMatch"
    )


def test_the_error_document_is_s3s_xml():
    error = S3Error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    body = error_body(error, "/local-bucket/a&b", "REQ1").decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<Code>BadDigest</Code>" in body
    assert "<Resource>/local-bucket/a&amp;b</Resource>" in body
