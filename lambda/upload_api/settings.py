"""Runtime settings from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

# The stack writes these two as "true" / "false"; anything else is a deployment error.
_BOOLEANS = {"true": True, "false": False}
# A direct upload's URL lives at most 15 minutes (contract v3): long enough to start a 5 GiB PUT,
# short enough that a leaked URL is soon useless.
MAX_UPLOAD_URL_SECONDS = 900


class SettingsError(RuntimeError):
    """A required environment variable is missing or empty, or a flag is not true/false."""


@dataclass(frozen=True)
class Settings:
    bucket_name: str
    table_name: str
    # The stage's allowActiveContent setting: store HTML, SVG, script... as sent (off by default).
    allow_active_content: bool = False
    # The stage's malwareScanning setting: GuardDuty scans each object; items start PENDING.
    malware_scanning: bool = False
    # The upload bucket's KMS key: a direct upload's URL signs it (BUCKET_KEY_ARN; the upload
    # function's only). None: this function hands out no upload URLs.
    bucket_key_arn: Optional[str] = None
    # How long a direct upload's URL is valid, in seconds (1..900).
    upload_url_seconds: int = MAX_UPLOAD_URL_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            bucket_name=_required(environ, "BUCKET_NAME"),
            table_name=_required(environ, "TABLE_NAME"),
            allow_active_content=_flag(environ, "ALLOW_ACTIVE_CONTENT"),
            malware_scanning=_flag(environ, "MALWARE_SCANNING"),
            bucket_key_arn=environ.get("BUCKET_KEY_ARN", "").strip() or None,
            upload_url_seconds=_seconds(environ, "UPLOAD_URL_SECONDS"),
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} must be set to a non-empty value")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """Unset means false: no active content is stored, no scanStatus is written (the stack sets both)."""
    value = environ.get(name, "false").strip().lower()
    if value not in _BOOLEANS:
        raise SettingsError(f"environment variable {name} must be 'true' or 'false'")
    return _BOOLEANS[value]


def _seconds(environ: Mapping[str, str], name: str) -> int:
    """Unset means the longest the contract allows; anything else must be 1..900 whole seconds."""
    value = environ.get(name, "").strip()
    if not value:
        return MAX_UPLOAD_URL_SECONDS
    if not value.isdigit() or not 1 <= int(value) <= MAX_UPLOAD_URL_SECONDS:
        raise SettingsError(
            f"environment variable {name} must be whole seconds from 1 to {MAX_UPLOAD_URL_SECONDS}"
        )
    return int(value)
