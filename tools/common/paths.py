"""The repository root, found once: every tool that reads the tree or cdk.json starts here."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
