"""The repository root and cdk.json's context, found once: every tool that reads the tree or
builds the app in-process starts here."""

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags and our settings), as `cdk synth` would pass it."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    context.update(overrides)
    return context
