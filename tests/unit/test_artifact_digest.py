"""The synth artifact's digest (stages/pipeline/artifact_digest.py): what the gate exports and each
later build recomputes. Stable, independent of the walk's order, and changed by any byte or entry."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stages.pipeline import artifact_digest
from stages.pipeline.artifact_digest import MISMATCH, NO_DIGEST, tree_digest
from stages.pipeline.embedded import run_inline
from stages.pipeline.patches.artifact_digest import check_command, compute_command


def artifact(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


FILES = {
    "UploadApiPipeline.template.json": b'{"Resources": {}}',
    "pipeline-tools/package.json": b"{}",
    "pipeline-tools/package-lock.json": b"{}",
    "assembly-UploadApiPipeline-Dev/manifest.json": b'{"version": "55"}',
}


def test_the_same_tree_has_the_same_digest(tmp_path):
    first = artifact(tmp_path / "a", FILES)
    assert tree_digest(first) == tree_digest(first)
    assert len(tree_digest(first)) == 64


def test_the_digest_does_not_depend_on_the_order_files_were_written(tmp_path):
    forward = artifact(tmp_path / "a", FILES)
    backward = artifact(tmp_path / "b", dict(reversed(list(FILES.items()))))
    assert tree_digest(forward) == tree_digest(backward)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda root: (root / "pipeline-tools/package.json").write_bytes(b"{ "), id="one-byte-added"
        ),
        pytest.param(
            lambda root: (root / "pipeline-tools/package.json").write_bytes(b"[}"), id="one-byte-changed"
        ),
        pytest.param(lambda root: (root / "cdk.json").write_bytes(b""), id="an-empty-file-added"),
        pytest.param(lambda root: (root / ".npmrc").write_bytes(b"x"), id="a-hidden-file-added"),
        pytest.param(lambda root: (root / "node_modules").mkdir(), id="an-empty-directory-added"),
        pytest.param(lambda root: (root / "pipeline-tools/package.json").unlink(), id="a-file-removed"),
        pytest.param(
            lambda root: (root / "pipeline-tools/package.json").rename(root / "pipeline-tools/package.jsonx"),
            id="a-file-renamed",
        ),
        pytest.param(lambda root: os.symlink("/etc/passwd", root / "cdk.context.json"), id="a-symlink-added"),
    ],
)
def test_any_change_changes_the_digest(tmp_path, change):
    root = artifact(tmp_path / "a", FILES)
    before = tree_digest(root)
    change(root)
    assert tree_digest(root) != before


def test_content_moved_between_files_changes_the_digest(tmp_path):
    # The records are framed: "ab" + "" is not "a" + "b".
    one = artifact(tmp_path / "a", {"x": b"ab", "y": b""})
    two = artifact(tmp_path / "b", {"x": b"a", "y": b"b"})
    assert tree_digest(one) != tree_digest(two)


def run_embedded(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The script as the buildspecs run it: decoded from its embedded copy, on stdin to python3."""
    # "." is the artifact, as the build starts in it; the command runs elsewhere, so given absolute.
    absolute = [str(root) if a == "." else a for a in arguments]
    command = run_inline(Path(artifact_digest.__file__), " ".join(f"'{a}'" for a in absolute))
    return subprocess.run(["/bin/sh", "-c", command], cwd=root, capture_output=True, text=True, check=False)


def test_the_embedded_copy_prints_the_digest_and_accepts_the_same_tree(tmp_path):
    root = artifact(tmp_path / "a", FILES)
    printed = run_embedded(root, ".")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == tree_digest(root)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    assert run_embedded(copy, ".", printed.stdout.strip()).returncode == 0


def test_the_embedded_copy_refuses_a_changed_tree_in_one_line(tmp_path):
    root = artifact(tmp_path / "a", FILES)
    judged = tree_digest(root)
    (root / "UploadApiPipeline.template.json").write_bytes(b'{"Resources": {"X": {}}}')
    refused = run_embedded(root, ".", judged)
    assert refused.returncode == MISMATCH
    assert refused.stderr.count("\n") == 1
    assert judged in refused.stderr
    assert tree_digest(root) in refused.stderr
    assert "differs from the one PipelineChange.Check judged" in refused.stderr


def test_the_embedded_copy_refuses_when_the_gate_exported_nothing(tmp_path):
    refused = run_embedded(artifact(tmp_path / "a", FILES), ".", "")
    assert refused.returncode == NO_DIGEST
    assert "ARTIFACT_DIGEST is empty" in refused.stderr


def test_the_script_parses_as_python_39_and_imports_only_the_standard_library():
    source = Path(artifact_digest.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in ([ast.alias(node.module or "")] if isinstance(node, ast.ImportFrom) else node.names)
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


# A module a commit plants at the artifact's root, where the builds start: it leaves a mark if it runs.
PLANTED = 'open(__file__ + ".ran", "w").close()\n'


def run_buildspec_commands(root: Path, commands: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Commands as CodeBuild runs a phase: one shell, in the extracted artifact (CODEBUILD_SRC_DIR)."""
    return subprocess.run(
        ["/bin/sh", "-ec", "\n".join(commands)],
        cwd=root,
        env={"PATH": os.environ["PATH"], "CODEBUILD_SRC_DIR": str(root), **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("module", ["hashlib", "__future__"])
def test_a_module_planted_in_the_artifact_never_runs_in_the_digest_commands(tmp_path, module):
    # GIVEN an artifact whose root holds a module the digest script (or Python itself) imports
    root = artifact(tmp_path / "a", {**FILES, f"{module}.py": PLANTED.encode()})
    judged = tree_digest(root)
    # WHEN the gate's command computes the digest and a consumer's checks it, as their buildspecs run them
    computed = run_buildspec_commands(root, [compute_command(), 'echo "$ARTIFACT_DIGEST"'])
    checked = run_buildspec_commands(root, [check_command()], ARTIFACT_DIGEST=judged)
    # THEN the planted module never ran, and both agree on the artifact as it is
    assert not list(root.glob("*.ran")), f"{module}.py from the artifact ran"
    assert (computed.returncode, computed.stdout.strip()) == (0, judged), computed.stderr
    assert checked.returncode == 0, checked.stderr
