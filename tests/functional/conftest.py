"""The handler against moto, with the bucket, keys and table built from the synthesized template.

The template is synthesized once per session (tools.dev.local.aws caches
it); each test gets a fresh moto account with the resources created from it,
and the handler's module-level `store` swapped for one over that account.
Requests are API Gateway REST proxy events built from tests/events/.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from upload_api import handler
from upload_api.storage import UploadStore

from tools.dev.local.aws import (
    EmulatedResources,
    UploadTemplate,
    create_emulated_resources,
    synth_upload_template,
)

from .support import REGION, InMemoryDynamoDB, InMemoryS3, Response, call_handler, make_event


@dataclass
class Account:
    """One moto account holding the template's resources, with clients to inspect it."""

    session: boto3.Session
    resources: EmulatedResources
    template: UploadTemplate

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    @property
    def bucket_key_arn(self) -> str:
        """The KMS key the template gives the upload bucket (Fn::GetAtt of a key's Arn)."""
        _, bucket = self.template.upload_bucket
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        logical_id = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
        return self.resources.key_arns[logical_id]

    def items(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        scanned = self.client("dynamodb").scan(TableName=self.resources.table_name)["Items"]
        return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in scanned]

    def object_versions(self) -> list[dict[str, Any]]:
        listed = self.client("s3").list_object_versions(Bucket=self.resources.bucket_name)
        return listed.get("Versions", [])


@pytest.fixture(scope="session")
def upload_template() -> dict[str, Any]:
    """The dev stage's upload stack template, synthesized in-process once (needs node on PATH)."""
    _, template = synth_upload_template("dev")
    return template


@pytest.fixture(scope="session")
def boto3_session() -> boto3.Session:
    """One session for all tests: it loads the service models once; clients are still made per test."""
    return boto3.Session(region_name=REGION)


@pytest.fixture
def account(upload_template: dict[str, Any], boto3_session: boto3.Session) -> Iterator[Account]:
    """A fresh moto account per test, holding the template's keys, bucket and table."""
    with mock_aws():
        session = boto3_session
        resources = create_emulated_resources(upload_template, session)
        yield Account(session=session, resources=resources, template=UploadTemplate(upload_template))


@pytest.fixture
def moto_clients(account: Account) -> tuple[Any, Any]:
    """The (s3, dynamodb) clients the handler's store uses; tests may wrap them with faults."""
    return account.client("s3"), account.client("dynamodb")


@pytest.fixture
def moto_store(
    account: Account, moto_clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> UploadStore:
    """The handler's store, pointed at the moto account instead of the import-time clients."""
    s3, dynamodb = moto_clients
    store = UploadStore(
        s3_client=s3,
        dynamodb_client=dynamodb,
        bucket_name=account.resources.bucket_name,
        table_name=account.resources.table_name,
    )
    monkeypatch.setattr(handler, "store", store)
    return store


def _post(document: dict[str, Any] | str, **event_options: Any) -> Response:
    body = document if isinstance(document, str) else json.dumps(document)
    return call_handler(make_event(body, **event_options))


@pytest.fixture
def upload(moto_store: UploadStore) -> Callable[..., Response]:
    """POST /upload with a JSON document (or raw text) through lambda_handler, stored on moto."""
    return _post


@pytest.fixture
def in_memory_store(monkeypatch: pytest.MonkeyPatch) -> UploadStore:
    """The handler's store over in-memory fakes: for tests about HTTP behaviour, not AWS."""
    store = UploadStore(
        s3_client=InMemoryS3(), dynamodb_client=InMemoryDynamoDB(), bucket_name="b", table_name="t"
    )
    monkeypatch.setattr(handler, "store", store)
    return store


@pytest.fixture
def post(in_memory_store: UploadStore) -> Callable[..., Response]:
    """POST /upload (or any method and path) through lambda_handler, stored in memory."""
    return _post


class _CurrentStdout:
    """A stream that writes to the current sys.stdout, whichever object that is by then."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def captured_stdout(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Everything the handler writes: Powertools' log handler bound its stream at import, so rebind it.

    To whatever sys.stdout is at write time: pytest swaps the capturing stream between the
    fixture's setup and the test's call, so binding the setup-time object would write the
    logs to a closed stream (logging then prints "--- Logging error ---" to stderr instead).
    """
    monkeypatch.setattr(handler.logger.registered_handler, "stream", _CurrentStdout())

    def read() -> str:
        captured = capsys.readouterr()
        return captured.out + captured.err

    return read
