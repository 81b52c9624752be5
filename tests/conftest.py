"""Session-wide defaults: no real AWS, no tracing daemon, deterministic env for the handler import."""

from __future__ import annotations

import os

# Set before any test module imports the handler (it reads settings at import, like Lambda's init).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("BUCKET_NAME", "test-upload-bucket")
os.environ.setdefault("TABLE_NAME", "test-product-table")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "upload-api")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "UploadApi")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
