"""SigV4 signing for API Gateway's IAM authorization (service `execute-api`), with botocore's signer.

Two ways in, one signer:
- `SigV4`, an httpx auth: signs each request (the e2e suite and the verifier's probes).
- `CachedSigner`: the load generator's headers for one fixed request, re-signed once per
  second. A signature covers method, URL, body, the signed headers and X-Amz-Date (whole
  seconds), so within one second the same request signs to the same headers. botocore
  spends about 0.15 ms per signature, about twice what the generator spends on a whole request,
  so signing every request would cut the rate it can offer to a third (`make bench` measures both).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import httpx
from botocore.awsrequest import AWSRequest

SERVICE = "execute-api"
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


def region_of(url: str) -> str | None:
    """The region in an execute-api URL (`https://{id}.execute-api.{region}.amazonaws.com/...`)."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def signed_headers(
    credentials: Any, region: str, method: str, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    """`headers` plus Host, X-Amz-Date, the session token (if any) and Authorization for this request."""
    aws_request = AWSRequest(
        method=method, url=url, data=body, headers={"Host": urlsplit(url).netloc, **headers}
    )
    botocore.auth.SigV4Auth(credentials, SERVICE, region).add_auth(aws_request)
    return dict(aws_request.headers.items())


class SigV4(httpx.Auth):
    """Sign each request for API Gateway's IAM authorization (service execute-api)."""

    requires_request_body = True

    def __init__(self, credentials: Any, region: str) -> None:
        self._credentials = credentials
        self._region = region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Only what the server will see unchanged is signed: Host and Content-Type.
        headers = {}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        signed = signed_headers(
            self._credentials, self._region, request.method, str(request.url), request.content, headers
        )
        for name, value in signed.items():
            request.headers[name] = value
        yield request


class CachedSigner:
    """Signed headers for one fixed request, re-signed when the wall-clock second changes."""

    def __init__(
        self,
        credentials: Any,
        region: str,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sign = lambda: signed_headers(credentials, region, method, url, body, headers)
        self._clock = clock
        self._second = -1
        self._headers: dict[str, str] = {}
        self.signatures = 0  # how many times botocore signed: the cost the cache saves

    def headers(self) -> dict[str, str]:
        second = int(self._clock())
        if second != self._second:
            self._headers = self._sign()
            self._second = second
            self.signatures += 1
        return self._headers


# -- S3 query-string auth (presigned URLs), checked by local mode's S3 front -------------------------
