"""The SBOM gate: CycloneDX bills of materials of the Lambda asset and of the build environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.pipeline_checks.gates import sbom
from tools.pipeline_checks.gates.common import FAILED, PASSED, REPO_ROOT

POWERTOOLS = "aws-lambda-powertools"


@pytest.fixture(scope="module")
def sboms(tmp_path_factory) -> tuple[object, Path]:
    out = tmp_path_factory.mktemp("sbom")
    return sbom.run(out=out), out


def _pinned(package: str) -> str:
    return sbom.pins(REPO_ROOT / "lambda" / "requirements.txt")[package]


@pytest.mark.parametrize("name", ["lambda.cdx.json", "build.cdx.json"])
def test_both_sboms_are_cyclonedx_and_list_powertools_at_its_pin(sboms, name):
    # GIVEN the SBOMs the gate wrote
    result, out = sboms
    # WHEN each is parsed
    document = json.loads((out / name).read_text(encoding="utf-8"))
    # THEN it is a CycloneDX document that lists aws-lambda-powertools at lambda/requirements.txt's version
    assert result.status == PASSED
    assert document["bomFormat"] == "CycloneDX"
    assert sbom.components(document)[POWERTOOLS] == _pinned(POWERTOOLS)


def test_the_lambda_sbom_is_exactly_the_assets_pins(sboms):
    # GIVEN lambda/requirements.txt, what the bundle installs with --no-deps
    result, out = sboms
    # WHEN the Lambda SBOM's components are read
    listed = sbom.components(json.loads((out / "lambda.cdx.json").read_text(encoding="utf-8")))
    # THEN they are the pins, no more, no less, and the SBOM says which part of the project it is
    assert listed == sbom.pins(REPO_ROOT / "lambda" / "requirements.txt")
    document = json.loads((out / "lambda.cdx.json").read_text(encoding="utf-8"))
    assert document["metadata"]["component"]["name"].endswith("-lambda-asset")
    assert result.artifacts[0].endswith("lambda.cdx.json")


def test_the_build_sbom_describes_the_build_environment(sboms):
    # GIVEN the build SBOM
    _, out = sboms
    # WHEN its components are read
    listed = sbom.components(json.loads((out / "build.cdx.json").read_text(encoding="utf-8")))
    # THEN it holds what synthesizes and checks the app, at requirements.txt's pins
    for package, version in sbom.pins(REPO_ROOT / "requirements.txt").items():
        assert listed[package] == version, package


def test_an_sbom_that_cannot_be_written_fails_the_gate(tmp_path):
    # GIVEN a build environment that does not exist
    # WHEN the gate runs
    result = sbom.run(out=tmp_path, python=str(tmp_path / "no-such-python"))
    # THEN it fails and says which SBOM
    assert result.status == FAILED
    assert "build.cdx.json" in result.summary
