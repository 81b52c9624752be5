"""A wrong setting stops `python main.py` and `cdk synth` with one line naming it, and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import context_with

pytestmark = pytest.mark.synth

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(REPO_ROOT / "node_modules" / ".bin"), env.get("PATH", "")])
    return env


def _assert_one_line_naming(stderr: str, setting: str) -> None:
    # Only our line is checked for count: jsii may add its own banner (an unsupported Node).
    assert "Traceback" not in stderr
    assert 'File "' not in stderr
    lines = [line for line in stderr.splitlines() if "settings error" in line]
    assert len(lines) == 1, stderr
    assert setting in lines[0]


def test_main_py_prints_one_line_and_exits_2(tmp_path):
    # GIVEN cdk.json's context with a burst below the rate, as the CDK CLI hands it to the app
    context = context_with("dev", throttlingRateLimit=1000, throttlingBurstLimit=500)
    env = _env() | {"CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}
    # WHEN the app runs
    done = subprocess.run(
        [sys.executable, "main.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    # THEN one line on stderr names the setting and why; no traceback; exit 2
    assert done.returncode == 2, done.stderr
    _assert_one_line_naming(done.stderr, "uploadApi.stages.dev.throttlingBurstLimit (500) must be >=")


def test_cdk_synth_with_a_bad_context_value_prints_one_line(tmp_path):
    # GIVEN `cdk synth -c uploadApi=broken` (a -c value is a string, not the settings object)
    done = subprocess.run(
        ["cdk", "synth", "--quiet", "-c", "uploadApi=broken", "--output", str(tmp_path / "cdk.out")],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # THEN synth fails, naming the setting in one line, with no Python traceback
    assert done.returncode != 0
    _assert_one_line_naming(done.stderr, "cdk.json context uploadApi must be a JSON object (got str)")
