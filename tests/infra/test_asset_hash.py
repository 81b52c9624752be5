"""The Lambda asset's key is the fingerprint of the bundle: what is deployed, and nothing that
changes between runs.

`cdk synth` keys the function's asset by aws-cdk-lib's fingerprint of the bundle it built
(AssetHashType.OUTPUT), which PipelineChangeGate recomputes (stages/pipeline/asset_content.py). The
bundle's handler package is copied here without pip; test_bundle.py checks a real bundling synth
keys the staged bundle by its fingerprint.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aws_cdk as cdk

from stages.upload.bundling import copy_handler_package

from .conftest import LAMBDA_DIR

CACHE_FILES = (
    "upload_api/__pycache__/x.cpython-311.pyc",
    "upload_api/__pycache__/handler.cpython-313.pyc",
    "upload_api/.pytest_cache/v/cache/nodeids",
    "upload_api/.mypy_cache/3.11/cache.db",
    "upload_api/.ruff_cache/CACHEDIR.TAG",
    "upload_api/stray.pyc",
)


def _handler_fingerprint(into: Path) -> str:
    """The fingerprint of the handler package as the bundle holds it."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    copy_handler_package(into)
    return cdk.FileSystem.fingerprint(str(into))


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


def test_caches_in_lambda_do_not_change_the_bundle(tmp_path):
    # GIVEN the handler package's fingerprint from a clean lambda/
    before = _handler_fingerprint(tmp_path / "bundle")
    # WHEN byte-code caches and tool caches appear in lambda/ (as after running tests or linters)
    with _planted(*CACHE_FILES):
        assert all((LAMBDA_DIR / f).is_file() for f in CACHE_FILES)
        with_caches = _handler_fingerprint(tmp_path / "bundle")
    # THEN the bundle is the same, so a pipeline does not republish an unchanged function
    assert with_caches == before
    # AND the planted files are gone again
    assert not [f for f in CACHE_FILES if (LAMBDA_DIR / f).exists()]


def test_a_source_change_in_the_handler_changes_the_bundle(tmp_path):
    # GIVEN the handler package as committed
    before = _handler_fingerprint(tmp_path / "bundle")
    # WHEN a source file is added to the handler package
    with _planted("upload_api/_asset_hash_probe.py"):
        changed = _handler_fingerprint(tmp_path / "bundle")
    # THEN the bundle changes (its key with it), and returns once the file is gone
    assert changed != before
    assert _handler_fingerprint(tmp_path / "bundle") == before
