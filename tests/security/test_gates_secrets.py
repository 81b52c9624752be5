"""The secrets gate: detect-secrets over the repository against .secrets.baseline; a planted key fails it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools.pipeline_checks.gates import secrets_scan
from tools.pipeline_checks.gates.common import FAILED, PASSED, REPO_ROOT

# Built at run time so this file itself holds no key-shaped string for the gate to find.
FAKE_AWS_KEY_ID = "AKIA" + "Z7XQ3VNR5TLW2YKB"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the committed baseline in an empty project (no git: files are listed by walking)."""
    shutil.copyfile(REPO_ROOT / secrets_scan.BASELINE, tmp_path / secrets_scan.BASELINE)
    (tmp_path / ".gitignore").write_text(".venv*/\n", encoding="utf-8")
    (tmp_path / "app.py").write_text("BUCKET = 'uploads'\n", encoding="utf-8")
    return tmp_path


def test_the_repository_passes_with_its_committed_baseline():
    # GIVEN the repository as it is, and .secrets.baseline as committed
    # WHEN the gate scans every file git would commit
    result = secrets_scan.run()
    # THEN nothing new is found
    assert result.status == PASSED, result.findings
    assert "no new secrets" in result.summary


def test_a_planted_aws_key_fails_the_gate(repo):
    # GIVEN a file with an AWS access key id in it
    (repo / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY_ID}"\n', encoding="utf-8")
    # WHEN the gate scans the project
    result = secrets_scan.run(root=repo)
    # THEN it fails and says what and where
    assert result.status == FAILED
    assert {"id": "AWS Access Key", "severity": "HIGH", "where": "settings.py:1",
            "message": "new potential secret"} in result.findings  # fmt: skip
    assert result.exit_code == 1


def test_files_gitignore_ignores_are_not_scanned_without_git(repo):
    # GIVEN the same key inside an ignored virtualenv (what CodeBuild's zip of the repo would not hold)
    (repo / ".venv-scan").mkdir()
    (repo / ".venv-scan" / "leak.py").write_text(f'KEY = "{FAKE_AWS_KEY_ID}"\n', encoding="utf-8")
    # WHEN the files to scan are listed (no .git here) and the gate runs
    files = secrets_scan.tracked_files(repo)
    result = secrets_scan.run(root=repo)
    # THEN the ignored file is not among them, and the gate passes
    assert sorted(files) == [".gitignore", ".secrets.baseline", "app.py"]
    assert result.status == PASSED


def test_a_baseline_entry_marked_as_a_real_secret_fails_the_gate(repo):
    # GIVEN a baseline in which an audited entry was marked as a real secret
    baseline = json.loads((repo / secrets_scan.BASELINE).read_text(encoding="utf-8"))
    name, entries = next(iter(baseline["results"].items()))
    entries[0]["is_secret"] = True
    (repo / secrets_scan.BASELINE).write_text(json.dumps(baseline), encoding="utf-8")
    # WHEN the gate runs
    result = secrets_scan.run(root=repo)
    # THEN it fails: a known real secret stays a finding until it is removed and rotated
    assert result.status == FAILED
    assert any(f["where"].startswith(f"{name}:") for f in result.findings)


def test_every_baseline_entry_is_audited_and_every_exclusion_has_a_reason():
    # GIVEN the committed baseline
    baseline = json.loads((REPO_ROOT / secrets_scan.BASELINE).read_text(encoding="utf-8"))
    # WHEN its entries and file exclusions are read
    entries = [e for found in baseline["results"].values() for e in found]
    (excluded,) = [
        f["pattern"] for f in baseline["filters_used"] if f["path"].endswith("should_exclude_file")
    ]
    # THEN each entry was audited as a false positive, and each exclusion is one the gate explains
    assert entries
    assert all(e.get("is_secret") is False for e in entries)
    assert set(excluded) == set(secrets_scan.EXCLUDED_FILES)
    assert all(len(reason.split()) >= 8 for reason in secrets_scan.EXCLUDED_FILES.values())
