"""The Source action's artifact, in a git checkout and in one without a repository (the pipeline's
Synth build gets the commit as a zip, no .git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tools.review_kit.rehearse import source


def _tree(root: Path) -> Path:
    (root / "stages").mkdir(parents=True)
    (root / "stages" / "stack.py").write_text("x = 1\n", encoding="utf-8")
    (root / ".gitignore").write_text("# build output\n.venv/\nnode_modules/\ncdk.out/\n", encoding="utf-8")
    for ignored in (".venv/bin", "node_modules/pkg", "cdk.out"):
        (root / ignored).mkdir(parents=True)
        (root / ignored / "file").write_text("built\n", encoding="utf-8")
    return root


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_checkout_without_git_hands_over_its_tree_without_ignored_files(tmp_path):
    # GIVEN a checkout as CodeBuild gets it: the commit's files, no .git, build output beside them
    repo = _tree(tmp_path / "checkout")
    # WHEN the Source action writes its artifact
    note = source.source_tree(tmp_path / "artifact", repo)
    # THEN the committed files are there, what .gitignore names is not, and the note says why
    assert _files(tmp_path / "artifact") == {".gitignore", "stages/stack.py"}
    assert note.startswith("no git repository")


def test_a_git_checkout_hands_over_the_committed_tree(tmp_path):
    # GIVEN the same files committed in a repository, one more file uncommitted
    repo = _tree(tmp_path / "repo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=repo, check=True)
    (repo / "stages" / "new.py").write_text("y = 2\n", encoding="utf-8")
    # WHEN the Source action writes its artifact THEN it is the commit, nothing else
    note = source.source_tree(tmp_path / "artifact", repo)
    assert _files(tmp_path / "artifact") == {".gitignore", "stages/stack.py"}
    assert note.startswith("commit ")
