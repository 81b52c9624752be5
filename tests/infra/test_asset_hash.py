"""The Lambda asset's hash covers lambda/ and nothing that changes between runs.

Bundling is skipped here, and the hash is still the source fingerprint of lambda/ (minus
the exclude patterns) plus the bundling options; test_bundle.py checks it is the very hash
a bundling synth produces. CDK caches staged assets per process, so each synth clears it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aws_cdk as cdk
import pytest

from .conftest import LAMBDA_DIR, synth_stage

pytestmark = pytest.mark.synth

CACHE_FILES = (
    "upload_api/__pycache__/x.cpython-311.pyc",
    "upload_api/__pycache__/handler.cpython-313.pyc",
    ".pytest_cache/v/cache/nodeids",
    "upload_api/.mypy_cache/3.11/cache.db",
    "upload_api/.ruff_cache/CACHEDIR.TAG",
    "upload_api/stray.pyc",
)


def _asset_hash() -> str:
    """The function's asset hash from a fresh synth (its Code.S3Key is <hash>.zip)."""
    cdk.AssetStaging.clear_asset_hash_cache()
    s3_key = synth_stage("dev").function["Code"]["S3Key"]
    assert s3_key.endswith(".zip")
    return s3_key.removesuffix(".zip")


@contextmanager
def _planted(*relative_paths: str) -> Iterator[None]:
    """Create files under lambda/, then remove exactly what was created (files and new folders)."""
    created: list[Path] = []
    try:
        for relative in relative_paths:
            path = LAMBDA_DIR / relative
            assert not path.exists(), f"{path} already exists; refusing to overwrite it"
            missing = [parent for parent in reversed(path.parents) if not parent.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            created.extend(missing)
            path.write_bytes(b"planted by tests/infra/test_asset_hash.py\n")
            created.append(path)
        yield
    finally:
        for path in reversed(created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def test_caches_in_lambda_do_not_change_the_asset_hash():
    # GIVEN the asset hash of a clean lambda/
    before = _asset_hash()
    # WHEN byte-code caches and tool caches appear in lambda/ (as after running tests or linters)
    with _planted(*CACHE_FILES):
        assert all((LAMBDA_DIR / f).is_file() for f in CACHE_FILES)
        with_caches = _asset_hash()
    # THEN the hash is the same, so a pipeline does not republish an unchanged function
    assert with_caches == before
    # AND the planted files are gone again
    assert not [f for f in CACHE_FILES if (LAMBDA_DIR / f).exists()]


def test_a_source_change_in_lambda_changes_the_asset_hash():
    # GIVEN the asset hash of lambda/ as committed
    before = _asset_hash()
    # WHEN a source file is added to the handler package
    with _planted("upload_api/_asset_hash_probe.py"):
        changed = _asset_hash()
    # THEN the hash changes (the hash really covers lambda/), and returns once the file is gone
    assert changed != before
    assert _asset_hash() == before


def test_the_requirements_are_part_of_the_asset_hash():
    # GIVEN the asset hash of lambda/ as committed
    before = _asset_hash()
    # WHEN a file next to requirements.txt appears (lambda/ is the asset root, not just the package)
    with _planted("requirements-extra-probe.txt"):
        changed = _asset_hash()
    # THEN the hash changes
    assert changed != before
