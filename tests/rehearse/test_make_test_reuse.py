"""`make test` runs the buildspec's commands once; the rehearsal's Synth action stands on that run
only when it is the same build (tools/review_kit/rehearse/reuse.py), and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rehearse.conftest import codebuild_pipeline
from tools.review_kit.rehearse import actions, cli, make_test, reuse
from tools.review_kit.rehearse.measure import run_measured

SPEC: dict[str, Any] = {
    "version": "0.2",
    "env": {"variables": {"SCAN_STRICT": "1"}},
    "phases": {
        "install": {"commands": ["make install"]},
        "build": {"commands": ["make lint", "make unit"], "finally": ["make report"]},
    },
    "artifacts": {"base-directory": "cdk.out", "files": ["**/*"]},
}


@pytest.fixture(autouse=True)
def preset_source(monkeypatch):
    """The source action hands on the synthetic artifact the test laid out (no git archive)."""
    monkeypatch.setitem(actions.PROVIDERS, "CodeCommit", lambda run, action: actions.Outcome("pass"))
    monkeypatch.setenv("SCAN_STRICT", "0")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A committed, clean work tree with what make test leaves: cdk.out/ and reports/ (ignored)."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / ".gitignore").write_text("cdk.out/\nreports/\n", encoding="utf-8")
    (repo / "cdk.out").mkdir()
    (repo / "cdk.out" / "UploadApiPipeline.template.json").write_text("{}", encoding="utf-8")
    (repo / "reports" / "gates").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "add", ".gitignore")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c")
    return repo


def _record(head: str, **changes: Any) -> dict[str, Any]:
    commands = ["make install", "make lint", "make unit", "make report"]
    document = {
        "commit": head,
        "clean_tree": True,
        "scan_strict": "0",
        "failed": None,
        "commands": [{"command": c, "exit": 0, "seconds": 10.0, "peak_mib": 100} for c in commands],
    }
    document.update(changes)
    return document


def _synth_template() -> dict[str, Any]:
    template = codebuild_pipeline(SPEC)
    (action,) = template["Resources"]["Pipeline"]["Properties"]["Stages"][1]["Actions"]
    action["OutputArtifacts"] = [{"Name": "Synth_Output"}]
    return template


def test_make_test_runs_the_buildspec_commands_with_codebuilds_failure_rules(tmp_path, capsys):
    # GIVEN a buildspec whose second build command fails
    spec = {
        "version": "0.2",
        "phases": {
            "install": {"commands": ["true"]},
            "build": {"commands": ["true", "exit 3", "echo never"], "finally": ["echo finally-ran"]},
        },
    }
    buildspec = tmp_path / "buildspec.yml"
    buildspec.write_text(yaml.safe_dump(spec), encoding="utf-8")
    record = tmp_path / "make-test.json"
    # WHEN make test runs it
    status = make_test.main(["--buildspec", str(buildspec), "--record", str(record)])
    # THEN it fails; the rest of the build is skipped, its `finally` runs, each command is timed
    assert status == 1
    document = json.loads(record.read_text(encoding="utf-8"))
    assert [(c["command"], c["exit"]) for c in document["commands"]] == [
        ("true", 0),
        ("true", 0),
        ("exit 3", 3),
        ("echo finally-ran", 0),
    ]
    assert document["failed"] == "build: exit 3 (exit 3)"
    assert "finally-ran" in capsys.readouterr().out


def test_the_synth_action_stands_on_a_matching_make_test_run_and_says_so(
    make_run, checkout, tmp_path, monkeypatch
):
    # GIVEN make test's passing record of this commit, from a clean tree (a source with no Makefile:
    # running the commands here would fail)
    record = tmp_path / "make-test.json"
    record.write_text(json.dumps(_record(_git(checkout, "rev-parse", "HEAD"))), encoding="utf-8")
    monkeypatch.setitem(actions.PROVIDERS, "CodeBuild", reuse.synth_from_make_test(record, checkout))
    run = make_run(_synth_template())
    # WHEN the pipeline is rehearsed
    (_, row) = cli.run_actions(run)
    # THEN the Synth row reads `ran in make test`, with make test's times, and hands on its cdk.out
    assert row["result"] == reuse.REUSED
    assert row["note"].startswith("REUSED, not run again: make test ran these 4 commands on commit ")
    assert row["seconds"] == 40.0
    assert [c["command"] for c in row["commands"]] == [
        "make install",
        "make lint",
        "make unit",
        "make report",
    ]
    assert run.artifacts["Synth_Output"] == checkout / "cdk.out"
    assert "$ make unit (exit 0)" in cli.table([row])


def test_a_record_of_another_commit_runs_the_synth_commands_here(make_run, tmp_path):
    # GIVEN a record of another commit, and a Synth build that can run here
    spec = {"version": "0.2", "phases": {"build": {"commands": ["true"]}}}
    record = tmp_path / "make-test.json"
    record.write_text(json.dumps(_record("0" * 40, commands=[])), encoding="utf-8")
    run = make_run(codebuild_pipeline(spec))
    # WHEN the pipeline is rehearsed with the record
    (_, row) = cli.run_actions(run, make_test_record=record)
    # THEN the commands run here, and the note says why the record was not used
    assert row["result"] == "pass"
    assert [c["command"] for c in row["commands"]] == ["true"]
    assert "make test's run not reused (" in row["note"]


@pytest.mark.parametrize(
    ("changes", "clean", "reason"),
    [
        ({}, False, "the work tree has changes"),
        ({"clean_tree": False}, True, "make test ran on a tree with changes"),
        ({"commit": "f" * 40}, True, "make test ran on commit ffffffffffff"),
        ({"commands": [{"command": "make install", "exit": 0}]}, True, "the Synth buildspec runs"),
        ({"failed": "build: make unit (exit 1)"}, True, "make test failed (build: make unit (exit 1))"),
        ({"scan_strict": "1"}, True, "make test ran with SCAN_STRICT='1', this build with '0'"),
    ],
)
def test_a_record_that_is_not_this_build_is_not_reused(changes, clean, reason):
    # GIVEN make test's record, one thing about it (or the tree now) not this build's
    document = _record("a" * 40, **changes)
    # WHEN it is checked against the Synth buildspec
    why_not = reuse.why_not_reusable(document, SPEC, "a" * 40, clean)
    # THEN it is not reused, and the reason names the difference
    assert reason in why_not


def test_the_matching_record_is_reusable():
    assert reuse.why_not_reusable(_record("a" * 40), SPEC, "a" * 40, True) == ""


def test_a_commands_peak_names_the_processes_that_made_it(tmp_path):
    # GIVEN a command whose process tree holds ~200 MiB in one Python child for a moment
    hold = "import time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    command = f'{sys.executable} -c "{hold}" & {sys.executable} -m json.tool --help >/dev/null; wait'
    # WHEN it is measured as make test measures each buildspec command
    measured = run_measured(command, cwd=tmp_path, env=os.environ, log_path=tmp_path / "log")
    # THEN the peak is at least the held memory, and its largest part is that Python process
    assert measured.peak_mib >= 200
    kind, count, mib = measured.peak_parts[0]
    assert (kind, count) == (Path(sys.executable).name, 1)
    assert mib >= 200
    # AND the table says what the peak was made of once it reaches a GiB
    row = {"command": "make unit", "exit": 0, "seconds": 1.0, "peak_mib": 5000}
    row["peak_parts"] = [{"process": "pytest-xdist worker", "count": 2, "mib": 3000}]
    assert "make unit's peak: pytest-xdist worker x2 3000 MiB" in make_test.table([row])
    assert "peak:" not in make_test.table([{**row, "peak_mib": 900}])
