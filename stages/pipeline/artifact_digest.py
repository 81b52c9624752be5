"""The synth artifact's digest: what PipelineChange.Check judged, and what no later build accepts a change of.

The gate's build computes it first, over the artifact tree CodeBuild extracted, and exports it as a
CodePipeline variable (out of every build's reach); SelfMutate, FileAssets, the permission checks and
JudgedChangeSet recompute it, as the first command of their deployed buildspecs, and fail on a different
artifact (stages/pipeline/patches/artifact_digest.py). Embedded in those buildspecs like the gate's check
(stages/pipeline/embedded.py), run as `python3 -I - DIR [EXPECTED]`: prints the digest, or with EXPECTED
fails in one line unless the two are equal.

Standard library only; Python 3.9 and later.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

VARIABLE = "ARTIFACT_DIGEST"
MISMATCH, NO_DIGEST = 1, 2


def tree_digest(root: Path) -> str:
    """SHA-256 over every entry under `root`: kind, relative path, and content (file bytes, link target).

    Sorted by path, so the walk's order does not matter; directories count too, empty ones included.
    A path cannot hold NUL, so each record (kind NUL path NUL sha256 newline) reads back one way only.
    """
    digest = hashlib.sha256()
    for relative, kind, content in sorted(_entries(root)):
        digest.update(kind + b"\0" + relative + b"\0" + hashlib.sha256(content).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def _entries(root: Path) -> Iterator[tuple[bytes, bytes, bytes]]:
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            relative = os.fsencode(path.relative_to(root).as_posix())
            if path.is_symlink():
                yield relative, b"link", os.fsencode(os.readlink(path))
            elif path.is_dir():
                yield relative, b"dir", b""
            elif path.is_file():
                yield relative, b"file", path.read_bytes()
            else:
                yield relative, b"other", b""


def main(argv: list[str]) -> int:
    root = Path(argv[0])
    actual = tree_digest(root)
    if len(argv) < 2:
        print(actual)
        return 0
    expected = argv[1]
    if not expected:
        print(
            f"{VARIABLE} is empty: no digest from PipelineChange.Check, so no gate vouched for "
            "this artifact; refusing it",
            file=sys.stderr,
        )
        return NO_DIGEST
    if actual != expected:
        print(
            f"the synth artifact in {root.resolve()} differs from the one PipelineChange.Check judged "
            f"(digest {actual}, gate's {expected}): rewritten after the gate; refusing it",
            file=sys.stderr,
        )
        return MISMATCH
    print(f"the synth artifact is the one PipelineChange.Check judged ({actual})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
