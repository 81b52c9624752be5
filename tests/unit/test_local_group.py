"""`make local` installs only uv.lock's `local` group, and the pipeline's verify and preflight steps only its
`verify` group: each must import with nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.repo import REPO_ROOT

UV = REPO_ROOT / ".venv-tools" / "uv" / "bin" / "uv"


def group_only_python(tmp_path_factory: pytest.TempPathFactory, group: str) -> Path:
    """A venv with exactly one dependency group, made as `make` makes one (uv's cache: seconds)."""
    if not UV.is_file():
        pytest.fail("uv is not installed (.venv-tools/uv): run `make install`")
    venv = tmp_path_factory.mktemp(f"{group}-group") / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(UV), "sync", "--locked", "--no-install-project", "--only-group", group, "--quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin" / "python"


def imports(python: Path, modules: list[str]) -> subprocess.CompletedProcess[str]:
    script = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    return subprocess.run(
        [str(python), "-c", script, *modules],
        cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'lambda'}"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_local_mode_and_its_s3_front_import_with_the_local_group_alone(tmp_path_factory):
    # GIVEN a venv with only the local group (what a fresh clone's `make local` has)
    python = group_only_python(tmp_path_factory, "local")
    # WHEN local mode's entry point and every module it loads later are imported
    done = imports(python, ["tools.dev.local.__main__", "tools.dev.local.s3_front", "tools.dev.local.show"])
    # THEN nothing is missing (httpx, the verify group's, once was: `make local` failed at start)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_verifier_and_its_load_generator_import_with_the_verify_group_alone(tmp_path_factory):
    # GIVEN a venv with only the verify group (what the pipeline's verify and preflight steps install)
    python = group_only_python(tmp_path_factory, "verify")
    # WHEN the verifier's entry point, its load generator and the preflight check are imported
    modules = [
        "tools.pipeline_checks.verify.cli",
        "tools.pipeline_checks.verify.loadgen",
        "tools.pipeline_checks.verify.http1",
        "tools.pipeline_checks.preflight.cli",
    ]
    done = imports(python, modules)
    # THEN nothing is missing: the pipeline's verify build would stop at its first import otherwise
    assert done.returncode == 0, done.stderr[-2000:]
