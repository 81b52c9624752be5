"""`make test`: buildspec.yml's install, build and `finally` commands, run here once, each timed.

    python -m tools.review_kit.rehearse.make_test [--buildspec FILE] [--record reports/make-test.json]

The commands are read from buildspec.yml, so CI runs exactly what the pipeline's Synth action
runs, with CodeBuild's rules for a failure (codebuild.run_phases: a failed build command skips the
rest of the build, its `finally` still runs). Each command's wall time and peak memory are
printed as a table at the end and written to the record, with the commit and whether the work
tree was clean before and after. The rehearsal (`make rehearse`) reuses a passing record of the
commit it rehearses, from a clean tree, instead of running the same commands a second time
(reuse.py says when). Exit 0 only if every command passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse.codebuild import BuildResult, run_phases
from tools.review_kit.rehearse.measure import Measured, run_measured

RECORD = REPO_ROOT / "reports" / "make-test.json"
PARTS_SHOWN_FROM_MIB = 1024  # the table says what made each peak of at least this much


def git_state(repo: Path = REPO_ROOT) -> tuple[str | None, bool]:
    """HEAD's commit, and whether the tree has no change (untracked files count); None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"],  # noqa: S607
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, False
    return commit, status.strip() == ""


def run(spec: dict[str, Any], repo: Path = REPO_ROOT) -> BuildResult:
    """Each command in /bin/sh (as CodeBuild runs them) in `repo`, its output on this terminal."""

    def run_command(command: str) -> Measured:
        print(f"\n== make test: {command}", flush=True)
        return run_measured(command, cwd=repo, env=os.environ, log_path=None, shell="/bin/sh")  # noqa: S604

    return run_phases(spec, run_command)


def record(
    result: BuildResult, *, buildspec: Path, before: tuple[str | None, bool], after: tuple[str | None, bool]
) -> dict[str, Any]:
    commit, clean_before = before
    commit_after, clean_after = after
    return {
        "what": "make test: the buildspec's commands, run on this machine by make_test.py",
        "buildspec": buildspec.name,
        "commit": commit if commit == commit_after else None,
        "clean_tree": clean_before and clean_after and commit == commit_after,
        "scan_strict": os.environ.get("SCAN_STRICT", ""),
        "failed": result.failed,
        "commands": [
            {
                "command": c.command,
                "exit": c.returncode,
                "seconds": round(c.seconds, 1),
                "peak_mib": round(c.peak_mib),
                "peak_parts": [
                    {"process": kind, "count": count, "mib": round(mib)} for kind, count, mib in c.peak_parts
                ],
            }
            for c in result.commands
        ],
    }


def table(commands: list[dict[str, Any]]) -> str:
    """Per-command wall time and peak memory, and the total."""
    width = max([len("command"), *(len(c["command"]) for c in commands)])
    lines = [f"{'command':<{width}}  exit  seconds  peak MiB"]
    lines += [
        f"{c['command']:<{width}}  {c['exit']:>4}  {c['seconds']:>7.1f}  {c['peak_mib']:>8}" for c in commands
    ]
    total = sum(c["seconds"] for c in commands)
    lines.append(f"{'total':<{width}}        {total:>7.1f}")
    for c in commands:
        if c["peak_mib"] >= PARTS_SHOWN_FROM_MIB and c.get("peak_parts"):
            parts = ", ".join(f"{p['process']} x{p['count']} {p['mib']} MiB" for p in c["peak_parts"])
            lines.append(f"{c['command']}'s peak: {parts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.review_kit.rehearse.make_test", description=__doc__
    )
    parser.add_argument("--buildspec", type=Path, default=REPO_ROOT / "buildspec.yml")
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.buildspec.read_text(encoding="utf-8"))
    before = git_state()
    args.record.unlink(missing_ok=True)  # a record is only ever of the run that just ended
    result = run(spec)
    document = record(result, buildspec=args.buildspec, before=before, after=git_state())
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nmake test: the buildspec's commands ({args.buildspec.name}), record {args.record}")
    print(table(document["commands"]))
    if result.failed:
        print(f"make test: FAILED at {result.failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
