"""Session-wide defaults: no real AWS, no tracing daemon, deterministic env for the handler import.

Against a real deployment (UPLOAD_API_OUTPUTS set) the caller's AWS credentials and
region are left alone: the e2e suite signs requests with them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import SynthesizedApp

AGAINST_DEPLOYMENT = bool(os.environ.get("UPLOAD_API_OUTPUTS"))

if not AGAINST_DEPLOYMENT:
    # Fake credentials: nothing in an offline test run may reach a real account.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Set before any test module imports the handler (it reads settings at import, like Lambda's init).
os.environ.setdefault("BUCKET_NAME", "test-upload-bucket")
os.environ.setdefault("TABLE_NAME", "test-product-table")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "upload-api")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "UploadApi")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")


# -- the whole app, synthesized once per session (per xdist worker) for every layer that reads it --


@pytest.fixture(scope="session")
def synth_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., SynthesizedApp]:
    """`synth_pipeline(pipeline={...}, stages={...})`: each distinct app is synthesized once per session.

    tests/infra (templates), tests/iam (the assembly) and tests/security (the review) read the same
    cdk.json app; its assembly directory is read-only to them.
    """
    from tests.infra.conftest import synth_app

    built: dict[str, SynthesizedApp] = {}

    def get(
        pipeline: dict[str, Any] | None = None, stages: dict[str, dict[str, Any]] | None = None
    ) -> SynthesizedApp:
        key = json.dumps([pipeline, stages], sort_keys=True)
        if key not in built:
            built[key] = synth_app(tmp_path_factory.mktemp("app.cdk.out"), pipeline=pipeline, stages=stages)
        return built[key]

    return get


@pytest.fixture(scope="session")
def pipeline_app(synth_pipeline: Callable[..., SynthesizedApp]) -> SynthesizedApp:
    """The whole app exactly as cdk.json configures it (what `cdk synth` deploys)."""
    return synth_pipeline()
