"""The verifier's test helpers: the servers to start, and the verifier run as `make verify` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.local_server import LOCAL_KNOBS, OUTPUTS_ENV, REPO_ROOT

RATE, BURST = 50, 50
SMALL_LIMITS = {"THROTTLE_RATE": str(RATE), "THROTTLE_BURST": str(BURST)}
# One correct server and one per fault the verifier must catch.
SERVERS = {
    "correct": SMALL_LIMITS,
    "throttle-off": {"THROTTLE": "off"},
    "validation-off": {**SMALL_LIMITS, "LOCAL_GATEWAY_VALIDATION": "off"},
    "fault-500": {**SMALL_LIMITS, "LOCAL_FAULT": "500"},
}
VERIFY_TIMEOUT_S = 120


@dataclass(frozen=True)
class VerifierRun:
    returncode: int
    stdout: str
    stderr: str
    junit_path: Path
    json_path: Path

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.json_path.read_text(encoding="utf-8"))

    @property
    def statuses(self) -> dict[str, str]:
        return {check["name"]: check["status"] for check in self.report["checks"]}

    @property
    def failed(self) -> set[str]:
        return {name for name, status in self.statuses.items() if status == "failed"}

    def check(self, name: str) -> dict[str, Any]:
        (check,) = [check for check in self.report["checks"] if check["name"] == name]
        return check

    def junit(self) -> ET.Element:
        return ET.parse(self.junit_path).getroot()

    def table_line(self, name: str) -> str:
        (line,) = [line for line in self.stdout.splitlines() if f"  {name}  " in line]
        return line


class Verifier:
    """The verifier as `make verify` runs it: no limits given, it reads them from the outputs
    file the local server wrote; `env` adds variables (THROTTLE_RATE/THROTTLE_BURST for a server
    that enforces none and so writes none)."""

    def __init__(self, workdir: Path, outputs: Path, mode: str, *args: str, **env: str) -> None:
        self.junit_path = workdir / f"{mode}-junit.xml"
        self.json_path = workdir / f"{mode}-report.json"
        environment = {k: v for k, v in os.environ.items() if k not in (*LOCAL_KNOBS, OUTPUTS_ENV)}
        environment.update(env)
        command = [
            sys.executable,
            "-m",
            "tools.pipeline_checks.verify",
            "--mode",
            mode,
            "--outputs",
            str(outputs),
        ]
        command += ["--junit", str(self.junit_path), "--json", str(self.json_path), *args]
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def result(self) -> VerifierRun:
        try:
            stdout, stderr = self.process.communicate(timeout=VERIFY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            pytest.fail(f"the verifier ran over {VERIFY_TIMEOUT_S} s:\n{stdout}\n{stderr}")
        return VerifierRun(self.process.returncode, stdout, stderr, self.junit_path, self.json_path)
