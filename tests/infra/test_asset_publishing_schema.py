"""The asset publisher the pipeline runs must read the cloud assembly schema aws-cdk-lib writes.

Issue 9 finding 1: cdk-assets 4.7.3 (the newest on npm) reads schema 54 at most; aws-cdk-lib 2.275
writes 55. The pipeline now publishes with the CDK CLI package-lock.json pins; this holds the
assembly's schema against the maximum that tool's bundled cloud-assembly-schema declares.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from stages.pipeline.patches.node_tools import PIPELINE_CDK

REPO_ROOT = Path(__file__).resolve().parents[2]
# The bundled @aws-cdk/cloud-assembly-schema's version file, as esbuild inlines it in each tool.
_SCHEMA_REVISION = re.compile(r"Do not hold back the version on additions[^\n]*\n\s*revision:\s*(\d+)")


def max_schema_major(bundle: Path) -> int:
    match = _SCHEMA_REVISION.search(bundle.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise AssertionError(f"{bundle}: no bundled cloud-assembly-schema version found")
    return int(match.group(1))


def publisher_bundle(command: str) -> Path:
    """The installed JS bundle of the tool an asset publishing command runs."""
    if command.startswith(f"{PIPELINE_CDK} "):
        return REPO_ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js"
    if command.startswith("cdk-assets "):
        return REPO_ROOT / "node_modules" / "cdk-assets" / "bin" / "cdk-assets.js"
    raise AssertionError(f"unknown asset publisher: {command}")


def test_the_asset_publisher_reads_the_assembly_schema(pipeline_app):
    # GIVEN the synthesized assembly's schema and the Assets project's publishing command
    assembly_major = int(
        json.loads((pipeline_app.outdir / "manifest.json").read_text())["version"].split(".")[0]
    )
    (action,) = pipeline_app.actions("Assets")
    (command,) = pipeline_app.buildspec(pipeline_app.project_id(action))["phases"]["build"]["commands"]
    # WHEN the maximum schema of the tool it runs (installed from package-lock.json) is read
    bundle = publisher_bundle(command)
    locked = json.loads((REPO_ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    installed = json.loads((bundle.parents[1] / "package.json").read_text(encoding="utf-8"))["version"]
    # THEN it is the locked version, and it reads the schema aws-cdk-lib writes
    assert installed == locked[f"node_modules/{bundle.parents[1].name}"]["version"]
    tool_major = max_schema_major(bundle)
    assert tool_major >= assembly_major, (
        f"{command.split()[0]} reads schema {tool_major}; the assembly is {assembly_major}"
    )


def test_the_schema_reader_finds_cdk_assets_4_7_3_too_old(tmp_path):
    # GIVEN cdk-assets 4.7.3's bundled schema version file, as its bundle inlines it
    bundle = tmp_path / "cdk-assets.js"
    bundle.write_text(
        '      $comment: "Do not hold back the version on additions: jsonschema validation of the '
        'manifest by the consumer will trigger errors on unexpected fields.",\n      revision: 54\n'
    )
    # WHEN its maximum is read
    # THEN it is 54: lower than the 55 aws-cdk-lib 2.275 writes (the check above would fail)
    assert max_schema_major(bundle) == 54
