"""Local mode's S3 endpoint: checks presigned requests as S3 does, then hands them to moto.

moto accepts a presigned URL without checking its signature, expiry or the body's checksum, so
on its own it would store whatever a client sends. The handler's S3 client points here
(AWS_ENDPOINT_URL_S3), so the URLs it presigns name this front; the front

- refuses a presigned (SigV4 query-string) request that S3 would refuse, with S3's XML error:
  parameters present and well formed, credential scope (this region, `s3`, `aws4_request`,
  the date of X-Amz-Date), a known access key and its session token, not yet valid or expired
  (X-Amz-Date + X-Amz-Expires, at most 604800 s), every signed header present, every
  `x-amz-*` header signed, and the signature over the canonical request (method, the path
  as the key, query, signed headers, UNSIGNED-PAYLOAD) recomputed by botocore's presigner;
- reads the body to a spooled file and refuses one whose SHA-256 differs from
  `x-amz-checksum-sha256` (header or query parameter) before anything reaches moto;
- forwards the accepted request to moto, and after a stored PUT calls `on_object_created`
  with the EventBridge "Object Created" event S3 would send (the finalizer, in local mode);
- forwards requests signed in the Authorization header (the handler's own S3 calls) unchecked,
  and refuses anonymous ones (the bucket blocks public access) and ones that carry both forms.

It does not check Content-MD5, SigV2 or SigV4a, POST policies, bucket policies or IAM.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import socket
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tools.common.s3_presign import S3_SERVICE, presigned_s3_signature

logger = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES_S = 604_800  # seven days: S3's limit for a SigV4 presigned URL
CLOCK_SKEW = timedelta(minutes=15)  # how far in the future S3 accepts X-Amz-Date
MAX_PUT_BYTES = 5 * 1024**3  # a single PUT stores at most 5 GiB
SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024  # larger bodies go to a temporary file, never all in memory
CHUNK_BYTES = 1024 * 1024
AUTH_PARAMS: tuple[str, ...] = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires")
AUTH_PARAMS += ("X-Amz-SignedHeaders", "X-Amz-Signature")
CHECKSUM_HEADER = "x-amz-checksum-sha256"
_VIRTUAL_HOST = re.compile(r"^([a-z0-9][a-z0-9.-]*)\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?(?::\d+)?$")
# Never forwarded as received: they describe one hop, not the request. `expect` is answered here
# (100 Continue): moto's server would leave the client waiting.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})
HOP_BY_HOP |= {"host", "content-length", "expect"}


class S3Error(Exception):
    """An answer S3 gives instead of doing the request: its status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _query_error(message: str) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", message)


SIGNATURE_DOES_NOT_MATCH = S3Error(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)


@dataclass(frozen=True)
class SigningSecret:
    """What S3 knows of one access key: its secret and, for temporary credentials, the token."""

    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True)
class IncomingRequest:
    """One request as received: the path and query exactly as sent, the headers by name."""

    method: str
    raw_path: str  # without the query
    raw_query: str
    headers: Mapping[str, str]  # case-insensitive names

    @property
    def query(self) -> dict[str, str]:
        """Each parameter decoded (RFC 3986: `+` is a plus); a repeated name keeps its last value."""
        pairs = (part.partition("=") for part in self.raw_query.split("&") if part)
        return {unquote(name): unquote(value) for name, _, value in pairs}

    @property
    def is_presigned(self) -> bool:
        return not {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"}.isdisjoint(self.query)


@dataclass(frozen=True)
class Grant:
    """What a verified presigned URL allows: one method on one key, and what the body must be."""

    method: str
    bucket: str
    key: str
    signed_length: int | None  # Content-Length, when it was signed
    checksum_sha256: str | None  # base64, from the header or the query


def verify_presigned(
    request: IncomingRequest, secrets: Mapping[str, SigningSecret], region: str, now: datetime
) -> Grant:
    """The grant of a presigned SigV4 request S3 would accept; otherwise the S3Error it answers."""
    params = request.query
    if any(name not in params for name in AUTH_PARAMS):
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    signed_at = _signing_time(params["X-Amz-Date"])
    expires = _expires_seconds(params["X-Amz-Expires"])
    secret = _scoped_secret(params["X-Amz-Credential"], signed_at, region, secrets)
    if secret.token is not None and params.get("X-Amz-Security-Token") != secret.token:
        raise S3Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    if signed_at - now > CLOCK_SKEW:
        raise S3Error(403, "AccessDenied", "Request is not valid yet")
    if now > signed_at + timedelta(seconds=expires):
        raise S3Error(403, "AccessDenied", "Request has expired")

    signed_names = params["X-Amz-SignedHeaders"].lower().split(";")
    if "host" not in signed_names:
        raise _query_error("X-Amz-SignedHeaders must include host")
    received = {name.lower(): value for name, value in request.headers.items()}
    if any(name.startswith("x-amz-") and name not in signed_names for name in received):
        raise S3Error(403, "AccessDenied", "There were headers present in the request which were not signed")
    if any(name not in received for name in signed_names):
        raise SIGNATURE_DOES_NOT_MATCH  # the canonical request names a header the request lacks

    canonical_path = quote(unquote(request.raw_path), safe="/~")
    url = f"http://{received['host']}{canonical_path}"
    unsigned_params = {name: value for name, value in params.items() if name != "X-Amz-Signature"}
    expected = presigned_s3_signature(
        Credentials(secret.access_key, secret.secret_key, secret.token),
        region,
        request.method,
        url,
        unsigned_params,
        {name: received[name] for name in signed_names},
        params["X-Amz-Date"],
    )
    if not hmac.compare_digest(expected, params["X-Amz-Signature"].lower()):
        raise SIGNATURE_DOES_NOT_MATCH
    return _grant(request, received, signed_names, params)


def _signing_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"") from None


def _expires_seconds(text: str) -> int:
    if not text.isdigit():
        raise _query_error("X-Amz-Expires should be a number")
    expires = int(text)
    if expires > MAX_EXPIRES_S:
        raise _query_error("X-Amz-Expires must be less than a week (in seconds) that is 7 days")
    return expires


def _scoped_secret(
    credential: str, signed_at: datetime, region: str, secrets: Mapping[str, SigningSecret]
) -> SigningSecret:
    """The secret of the credential's access key, once its scope is this date, region and S3."""
    parts = credential.split("/")
    if len(parts) != 5:
        raise _query_error("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed")
    access_key, date, scope_region, service, terminator = parts
    if date != signed_at.strftime("%Y%m%d"):
        raise _query_error("Error parsing the X-Amz-Credential parameter; the date does not match X-Amz-Date")
    if scope_region != region:
        raise _query_error(
            f"Error parsing the X-Amz-Credential parameter; the region '{scope_region}' is wrong; "
            f"expecting '{region}'"
        )
    if service != S3_SERVICE:
        raise _query_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect service "{service}". '
            f'This endpoint belongs to "{S3_SERVICE}".'
        )
    if terminator != "aws4_request":
        raise _query_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect terminal "{terminator}". '
            'This endpoint uses "aws4_request".'
        )
    if access_key not in secrets:
        raise S3Error(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    return secrets[access_key]


def _grant(
    request: IncomingRequest, received: Mapping[str, str], signed_names: list[str], params: Mapping[str, str]
) -> Grant:
    bucket, key = bucket_and_key(received["host"], request.raw_path)
    checksum = received.get(CHECKSUM_HEADER, params.get(CHECKSUM_HEADER))
    if checksum is not None and not _is_sha256_base64(checksum):
        raise S3Error(400, "InvalidRequest", f"Value for {CHECKSUM_HEADER} header is invalid.")
    length = received.get("content-length") if "content-length" in signed_names else None
    return Grant(request.method, bucket, key, int(length) if length and length.isdigit() else None, checksum)


def bucket_and_key(host: str, raw_path: str) -> tuple[str, str]:
    """Virtual-hosted (`bucket.s3.region.amazonaws.com/key`) or path-style (`host/bucket/key`)."""
    path = unquote(raw_path).lstrip("/")
    virtual = _VIRTUAL_HOST.match(host)
    if virtual:
        return virtual.group(1), path
    bucket, _, key = path.partition("/")
    return bucket, key


def _is_sha256_base64(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == hashlib.sha256().digest_size
    except (binascii.Error, ValueError):
        return False


def check_body(grant: Grant, received_length: int, sha256_digest: bytes) -> None:
    """Refuse a body S3 would refuse: not the signed length, or not the announced SHA-256."""
    if grant.signed_length is not None and received_length != grant.signed_length:
        raise S3Error(
            400,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        )
    if grant.checksum_sha256 is not None and not hmac.compare_digest(
        base64.b64encode(sha256_digest).decode("ascii"), grant.checksum_sha256
    ):
        raise S3Error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")


def error_body(error: S3Error, resource: str, request_id: str) -> bytes:
    """S3's XML error document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def object_created_event(
    bucket: str, key: str, size: int, etag: str, version_id: str | None, region: str, account: str
) -> dict[str, Any]:
    """The EventBridge event S3 sends for a stored object ("Object Created", reason PutObject)."""
    now = datetime.now(UTC)
    detail_object: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"')}
    if version_id:
        detail_object["version-id"] = version_id
    detail_object["sequencer"] = f"{int(now.timestamp() * 1e6):X}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": detail_object,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "reason": "PutObject",
        },
    }


ObjectCreatedHook = Callable[[dict[str, Any]], None]


class S3Front:
    """The front on its own loopback port and thread; bound at construction, serving after `start`."""

    def __init__(
        self,
        upstream: str,
        secrets: Mapping[str, SigningSecret],
        region: str,
        account: str,
        on_object_created: ObjectCreatedHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        host: str = "127.0.0.1",
    ) -> None:
        self._upstream = upstream.rstrip("/")
        self._secrets = dict(secrets)
        self._region = region
        self._account = account
        self._on_object_created = on_object_created
        self._clock = clock
        self._socket = socket.create_server((host, 0))
        self.url = f"http://{host}:{self._socket.getsockname()[1]}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-s3-front", daemon=True)
        # One finalizer at a time, as one Lambda execution environment runs one event at a time.
        self._hooks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-s3-events")
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> S3Front:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)
        self._hooks.shutdown(wait=True)
        self._socket.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop))
        finally:
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._stop = loop, asyncio.Event()
        runner = web.ServerRunner(web.Server(self._answer, access_log=None), handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, self._socket).start()
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            self._session = session
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    async def _answer(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = uuid.uuid4().hex[:16].upper()
        incoming = IncomingRequest(
            request.method, request.raw_path.partition("?")[0], request.query_string, request.headers
        )
        try:
            if incoming.is_presigned and "Authorization" in request.headers:
                raise S3Error(400, "InvalidArgument", "Only one auth mechanism allowed")
            if incoming.is_presigned:
                return await self._presigned(request, incoming, request_id)
            if "Authorization" not in request.headers:
                raise S3Error(403, "AccessDenied", "Access Denied")
            await _continue(request)
            return await self._forward(request, request.headers, _chunks(request.content), request_id)
        except S3Error as error:
            return _error_response(error, incoming.raw_path, request_id)

    async def _presigned(
        self, request: web.BaseRequest, incoming: IncomingRequest, request_id: str
    ) -> web.StreamResponse:
        grant = verify_presigned(incoming, self._secrets, self._region, self._clock())
        if request.method == "PUT" and request.content_length is None:
            raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if (request.content_length or 0) > MAX_PUT_BYTES:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        await _continue(request)  # as S3 does: only once the headers are found good
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as body:
            length, digest = await _spool(request, body)
            check_body(grant, length, digest)
            body.seek(0)
            headers = CIMultiDict(request.headers)
            headers["Content-Length"] = str(length)
            response = await self._forward(request, CIMultiDictProxy(headers), _file_chunks(body), request_id)
        if request.method == "PUT" and response.status == 200 and self._on_object_created is not None:
            event = object_created_event(
                grant.bucket,
                grant.key,
                length,
                response.headers.get("ETag", ""),
                response.headers.get("x-amz-version-id"),
                self._region,
                self._account,
            )
            self._hooks.submit(_run_hook, self._on_object_created, event)
        return response

    async def _forward(
        self,
        request: web.BaseRequest,
        headers: Mapping[str, str],
        body: AsyncIterator[bytes],
        request_id: str,
    ) -> web.StreamResponse:
        """The request to moto, path and query byte for byte; moto's answer streamed back."""
        forwarded = {name: value for name, value in headers.items() if name.lower() not in HOP_BY_HOP}
        if "Content-Length" in headers:
            forwarded["Content-Length"] = headers["Content-Length"]
        assert self._session is not None, "forwarding before the front serves"
        has_body = request.method in ("PUT", "POST") or request.content_length
        async with self._session.request(
            request.method,
            URL(self._upstream + request.raw_path, encoded=True),
            headers=forwarded,
            data=body if has_body else None,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            response.headers.setdefault("x-amz-request-id", request_id)
            if upstream.headers.get("Content-Length") is not None:
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                await response.write(chunk)
            await response.write_eof()
            return response


async def _continue(request: web.BaseRequest) -> None:
    """Answer `Expect: 100-continue` (botocore sends it with a PutObject and waits up to a second)."""
    if request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


async def _spool(request: web.BaseRequest, body: IO[bytes]) -> tuple[int, bytes]:
    """Read the body to `body`: (its length, its SHA-256)."""
    sha256 = hashlib.sha256()
    length = 0
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        sha256.update(chunk)
        length += len(chunk)
        body.write(chunk)
    return length, sha256.digest()


async def _chunks(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for chunk in stream.iter_chunked(CHUNK_BYTES):
        yield chunk


async def _file_chunks(body: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := body.read(CHUNK_BYTES):
        yield chunk


def _run_hook(hook: ObjectCreatedHook, event: dict[str, Any]) -> None:
    try:
        hook(event)
    except Exception:  # one failed event must not stop the next: S3 keeps sending too
        logger.exception("The object-created hook failed for %s", event["detail"]["object"]["key"])


def _error_response(error: S3Error, resource: str, request_id: str) -> web.Response:
    return web.Response(
        status=error.status,
        body=error_body(error, unquote(resource), request_id),
        headers={"Content-Type": "application/xml", "x-amz-request-id": request_id},
    )
