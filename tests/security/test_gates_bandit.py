"""The static analysis gate: bandit with [tool.bandit]; high severity fails, the rest is listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.pipeline_checks.gates import code_scan
from tools.pipeline_checks.gates.common import FAILED, PASSED, REPO_ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the repository's bandit configuration and one package to plant code in."""
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


def test_the_repositorys_code_has_no_high_severity_finding():
    # GIVEN main.py, stages/, lambda/ and tools/
    # WHEN bandit checks them as `make scan` does
    result = code_scan.run()
    # THEN nothing is high severity (lower ones are listed, not failed)
    assert result.status == PASSED, [f for f in result.findings if f["severity"] == "HIGH"]
    assert "0 high" in result.summary


def test_a_planted_shell_injection_fails_the_gate(project):
    # GIVEN code that runs a caller's string through a shell
    (project / "app" / "run.py").write_text(
        "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True)\n",
        encoding="utf-8",
    )
    # WHEN the gate checks the package
    result = code_scan.run(root=project, targets=("app",))
    # THEN it fails on bandit's high-severity finding, with where it is
    assert result.status == FAILED
    assert result.exit_code == 1
    high = [f for f in result.findings if f["severity"] == "HIGH"]
    assert [(f["id"].split()[0], f["where"]) for f in high] == [("B602", "app/run.py:5")]


def test_a_medium_finding_is_listed_but_does_not_fail(project):
    # GIVEN code that loads YAML with the full loader (medium severity)
    (project / "app" / "config.py").write_text(
        "import yaml\n\n\ndef load(text):\n    return yaml.load(text)\n", encoding="utf-8"
    )
    # WHEN the gate checks the package
    result = code_scan.run(root=project, targets=("app",))
    # THEN it passes, and the finding is there for the report
    assert result.status == PASSED
    assert [(f["id"].split()[0], f["severity"], f["where"]) for f in result.findings] == [
        ("B506", "MEDIUM", "app/config.py:5")
    ]


def test_a_file_bandit_cannot_parse_fails_the_gate(project):
    # GIVEN a file that is not Python
    (project / "app" / "broken.py").write_text("def (:\n", encoding="utf-8")
    # WHEN the gate checks the package
    result = code_scan.run(root=project, targets=("app",))
    # THEN it fails: an unchecked file is not a clean one
    assert result.status == FAILED
    assert "not parsed" in result.summary
