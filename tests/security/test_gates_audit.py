"""The dependency gate: pip-audit on every pinned requirements file; a vulnerable pin fails, no answer is
NOT CHECKED (exit 3), never a pass."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from tools.pipeline_checks.gates import dependency_audit
from tools.pipeline_checks.gates.common import FAILED, NOT_CHECKED, PASSED, REPO_ROOT

VULNERABLE_PIN = "requests==2.19.0"  # CVE-2018-18074 and later advisories; fixed long ago


def _fake_pip_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: str, code: int = 0) -> None:
    """pip-audit replaced by a script that prints `stdout` and exits `code`: the gate's reading of it."""
    script = tmp_path / "pip-audit"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nif '--version' in sys.argv:\n    print('pip-audit 0')\n"
        f"    sys.exit(0)\nsys.stdout.write({stdout!r})\nsys.stderr.write('ConnectionError: boom\\n')\n"
        f"sys.exit({code})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(dependency_audit, "tool", lambda name: str(script))


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(f"{VULNERABLE_PIN}\n", encoding="utf-8")
    return path


def test_every_pinned_requirements_file_is_audited():
    # GIVEN the repository
    # WHEN the files the gate audits are listed
    files = {str(p.relative_to(REPO_ROOT)) for p in dependency_audit.requirement_files(REPO_ROOT)}
    # THEN they are every requirements file, the Lambda asset's included
    assert files >= {"requirements.txt", "lambda/requirements.txt", "lambda/requirements-py39.txt"}


def test_every_locked_group_is_audited(tmp_path):
    # GIVEN uv.lock, exported as the gate exports it
    exported = {
        path.name: path.read_text(encoding="utf-8")
        for path in dependency_audit.exported_lock(REPO_ROOT, tmp_path)
    }
    # WHEN the exports are read
    # THEN one holds every group but checkov (a pin of each, transitive ones too), the other checkov's own
    assert set(exported) == {"uv.lock[dev+scan]", "uv.lock[checkov]"}
    for pin in (
        "pytest==",
        "bandit==",
        "aws-cdk-lib==",
        "moto==",
        "aws-lambda-powertools==",
        "httpx==",
        "botocore==",
    ):
        assert f"\n{pin}" in exported["uv.lock[dev+scan]"], pin
    assert "\ncheckov==3.3.30" in exported["uv.lock[checkov]"]
    assert "\nboto3==1.35." in exported["uv.lock[checkov]"]


def test_a_reported_vulnerability_fails_the_gate(tmp_path, monkeypatch, requirements):
    # GIVEN pip-audit reporting a known vulnerability for the pin
    report = {
        "dependencies": [
            {
                "name": "requests",
                "version": "2.19.0",
                "vulns": [
                    {
                        "id": "PYSEC-2018-28",
                        "fix_versions": ["2.20.0"],
                        "aliases": ["CVE-2018-18074"],
                        "description": "d",
                    }
                ],
            }
        ]
    }
    _fake_pip_audit(tmp_path, monkeypatch, json.dumps(report), code=1)  # fmt: skip
    # WHEN the gate runs
    result = dependency_audit.run(root=tmp_path, files=[requirements])
    # THEN it fails, naming the file, the pin, the advisory and the fix
    assert result.status == FAILED
    (finding,) = result.findings
    assert (finding["id"], finding["where"]) == ("PYSEC-2018-28", "requirements.txt: requests==2.19.0")
    assert finding["message"].startswith("fixed in 2.20.0; aliases CVE-2018-18074")


def test_a_package_the_service_did_not_answer_for_is_not_checked(tmp_path, monkeypatch, requirements):
    # GIVEN pip-audit's "No known vulnerabilities found" (exit 0) with the package skipped
    report = {"dependencies": [{"name": "requests", "skip_reason": "Dependency not found on PyPI and could "
                                "not be audited: requests (2.19.0)"}]}  # fmt: skip
    _fake_pip_audit(tmp_path, monkeypatch, json.dumps(report), code=0)
    # WHEN the gate runs
    result = dependency_audit.run(root=tmp_path, files=[requirements])
    # THEN it is NOT CHECKED (exit 3), not passed
    assert result.status == NOT_CHECKED
    assert result.exit_code == 3
    assert result.summary.startswith(dependency_audit.UNREACHABLE)
    assert result.findings[0]["where"] == "requirements.txt: requests==2.19.0"


def test_pip_audit_stopping_without_a_report_is_not_checked(tmp_path, monkeypatch, requirements):
    # GIVEN pip-audit failing before it audits anything (no JSON on stdout)
    _fake_pip_audit(tmp_path, monkeypatch, "", code=1)
    # WHEN the gate runs
    result = dependency_audit.run(root=tmp_path, files=[requirements])
    # THEN it says it could not reach the service, with pip-audit's last words
    assert result.status == NOT_CHECKED
    assert result.findings[0]["message"] == f"{dependency_audit.UNREACHABLE}: ConnectionError: boom"


def test_without_a_network_the_real_pip_audit_is_not_checked(requirements, tmp_path):
    # GIVEN the real pip-audit with every HTTPS request sent to a closed port on this machine
    closed = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "HTTPS_PROXY": closed,
        "https_proxy": closed,
        "HTTP_PROXY": closed,
        "http_proxy": closed,
    }
    # WHEN the gate audits the pinned file
    # (and an empty cache: an answer cached by an earlier run must not stand in for the service)
    result = dependency_audit.run(root=tmp_path, files=[requirements], env=env, cache_dir=tmp_path / "cache")
    # THEN it says NOT CHECKED and exits 3, not "no known vulnerabilities", with why
    assert result.status == NOT_CHECKED
    assert result.exit_code == 3
    assert result.summary.startswith(dependency_audit.UNREACHABLE)
    (finding,) = result.findings
    assert finding["message"].startswith(f"{dependency_audit.UNREACHABLE}: ")
    assert "Connection refused" in finding["message"]


def test_a_planted_vulnerable_pin_never_passes(requirements, tmp_path):
    # GIVEN a requirements file pinning a release with known vulnerabilities
    # WHEN the gate audits it with the real pip-audit and PyPI's vulnerability data
    result = dependency_audit.run(root=tmp_path, files=[requirements])
    # THEN it does not pass
    assert result.status != PASSED
    if result.status == NOT_CHECKED:
        # This machine's network reaches PyPI's package index but not its per-release JSON API.
        assert result.summary.startswith(dependency_audit.UNREACHABLE)
        pytest.skip(
            "VULNERABILITY SERVICE DID NOT ANSWER: the planted pin was reported NOT CHECKED (exit 3), "
            "so its flagging by PyPI's data was not verified here; the pipeline (SCAN_STRICT=1) fails on this"
        )
    # AND when PyPI answers, it is failed with requests named
    assert result.status == FAILED
    assert {f["where"] for f in result.findings} == {"requirements.txt: requests==2.19.0"}
