"""Runtime settings from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

# The stack writes these two as "true" / "false"; anything else is a deployment error.
_BOOLEANS = {"true": True, "false": False}


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            bucket_name=_required(environ, "BUCKET_NAME"),
            table_name=_required(environ, "TABLE_NAME"),
            allow_active_content=_flag(environ, "ALLOW_ACTIVE_CONTENT"),
            malware_scanning=_flag(environ, "MALWARE_SCANNING"),
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
