"""Runtime settings from environment variables, validated once at cold start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


class SettingsError(RuntimeError):
    """A required environment variable is missing or empty."""


@dataclass(frozen=True)
class Settings:
    bucket_name: str
    table_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            bucket_name=_required(environ, "BUCKET_NAME"),
            table_name=_required(environ, "TABLE_NAME"),
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} must be set to a non-empty value")
    return value
