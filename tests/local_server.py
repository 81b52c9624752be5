"""A local server (`python -m tools.dev.local`) as a test's subprocess, and the outputs file it writes.

Shared by the e2e suite (tests/e2e) and the verifier's tests (tests/verify). A server is
ready once it has written its outputs file; several can start at once (wait=False, then
wait_until_ready), since most of a start is synthesizing the stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUTS_ENV = "UPLOAD_API_OUTPUTS"
STARTUP_TIMEOUT_S = 180  # a cold synth (node + jsii) plus moto start-up on a slow box
STOP_TIMEOUT_S = 30
# Knobs of the local server that the default server must not inherit from the caller's shell.
LOCAL_KNOBS = ("THROTTLE", "THROTTLE_RATE", "THROTTLE_BURST", "LOCAL_GATEWAY_VALIDATION", "LOCAL_FAULT")


@dataclass(frozen=True)
class Deployment:
    """One stack's outputs, and whether a local server stands behind them."""

    stack_name: str
    outputs: dict[str, str]

    @property
    def upload_endpoint(self) -> str:
        return self.outputs["UploadEndpoint"]

    @property
    def api_url(self) -> str:
        return self.outputs["ApiUrl"]

    @property
    def aws_endpoint_url(self) -> str | None:
        return self.outputs.get("AwsEndpointUrl")

    @property
    def local(self) -> bool:
        return self.aws_endpoint_url is not None


def read_outputs(path: Path) -> Deployment:
    """The one stack in an outputs file that has an UploadEndpoint."""
    stacks = json.loads(path.read_text(encoding="utf-8"))
    matches = [(name, outputs) for name, outputs in stacks.items() if "UploadEndpoint" in outputs]
    if len(matches) != 1:
        raise pytest.UsageError(
            f"{path}: expected one stack with an UploadEndpoint output, found {len(matches)}"
        )
    name, outputs = matches[0]
    return Deployment(name, outputs)


class LocalServer:
    """`python -m tools.dev.local` as a subprocess, ready once it has written its outputs file."""

    def __init__(self, workdir: Path, env_overrides: dict[str, str], *, wait: bool = True) -> None:
        self.outputs_path = workdir / "outputs.json"
        self.log_path = workdir / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in (*LOCAL_KNOBS, OUTPUTS_ENV)}
        node_bin = REPO_ROOT / "node_modules" / ".bin"
        env["PATH"] = os.pathsep.join([str(node_bin), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(env_overrides)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tools.dev.local", "--port", "0", "--outputs", str(self.outputs_path)],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._deployment: Deployment | None = None
        if wait:
            self.wait_until_ready()

    @property
    def deployment(self) -> Deployment:
        return self._deployment or self.wait_until_ready()

    def wait_until_ready(self) -> Deployment:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.outputs_path.exists():
                self._deployment = read_outputs(self.outputs_path)
                return self._deployment
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the local server did not start; its log:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> int:
        """SIGTERM, as `make local`'s Ctrl-C or a supervisor would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
