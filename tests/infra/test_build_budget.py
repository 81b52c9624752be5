"""Each CodeBuild project's compute type must leave 30% memory headroom over what its build peaked at.

The peaks are measured by `make rehearse` (every command's process tree, tools/review_kit/rehearse/measure.py)
and committed in tools/review_kit/rehearse/measured.json, which a passing rehearsal regenerates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.review_kit.rehearse.codebuild import COMPUTE_TYPES

MEASURED = Path(__file__).resolve().parents[2] / "tools" / "review_kit" / "rehearse" / "measured.json"
HEADROOM = 0.30


def _codebuild_actions(pipeline_app) -> dict[str, str]:
    """'Stage/Action' -> project logical id, for every CodeBuild action of the pipeline."""
    (pipeline,) = pipeline_app.of_type("AWS::CodePipeline::Pipeline").values()
    return {
        f"{stage['Name']}/{action['Name']}": action["Configuration"]["ProjectName"]["Ref"]
        for stage in pipeline["Properties"]["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "CodeBuild"
    }


def budget_violations(
    measured: dict[str, dict], actions: dict[str, str], compute: dict[str, str]
) -> list[str]:
    problems = []
    for label, project in actions.items():
        if label not in measured:
            problems.append(f"{label}: no measured peak (run `make rehearse`)")
            continue
        _, memory_gib = COMPUTE_TYPES[compute[project]]
        limit_mib = memory_gib * 1024 * (1 - HEADROOM)
        peak = measured[label]["peak_mib"]
        if peak > limit_mib:
            problems.append(
                f"{label}: peak {peak} MiB leaves less than {HEADROOM:.0%} of {compute[project]}'s "
                f"{memory_gib:g} GiB (at most {limit_mib:.0f} MiB)"
            )
    return problems


def test_every_build_leaves_memory_headroom(pipeline_app):
    # GIVEN the measured peaks and each CodeBuild action's project compute type
    measured = json.loads(MEASURED.read_text(encoding="utf-8"))["builds"]
    actions = _codebuild_actions(pipeline_app)
    compute = {
        p: pipeline_app.resources[p]["Properties"]["Environment"]["ComputeType"] for p in actions.values()
    }
    # WHEN each peak is held against its compute type's memory
    # THEN every one leaves at least 30% headroom
    assert budget_violations(measured, actions, compute) == []


@pytest.mark.parametrize(
    ("peak", "compute_type", "ok"),
    [
        (3400, "BUILD_GENERAL1_SMALL", False),
        (3400, "BUILD_GENERAL1_MEDIUM", True),
        (2200, "BUILD_GENERAL1_SMALL", False),
    ],
)
def test_the_budget_fails_a_build_too_close_to_its_memory(peak, compute_type, ok):
    # GIVEN mypy's cold peak (~3.4 GB) or a 2.2 GB build, on SMALL (3 GB) or MEDIUM (7 GB)
    # WHEN held against the budget
    problems = budget_violations(
        {"Build/Synth": {"peak_mib": peak}}, {"Build/Synth": "P"}, {"P": compute_type}
    )
    # THEN only MEDIUM leaves 30% over the cold mypy run; SMALL's 2150 MiB limit fails both
    assert (problems == []) is ok
