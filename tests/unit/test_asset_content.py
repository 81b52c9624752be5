"""The asset fingerprint PipelineChangeGate recomputes (stages/pipeline/asset_content.py), against
aws-cdk-lib's own `FileSystem.fingerprint`, the function `cdk synth` keys an output-hashed asset by;
and what the gate does with an asset whose key does not bind its bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.pipeline import assembly_check as rules
from stages.pipeline import asset_content
from stages.pipeline import pipeline_change_check as check

from .gate_fixtures import (
    CODE_ASSET,
    HANDLER_SOURCE,
    PROD_ASSEMBLY,
    QUALIFIER,
    STACK,
    TOOLS,
    pipeline_template,
    write_assembly,
)

CHUNK = asset_content.CHUNK
# Contents the hash treats differently: text, binary (a NUL in the first 8 KiB), CRLF line ends,
# bytes that are not UTF-8, a character across the 8 KiB boundary, a CR ending a chunk.
CONTENTS = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    st.sampled_from([
        b"a\r\nb\r\n", b"\xe9t\xe9\n", b"x" * (CHUNK - 1) + "€".encode() + b"tail",
        b"y" * (CHUNK - 1) + b"\r\nz", b"\x00" + b"\r\n" * CHUNK, b"", b"\r",
    ]),
)  # fmt: skip
# Fullwidth A and an astral character order differently by code point and by UTF-16 code unit.
NAME_CHARACTERS = "abcXYZ_.-é€\uff21\U0001d11e"
NAMES = st.text(alphabet=NAME_CHARACTERS, min_size=1, max_size=6).filter(lambda n: n not in (".", ".."))
TREES = st.recursive(
    CONTENTS, lambda children: st.dictionaries(NAMES, children, min_size=1, max_size=4), max_leaves=8
)


def write_tree(root: Path, tree: dict[str, object] | bytes) -> None:
    if isinstance(tree, bytes):
        root.write_bytes(tree)
        return
    root.mkdir()
    for name, child in tree.items():
        write_tree(root / name, child)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_the_fingerprint_is_aws_cdk_libs(tmp_path: Path, tree: dict[str, object] | bytes) -> None:
    # GIVEN any tree of files (or one file) WHEN fingerprinted THEN aws-cdk-lib computes the same hash
    root = Path(tempfile.mkdtemp(dir=tmp_path)) / "asset"
    write_tree(root, tree)
    assert asset_content.fingerprint(root)[0] == cdk.FileSystem.fingerprint(str(root))


def test_the_gate_fixtures_code_key_is_its_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(HANDLER_SOURCE, encoding="utf-8")
    assert cdk.FileSystem.fingerprint(str(tmp_path)) == CODE_ASSET


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b"x = 1\n", b"x = 1\r\n"),  # line ends
        (b"# -*- coding: latin-1 -*-\nMODE = '\xe9'\n", b"# -*- coding: latin-1 -*-\nMODE = '\xe8'\n"),
        (b"x" * (CHUNK - 1) + "中".encode(), b"x" * (CHUNK - 1) + "国".encode()),  # split at 8 KiB
    ],
    ids=["crlf", "not-utf-8", "split-character"],
)
def test_files_the_hash_cannot_tell_apart_are_reported(tmp_path: Path, first: bytes, second: bytes) -> None:
    # GIVEN two files with different bytes that aws-cdk-lib's fingerprint hashes alike
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "app.py").write_bytes(first)
    (tmp_path / "b" / "app.py").write_bytes(second)
    assert cdk.FileSystem.fingerprint(str(tmp_path / "a")) == cdk.FileSystem.fingerprint(str(tmp_path / "b"))
    # WHEN fingerprinted here THEN the same hash, and at least one is named as not bound by it
    found = [asset_content.fingerprint(tmp_path / name) for name in "ab"]
    assert found[0][0] == found[1][0]
    assert any(reasons for _, reasons in found)


def test_a_bound_key_has_no_reasons_and_another_key_names_the_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(HANDLER_SOURCE, encoding="utf-8")
    assert asset_content.unbound_reasons(tmp_path, f"{CODE_ASSET}.zip") == []
    (reason,) = asset_content.unbound_reasons(tmp_path, "0" * 64 + ".zip")
    assert CODE_ASSET in reason


def test_a_backslash_name_hashes_as_a_path_and_is_reported(tmp_path: Path) -> None:
    # GIVEN a file `pkg/mod.py` and, elsewhere, a file named `pkg\mod.py` with the same bytes
    (tmp_path / "a" / "pkg").mkdir(parents=True)
    (tmp_path / "a" / "pkg" / "mod.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "pkg\\mod.py").write_text("x = 1\n", encoding="utf-8")
    # THEN aws-cdk-lib hashes both trees alike, and the second is reported
    assert cdk.FileSystem.fingerprint(str(tmp_path / "a")) == cdk.FileSystem.fingerprint(str(tmp_path / "b"))
    assert asset_content.fingerprint(tmp_path / "a")[1] == []
    assert "a backslash" in asset_content.fingerprint(tmp_path / "b")[1][0]


def test_links_and_special_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text(HANDLER_SOURCE, encoding="utf-8")
    (tmp_path / "environ").symlink_to("/proc/self/environ")
    assert asset_content.fingerprint(tmp_path)[1] == ["environ: a symbolic link"]


# -- the gate ----------------------------------------------------------------------------------------


def judge(assembly: Path, deployed: dict[str, object]) -> list[str]:
    return rules.unbound_assets(assembly, deployed)


def test_the_synthesized_shape_is_bound(tmp_path: Path) -> None:
    # GIVEN the artifact as synth writes it (templates keyed by SHA-256, code by its fingerprint)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    # THEN no asset waits for a person
    assert judge(assembly, pipeline_template()) == []


def test_code_planted_under_a_later_commits_key_waits_for_a_person(tmp_path: Path) -> None:
    # GIVEN a run whose stage template names the key of reviewed code, with other code staged under it
    # (published first, the object would be what the reviewed commit later deploys unpublished)
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / f"asset.{CODE_ASSET}" / "handler.py").write_text(
        "import os; os.system('x')\n", encoding="utf-8"
    )
    # WHEN the gate judges it THEN that asset waits for a person, named
    (line,) = judge(assembly, pipeline_template())
    assert line.startswith(f"asset {CODE_ASSET} (asset.{CODE_ASSET}, published as {CODE_ASSET}.zip)")
    assert "not its content's fingerprint" in line


def test_an_asset_missing_from_the_artifact_is_refused(tmp_path: Path) -> None:
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    shutil.rmtree(assembly / f"asset.{CODE_ASSET}")
    with pytest.raises(rules.Refused, match=f"asset {CODE_ASSET}: asset.{CODE_ASSET} is not in the artifact"):
        judge(assembly, pipeline_template())


def add_pipeline_asset(assembly: Path, key_hash: str) -> None:
    """A pipeline-stack asset keyed by a fixed hash, as CDK's own handlers are (CDKPipelinesAutoApprove)."""
    (assembly / f"asset.{key_hash}").mkdir()
    (assembly / f"asset.{key_hash}" / "index.js").write_text("exports.handler = 1;\n", encoding="utf-8")
    manifest = assembly / f"{STACK}.assets.json"
    assets = json.loads(manifest.read_text(encoding="utf-8"))
    destination = dict(next(iter(next(iter(assets["files"].values()))["destinations"].values())))
    assets["files"][key_hash] = {
        "source": {"path": f"asset.{key_hash}", "packaging": "zip"},
        "destinations": {"current": {**destination, "objectKey": f"{key_hash}.zip"}},
    }
    manifest.write_text(json.dumps(assets), encoding="utf-8")


def with_function(key_hash: str) -> dict[str, object]:
    template = pipeline_template()
    template["Resources"]["AutoApprove"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Code": {"S3Key": f"{key_hash}.zip"}},
    }
    return template


def test_a_fixed_hash_the_deployed_pipeline_names_needs_nobody(tmp_path: Path) -> None:
    # GIVEN a CDK handler keyed by a fixed hash, and a deployed pipeline already naming that key
    key = "87662fe7" * 8
    assembly = write_assembly(tmp_path / "cdk.out", with_function(key))
    add_pipeline_asset(assembly, key)
    # THEN it is not published again, and nothing waits
    assert judge(assembly, with_function(key)) == []
    # BUT a new fixed-hash key (a CDK upgrade, or a planted one) waits for a person
    (line,) = judge(assembly, pipeline_template())
    assert f"published as {key}.zip" in line


def test_the_check_lists_an_unbound_asset_for_a_person(tmp_path: Path) -> None:
    # GIVEN the code planted under the key; WHEN the check judges the whole artifact THEN it waits
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    (assembly / f"asset.{CODE_ASSET}" / "extra.py").write_text("x = 1\n", encoding="utf-8")
    deployed = tmp_path / "deployed.json"
    deployed.write_text(json.dumps(pipeline_template()), encoding="utf-8")
    changes = check.judge(assembly, deployed, STACK, rules.tools_digest(TOOLS), QUALIFIER)
    assert any("not its content's fingerprint" in change for change in changes)


# -- asset entries shaped as synth writes them (each found by a review, reproduced with the locked CLI) --


def _prod_manifest(assembly: Path) -> tuple[Path, dict[str, Any]]:
    path = assembly / PROD_ASSEMBLY / "ProdUploadApi.assets.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_a_path_shaped_asset_id_is_refused(tmp_path: Path) -> None:
    # GIVEN the function's asset renamed `../../asset.planted/p`: the CLI builds its zip cache path from
    # the id and uploads `asset.planted/p.zip`, a zip the artifact ships, in place of the directory
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path, assets = _prod_manifest(assembly)
    assets["files"]["../../asset.planted/p"] = assets["files"].pop(CODE_ASSET)
    path.write_text(json.dumps(assets), encoding="utf-8")
    with pytest.raises(rules.Refused, match="is not a SHA-256 as synth writes it"):
        judge(assembly, pipeline_template())


def test_an_entry_sharing_the_functions_id_under_another_key_is_refused(tmp_path: Path) -> None:
    # GIVEN a second entry with the function's id, other code, and that code's own (bound) key: the
    # CLI's zip cache is per id, so the function's entry could upload the other code's zip
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path, assets = _prod_manifest(assembly)
    other = assembly / "asset.other"
    other.mkdir()
    (other / "handler.py").write_text("import os\n", encoding="utf-8")
    entry = json.loads(json.dumps(assets["files"][CODE_ASSET]))
    entry["source"]["path"] = "../asset.other"
    entry["destinations"]["current"]["objectKey"] = f"{cdk.FileSystem.fingerprint(str(other))}.zip"
    (path.parent / "Planted.assets.json").write_text(
        json.dumps({"files": {CODE_ASSET: entry}}), encoding="utf-8"
    )
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    manifest["artifacts"]["Planted.assets"] = {
        "type": "cdk:asset-manifest",
        "properties": {"file": "Planted.assets.json"},
    }
    (path.parent / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(rules.Refused, match=f"not {CODE_ASSET}.zip as synth names it"):
        judge(assembly, pipeline_template())


def test_a_file_under_a_zip_key_waits_for_a_person(tmp_path: Path) -> None:
    # GIVEN the function's asset replaced by a file whose SHA-256 is the function's fingerprint (the
    # fingerprint is a SHA-256 of bytes anyone can write out), published as `<id>.zip`
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    path, assets = _prod_manifest(assembly)
    blob = assembly / "asset.blob" / "code.zip"
    blob.parent.mkdir()
    blob.write_bytes(b"not a zip")
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    entry = assets["files"].pop(CODE_ASSET)
    entry["source"] = {"path": "../asset.blob/code.zip", "packaging": "file"}
    entry["destinations"]["current"]["objectKey"] = f"{digest}.zip"
    assets["files"][digest] = entry
    path.write_text(json.dumps(assets), encoding="utf-8")
    # THEN its SHA-256 binds nothing for a zip key: a person sees it
    (line,) = judge(assembly, pipeline_template())
    assert "a .zip file: only a template is bound by its SHA-256 here" in line


def test_an_asset_reached_through_a_linked_directory_is_refused(tmp_path: Path) -> None:
    # GIVEN the function's source under a directory that links out of the artifact
    assembly = write_assembly(tmp_path / "cdk.out", pipeline_template())
    outside = tmp_path / "outside" / "pkg"
    outside.mkdir(parents=True)
    (outside / "handler.py").write_text(HANDLER_SOURCE, encoding="utf-8")
    (assembly / "asset.link").mkdir()
    (assembly / "asset.link" / "ext").symlink_to(tmp_path / "outside")
    path, assets = _prod_manifest(assembly)
    assets["files"][CODE_ASSET]["source"]["path"] = "../asset.link/ext/pkg"
    path.write_text(json.dumps(assets), encoding="utf-8")
    with pytest.raises(rules.Refused, match="passes a symbolic link"):
        judge(assembly, pipeline_template())
