"""The Source action's artifact: the committed tree as a source action hands it over (no .git, no
ignored files).

In a git checkout, `git archive HEAD` (uncommitted changes are not in it; the note says so). Where
the checkout has no repository (CodePipeline hands CodeBuild the commit as a zip without .git, so
the pipeline's own Synth build runs the rehearsal's tests in one), the tree is copied as it is,
without what `.gitignore` names (venvs, node_modules, cdk.out, reports, caches).
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tools.common.paths import REPO_ROOT


def source_tree(out: Path, repo: Path = REPO_ROOT) -> str:
    """Write the source artifact into `out` (created); return the action's note."""
    if not (repo / ".git").exists():
        shutil.copytree(repo, out, symlinks=True, ignore=shutil.ignore_patterns(*_ignored(repo)))
        count = sum(1 for p in out.rglob("*") if p.is_file())
        return f"no git repository: the checkout's tree as it is, {count} files (ignored files left out)"
    out.mkdir(parents=True)
    commit = _git(repo, "rev-parse", "--short", "HEAD").strip()
    with tempfile.TemporaryFile() as archive:
        subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=repo, stdout=archive, check=True)  # noqa: S607
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(out, filter="data")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").strip()
    count = sum(1 for p in out.rglob("*") if p.is_file())
    return f"commit {commit}, {count} files" + (" (uncommitted changes are not in it)" if dirty else "")


def _ignored(repo: Path) -> list[str]:
    """`.gitignore`'s name patterns (a trailing `/` dropped; comments and negations skipped)."""
    path = repo / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    patterns = [line.strip().rstrip("/") for line in lines]
    return [".git", *(p for p in patterns if p and not p.startswith(("#", "!")))]


def _git(repo: Path, *args: str) -> str:
    command = ["git", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout  # noqa: S603
