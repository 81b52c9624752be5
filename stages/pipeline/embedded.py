"""A pipeline check that runs as the deployed pipeline's copy: inlined into its project's buildspec.

A check a commit could rewrite must not run from that commit's source. PipelineChangeGate's script
(pipeline_change_check.py), ApprovedChangeSet's (approved_change_set_check.py) and the synth
artifact's digest (artifact_digest.py, run by the gate and by each build after it) are
standard-library Python files embedded at synth, gzipped and base64-encoded, in the buildspec of the
project that runs them: the copy that runs is the one in the deployed pipeline, and a commit
changing it is a pipeline change PipelineChangeGate shows a person.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path


def embedded_script(script: Path) -> str:
    """The script, gzipped (mtime 0: the same bytes every synth) and base64-encoded for the buildspec."""
    return base64.b64encode(gzip.compress(script.read_bytes(), mtime=0)).decode("ascii")


def write_out(script: Path, destination: str) -> str:
    """The buildspec command that writes the embedded script to `destination` (a shell word)."""
    return f'echo "{embedded_script(script)}" | base64 -d | gunzip > {destination}'


def run_inline(script: Path, arguments: str) -> str:
    """The buildspec command that runs the embedded script with python3 (`arguments`: shell words).

    Isolated from the directory the build starts in, the extracted artifact a commit fills: `python3 -`
    puts the working directory first on sys.path (a `hashlib.py` there would run in place of the
    standard library's), and pyenv's `python3` reads a `.python-version` there. So it runs, in a
    subshell, from a fresh empty directory, with `-I` (no working directory or user site on
    sys.path, no PYTHON* variables); `arguments` name the artifact by its absolute path.
    """
    decoded = f'echo "{embedded_script(script)}" | base64 -d | gunzip'
    return f'(cd "$(mktemp -d)" && {decoded} | python3 -I - {arguments})'
