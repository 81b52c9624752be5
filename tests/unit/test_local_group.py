"""`make local` installs only uv.lock's `local` group: local mode must import with nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.repo import REPO_ROOT

UV = REPO_ROOT / ".venv-tools" / "uv" / "bin" / "uv"


@pytest.fixture(scope="module")
def local_only_python(tmp_path_factory) -> Path:
    """A venv with exactly the `local` group, made as `make local` makes .venv (uv's cache: seconds)."""
    if not UV.is_file():
        pytest.fail("uv is not installed (.venv-tools/uv): run `make install`")
    venv = tmp_path_factory.mktemp("local-group") / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(UV), "sync", "--locked", "--no-install-project", "--only-group", "local", "--quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin" / "python"


def test_local_mode_and_its_s3_front_import_with_the_local_group_alone(local_only_python):
    # GIVEN a venv with only the local group (what a fresh clone's `make local` has)
    # WHEN local mode's entry point and every module it loads later are imported
    modules = ["tools.dev.local.__main__", "tools.dev.local.s3_front", "tools.dev.local.show"]
    script = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    done = subprocess.run(
        [str(local_only_python), "-c", script, *modules],
        cwd=REPO_ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'lambda'}"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # THEN nothing is missing (httpx, the verify group's, once was: `make local` failed at start)
    assert done.returncode == 0, done.stderr[-2000:]
