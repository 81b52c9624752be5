"""The SigV4 signature of a presigned S3 request, with botocore's S3 presigner (local mode's S3 front).

Apart from sigv4.py (API Gateway's signing, with an httpx auth): local mode installs only its own
group of uv.lock, which has no httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.auth
from botocore.awsrequest import AWSRequest

S3_SERVICE = "s3"


def presigned_s3_signature(
    credentials: Any,
    region: str,
    method: str,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timestamp: str,
) -> str:
    """The hex SigV4 signature of a presigned S3 request, computed by botocore's S3 presigner.

    `url` is scheme, host and the canonical (URI-encoded) path without a query; `params` the
    decoded query parameters except X-Amz-Signature; `headers` exactly the signed headers, Host
    included; `timestamp` the X-Amz-Date. The payload is UNSIGNED-PAYLOAD, as S3 documents for
    presigned URLs, and the path is not normalized (S3's rule).
    """
    expires = int(params.get("X-Amz-Expires", "0"))
    signer = botocore.auth.S3SigV4QueryAuth(credentials, S3_SERVICE, region, expires)
    aws_request = AWSRequest(method=method, url=url, headers=dict(headers))
    aws_request.params = dict(params)  # canonical query string: each name and value URI-encoded, sorted
    aws_request.context["timestamp"] = timestamp
    canonical_request = signer.canonical_request(aws_request)
    return str(signer.signature(signer.string_to_sign(aws_request, canonical_request), aws_request))
