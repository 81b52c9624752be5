"""`make scan` (tools/pipeline_checks/gates): every gate runs, one summary, the exit code a build needs."""

from __future__ import annotations

import json

import pytest

from tools.pipeline_checks.gates import __main__ as runner
from tools.pipeline_checks.gates.common import FAILED, NOT_CHECKED, PASSED, GateResult


def _gates(*statuses: str) -> dict[str, object]:
    return {
        f"g{i}": (lambda status=status, i=i: GateResult(f"g{i}", f"gate {i}", status, f"summary {i}"))
        for i, status in enumerate(statuses)
    }


@pytest.mark.parametrize(
    ("statuses", "strict", "code"),
    [
        pytest.param((PASSED, PASSED), False, 0, id="all passed"),
        pytest.param((PASSED, FAILED, NOT_CHECKED), False, 1, id="a failure fails"),
        pytest.param((PASSED, NOT_CHECKED), False, 0, id="not checked, outside the pipeline"),
        pytest.param((PASSED, NOT_CHECKED), True, 3, id="not checked, strict (the pipeline)"),
    ],
)
def test_the_exit_code_is_what_the_build_needs(monkeypatch, tmp_path, capsys, statuses, strict, code):
    # GIVEN gates that end with these statuses, and strictness only from the flag: the pipeline's
    # build sets SCAN_STRICT=1 for everything it runs, this test included
    monkeypatch.delenv("SCAN_STRICT", raising=False)
    monkeypatch.setattr(runner, "GATES", _gates(*statuses))
    # WHEN `make scan` runs them (SCAN_STRICT=1 in the pipeline)
    args = ["--out", str(tmp_path), *(["--strict"] if strict else [])]
    # THEN the exit code fails the build on a failure, and on NOT CHECKED only when strict
    assert runner.main(args) == code
    # AND NOT CHECKED is announced in capitals, never as passed
    err = capsys.readouterr().err
    assert ("NOT CHECKED:" in err) == (NOT_CHECKED in statuses)


def test_every_gate_runs_and_is_summarized_even_after_a_failure(monkeypatch, tmp_path):
    # GIVEN a failing first gate
    monkeypatch.setattr(runner, "GATES", _gates(FAILED, PASSED, NOT_CHECKED))
    # WHEN `make scan` runs
    runner.main(["--out", str(tmp_path)])
    # THEN each gate has its file, and summary.json lists all three with their status
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert [(g["gate"], g["status"]) for g in summary["gates"]] == [
        ("g0", FAILED),
        ("g1", PASSED),
        ("g2", NOT_CHECKED),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g0.json", "g1.json", "g2.json", "summary.json"]


def test_scan_strict_comes_from_the_environment(monkeypatch, tmp_path):
    # GIVEN SCAN_STRICT=1, as buildspec.yml sets it for the pipeline
    monkeypatch.setenv("SCAN_STRICT", "1")
    monkeypatch.setattr(runner, "GATES", _gates(NOT_CHECKED))
    # WHEN `make scan` runs without --strict
    # THEN a gate that could not check fails it
    assert runner.main(["--out", str(tmp_path)]) == 3
