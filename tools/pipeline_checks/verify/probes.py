"""The JSON validation checks: the contract's error cases, one by one, and (in dev) one real upload.

Each error probe must get its contract status and a JSON error body that gives nothing of
the server away (/work/shared/api-contract.md, "Errors"). One more check ties the
throttling checks to the gateway: the body the load uses must be refused by API Gateway's
request validator itself, with its own answer (the BAD_REQUEST_BODY gateway response), so
that no request of the load can run the Lambda function or write anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from tools.pipeline_checks.verify.model import CheckResult

MAX_FILE_BYTES = 4 * 1024 * 1024
JSON = "application/json"
# Schema-invalid on purpose (three required fields missing), tiny, and the same every time: the
# throttling checks send it thousands of times.
LOAD_BODY = b'{"productId":"verify-throttling"}'
# What API Gateway answers for LOAD_BODY: its BAD_REQUEST_BODY gateway response
# (stages/upload/gateway_responses.py) names each missing field "<field>: is required", from the
# validator's message. The handler words the same entries alike but under its own message
# ("Invalid request fields": tests/unit/test_gateway_responses.py keeps them apart), so this body
# says the gateway answered and Lambda never ran. The errors' order is the validator's: compared sorted.
GATEWAY_VALIDATOR_MESSAGE = "Invalid request body"
LOAD_BODY_MISSING = ("fileName", "price", "productName")
GATEWAY_VALIDATOR_BODY = {
    "message": GATEWAY_VALIDATOR_MESSAGE,
    "errors": [f"{name}: is required" for name in LOAD_BODY_MISSING],
}


def is_gateway_validator_answer(document: Any) -> bool:
    """Whether a 400's JSON `document` is API Gateway's validator answer to LOAD_BODY."""
    return (
        isinstance(document, dict)
        and set(document) == {"message", "errors"}
        and document["message"] == GATEWAY_VALIDATOR_MESSAGE
        and isinstance(document["errors"], list)
        and sorted(map(str, document["errors"])) == GATEWAY_VALIDATOR_BODY["errors"]
    )


GATEWAY_CHECK = "throttling/load-body-refused-by-gateway"

_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b")
_ANY_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_REQUEST_ID_HEADERS = ("x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id")
REQUIRED_FIELDS = ("productId", "productName", "price", "fileName", "fileContent")
PROBE_FILE = b"post-deploy verifier probe\n\x00\x01\x02\xff"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_b64(data: bytes) -> str:
    return b64(hashlib.sha256(data).digest())


def valid_document(product_id: str, content: bytes = PROBE_FILE, **changes: Any) -> dict[str, Any]:
    """A body that meets every rule; a change to None leaves that field out."""
    document: dict[str, Any] = {
        "productId": product_id,
        "productName": "Post-deploy verifier probe",
        "price": 29.99,
        "fileName": "verify-probe.bin",
        "contentType": "application/octet-stream",
        "fileContent": b64(content),
        "checksumSha256": sha256_b64(content),
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def compact(document: Any) -> bytes:
    # A float's repr is the shortest text that round-trips: 29.99 goes out as 29.99.
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Probe:
    """One request the contract refuses, and the status it must get."""

    name: str
    expected_status: int
    body: Callable[[str], bytes]  # product id -> body
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "upload"


def _without(field: str) -> Callable[[str], bytes]:
    def body(product_id: str) -> bytes:
        document = valid_document(product_id)
        del document[field]
        return compact(document)

    return body


def probes() -> list[Probe]:
    missing = [Probe(f"validation/missing-{field}", 400, _without(field)) for field in REQUIRED_FIELDS]
    return [
        Probe("validation/not-json", 400, lambda pid: compact(valid_document(pid))[:-9]),
        Probe("validation/json-array", 400, lambda pid: compact([valid_document(pid)])),
        Probe("validation/wrong-content-type", 415, lambda pid: compact(valid_document(pid)), "text/plain"),
        *missing,
        Probe("validation/price-as-string", 400, lambda pid: compact(valid_document(pid, price="29.99"))),
        Probe(
            "validation/unknown-field", 400, lambda pid: compact(valid_document(pid, owner="someone-else"))
        ),
        # Passes the model (a string of length >= 4), so only the handler can refuse it.
        Probe(
            "validation/bad-base64",
            400,
            lambda pid: compact(valid_document(pid, fileContent="!!!!", checksumSha256=None)),
        ),
        # 4 MiB + 1 byte decoded: about 5.6 MB of JSON, under API Gateway's 10 MB and Lambda's 6 MB.
        Probe(
            "validation/oversize-file",
            413,
            lambda pid: compact(valid_document(pid, b"\x00" * (MAX_FILE_BYTES + 1), checksumSha256=None)),
        ),
        Probe("validation/get-upload", 403, lambda pid: b"", content_type=None, method="GET"),
    ]


def leaks(response: httpx.Response, secrets: list[str]) -> list[str]:
    """What in an error answer breaks the contract's "no internals" rule; empty when clean."""
    problems = []
    if not response.headers.get("content-type", "").lower().startswith(JSON):
        problems.append(f"Content-Type is {response.headers.get('content-type')!r}, not JSON")
    try:
        document = response.json()
    except ValueError:
        return [*problems, "body is not JSON"]
    if not isinstance(document, dict) or not isinstance(document.get("message"), str):
        return [*problems, 'body is not {"message": "..."}']
    if not document["message"].strip():
        problems.append("empty message")
    if set(document) - {"message", "errors"}:
        problems.append(f"unexpected keys {sorted(set(document) - {'message', 'errors'})}")
    errors = document.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(error, str) for error in errors):
        problems.append('"errors" is not a list of strings')
    text = response.text
    if "Traceback" in text or 'File "' in text:
        problems.append("a stack trace")
    if _EXCEPTION_NAME.search(text):
        problems.append(f"an exception name ({_EXCEPTION_NAME.search(text).group(0)})")  # type: ignore[union-attr]
    if _ANY_UUID.search(text):
        problems.append("a UUID (request ids are UUIDs)")
    for secret in [*secrets, "arn:aws"]:
        if secret in text:
            problems.append(f"a resource name ({secret})")
    for header in _REQUEST_ID_HEADERS:
        value = response.headers.get(header)
        if value and value in text:
            problems.append(f"the {header} header's value")
    return problems


def _excerpt(response: httpx.Response, limit: int = 160) -> str:
    text = response.text.replace("\n", " ")
    return text if len(text) <= limit else f"{text[:limit]}..."


def run_probe(
    client: httpx.Client, api_url: str, probe: Probe, product_id: str, secrets: list[str]
) -> CheckResult:
    headers = {"Content-Type": probe.content_type} if probe.content_type else {}
    started = time.perf_counter()
    try:
        response = client.request(
            probe.method, f"{api_url}{probe.path}", content=probe.body(product_id), headers=headers
        )
    except httpx.HTTPError as error:
        return CheckResult.judge(probe.name, False, f"no answer: {type(error).__name__}: {error}")
    problems = leaks(response, secrets)
    if response.status_code != probe.expected_status:
        problems.insert(0, f"status {response.status_code}, expected {probe.expected_status}")
    summary = (
        f"{response.status_code} {_excerpt(response)}"
        if not problems
        else f"{'; '.join(problems)}: {response.status_code} {_excerpt(response)}"
    )
    result = CheckResult.judge(
        probe.name,
        not problems,
        summary,
        request={"method": probe.method, "path": probe.path, "contentType": probe.content_type},
        expected_status=probe.expected_status,
        status=response.status_code,
        body=_excerpt(response, 500),
        answered_by=answered_by(response),
    )
    return _timed(result, started)


def answered_by(response: httpx.Response) -> str:
    """'gateway' for API Gateway's validator answer, else 'handler or gateway' (not told apart)."""
    try:
        return "gateway validator" if is_gateway_validator_answer(response.json()) else "handler or gateway"
    except ValueError:
        return "unknown"


def check_load_body_refused_by_gateway(client: httpx.Client, endpoint: str) -> CheckResult:
    """The load's body gets the validator's exact answer: the function never runs for it."""
    started = time.perf_counter()
    try:
        response = client.post(endpoint, content=LOAD_BODY, headers={"Content-Type": JSON})
    except httpx.HTTPError as error:
        return CheckResult.judge(GATEWAY_CHECK, False, f"no answer: {type(error).__name__}: {error}")
    try:
        document = response.json()
    except ValueError:
        document = None
    ok = response.status_code == 400 and is_gateway_validator_answer(document)
    validator_answer = f"400 {compact(GATEWAY_VALIDATOR_BODY).decode()}"
    if ok:
        summary = f"{validator_answer} from API Gateway's validator: Lambda never runs for it"
    elif response.status_code == 400:
        summary = (
            f"a 400 that is not the validator's ({_excerpt(response)}): the request model is not enforced, "
            "so the load reaches the function"
        )
    else:
        summary = (
            f"expected the validator's {validator_answer}, got {response.status_code} {_excerpt(response)}"
        )
    return _timed(
        CheckResult.judge(
            GATEWAY_CHECK, ok, summary, status=response.status_code, body=_excerpt(response, 500)
        ),
        started,
    )


UPLOAD_CHECK = "upload/valid-201"


def check_valid_upload(client: httpx.Client, endpoint: str, product_id: str) -> CheckResult:
    """One real upload: 201, and the answer describes exactly what was sent."""
    document = valid_document(product_id)
    started = time.perf_counter()
    try:
        response = client.post(endpoint, content=compact(document), headers={"Content-Type": JSON})
    except httpx.HTTPError as error:
        return CheckResult.judge(UPLOAD_CHECK, False, f"no answer: {type(error).__name__}: {error}")
    problems = upload_mismatches(document, response)
    summary = (
        f"201, stored as {response.json()['file']['key']}"
        if not problems
        else f"{'; '.join(problems)}: {response.status_code} {_excerpt(response)}"
    )
    return _timed(
        CheckResult.judge(
            UPLOAD_CHECK, not problems, summary, status=response.status_code, body=_excerpt(response, 500)
        ),
        started,
    )


def upload_mismatches(sent: Mapping[str, Any], response: httpx.Response) -> list[str]:
    if response.status_code != 201:
        return [f"status {response.status_code}, expected 201"]
    try:
        answer = response.json(parse_float=Decimal)
        file = answer["file"]
    except (ValueError, KeyError, TypeError):
        return ["the 201 body is not the contract's JSON"]
    content = base64.b64decode(sent["fileContent"])
    expected = {
        "productId": (answer.get("productId"), sent["productId"]),
        "productName": (answer.get("productName"), sent["productName"]),
        "price": (answer.get("price"), Decimal(str(sent["price"]))),
        "file.size": (file.get("size"), len(content)),
        "file.contentType": (file.get("contentType"), sent["contentType"]),
        "file.sha256": (file.get("sha256"), sha256_b64(content)),
    }
    problems = [f"{name} is {got!r}, sent {want!r}" for name, (got, want) in expected.items() if got != want]
    key_pattern = rf"uploads/{re.escape(sent['productId'])}/{_UUID4}/{re.escape(sent['fileName'])}"
    if not re.fullmatch(key_pattern, str(file.get("key"))):
        problems.append(f"file.key {file.get('key')!r} is not uploads/{{productId}}/{{uuid4}}/{{fileName}}")
    if not file.get("versionId"):
        problems.append("no file.versionId")
    if not _TIMESTAMP.match(str(answer.get("uploadedAt"))):
        problems.append(f"uploadedAt {answer.get('uploadedAt')!r} is not an ISO timestamp in ms")
    price_text = repr(sent["price"])  # how compact() wrote it
    if not re.search(rf'"price"\s*:\s*{re.escape(price_text)}\s*[,}}]', response.text):
        problems.append(f"price is not written {price_text} in the answer")
    return problems


def new_product_id(mode: str) -> str:
    """Unique per run: reruns against one deployment never collide."""
    return f"verify-{mode}-{uuid.uuid4().hex[:12]}"


def _timed(result: CheckResult, started: float) -> CheckResult:
    return CheckResult(
        result.name, result.status, result.summary, result.details, time.perf_counter() - started
    )
