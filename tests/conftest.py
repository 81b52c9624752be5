"""Session-wide defaults: no real AWS, no tracing daemon, deterministic env for the handler import.

Against a real deployment (UPLOAD_API_OUTPUTS set) the caller's AWS credentials and
region are left alone: the e2e suite signs requests with them.
"""

from __future__ import annotations

import os

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
