"""The Synth action from the `make test` that just ran, rather than its commands a second time.

`.ci/run` runs `make test`, which runs buildspec.yml's commands (make_test.py), then `make
rehearse`, whose Synth action would run the same commands on the same commit again. It stands
on make test's record instead, but only when that run is this rehearsal's Synth build in all
but the directory: the same commit as the Source action's, a tree with no change before, after
and now (so the source artifact, `git archive HEAD`, is what make test tested), the same commands
in the same order as the synthesized Synth project's buildspec, every one passed, and the same
SCAN_STRICT. Otherwise the build runs here as usual, and its note says why make test's run was
not used. The checks make test does not make (the image has the runtimes the buildspec names,
the Node the project pins) are made as for a build that runs.

Either way every command the pipeline's Synth action runs has run on this commit here, and the
row says which: `ran in make test` with make test's own times and peaks, or `pass`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse import actions, codebuild
from tools.review_kit.rehearse.make_test import git_state
from tools.review_kit.rehearse.measure import Measured
from tools.review_kit.rehearse.pipeline import Action

REUSED = "ran in make test"  # the row's result: a pass, by make test's run of the same commands


def why_not_reusable(
    document: Mapping[str, Any], spec: Mapping[str, Any], head: str | None, clean: bool
) -> str:
    """Why make test's record cannot stand for this Synth build; "" when it can."""
    if head is None:
        return "not a git checkout"
    if not clean:
        return "the work tree has changes: the source artifact is HEAD, make test tested the tree"
    if not document.get("clean_tree"):
        return "make test ran on a tree with changes"
    if document.get("commit") != head:
        return f"make test ran on commit {str(document.get('commit'))[:12]}, this is {head[:12]}"
    expected = [command for _, command in codebuild.phase_commands(spec)]
    ran = [c["command"] for c in document.get("commands", [])]
    if ran != expected:
        return f"make test ran {ran}, the Synth buildspec runs {expected}"
    if document.get("failed") or any(c["exit"] != 0 for c in document["commands"]):
        return f"make test failed ({document.get('failed')})"
    strict = os.environ.get(
        "SCAN_STRICT", str(((spec.get("env") or {}).get("variables") or {}).get("SCAN_STRICT", ""))
    )
    if document.get("scan_strict") != strict:
        return f"make test ran with SCAN_STRICT={document.get('scan_strict')!r}, this build with {strict!r}"
    return ""


def synth_from_make_test(
    record: Path, repo: Path = REPO_ROOT
) -> Callable[[actions.Run, Action], actions.Outcome]:
    """The Synth action's handler: make test's run when it stands for this build, else the build."""

    def synth(run: actions.Run, action: Action) -> actions.Outcome:
        project = run.pipeline.project(action)
        spec = project.load_buildspec(run.artifacts[action.inputs[0]])
        document = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
        head, clean = git_state(repo)
        why_not = f"no {record}" if document is None else why_not_reusable(document, spec, head, clean)
        if why_not:
            print(f"rehearse: {action.label}: running its commands, make test's run is not reused: {why_not}")
            outcome = actions.codebuild_action(run, action)
            outcome.note = f"make test's run not reused ({why_not}); {outcome.note}"
            return outcome
        assert document is not None
        return _reused(run, action, spec, document, repo)

    return synth


def _reused(
    run: actions.Run, action: Action, spec: Mapping[str, Any], document: Mapping[str, Any], repo: Path
) -> actions.Outcome:
    project = run.pipeline.project(action)
    try:
        codebuild.check_runtime_versions(spec, project.image)
        actions.check_node_engine(spec, project)
    except codebuild.BuildFailed as error:
        raise actions.ActionFailed(str(error)) from None
    commands = [Measured(c["command"], c["exit"], c["seconds"], c["peak_mib"]) for c in document["commands"]]
    outcome = actions.Outcome(REUSED, "", commands, project=project)
    outcome.seconds = sum(c.seconds for c in commands)
    actions.collect_outputs(run, action, spec, repo)
    vcpus, memory_gib = codebuild.COMPUTE_TYPES[project.compute_type]
    peak = outcome.peak_mib or 0.0
    outcome.note = (
        f"REUSED, not run again: make test ran these {len(commands)} commands on commit "
        f"{document['commit'][:12]} (clean tree), {outcome.seconds:.0f} s on this machine; outputs its "
        f"cdk.out/ and reports/; {project.compute_type} ({vcpus} vCPU, {memory_gib:g} GiB): peak "
        f"{peak:.0f} MiB = {100 * peak / (memory_gib * 1024):.0f}% of memory"
    )
    not_checked = actions.not_checked_gates(repo)
    if not_checked:
        outcome.result = "not checked"
        outcome.note = (
            f"NOT CHECKED here: {'; '.join(not_checked)} (the pipeline, SCAN_STRICT=1, fails on it); "
            + outcome.note
        )
    if peak > memory_gib * 1024:
        raise actions.FailedBuild(
            outcome, f"{outcome.note}: more than the compute type's memory (CodeBuild would kill it)"
        )
    return outcome
