"""The rehearsal's PipelineChangeGate: the deployed pipeline's own check, judging this run's artifact.

The check that runs is the one inlined in the gate project's buildspec (decoded here as the build
would decode it), not the working tree's. It compares the artifact's pipeline template with the
deployed one: `Run.deployed_templates[<pipeline stack>]` when a scenario sets it (the pipeline as
deployed from an earlier commit), else the artifact's own (a person's first `cdk deploy` of this
commit, the state a fresh rehearsal starts from). CodePipeline's approval API is not emulated: the
verdict is the check's row, and the approval's row reads it.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from tools.review_kit.rehearse.pipeline import Action

GATE_STAGE = "PipelineChangeGate"
_EMBEDDED = re.compile(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip')


def is_gate(action: Action) -> bool:
    return action.stage == GATE_STAGE


def embedded_check(spec: dict[str, Any], into: Path) -> ModuleType:
    """The check script the buildspec writes out, loaded as a module."""
    commands = spec["phases"]["build"]["commands"]
    found = [m for m in (_EMBEDDED.search(str(c)) for c in commands) if m]
    if len(found) != 1:
        raise ValueError(
            f"{GATE_STAGE}: expected one embedded check script in the buildspec, found {len(found)}"
        )
    path = into / "pipeline_change_check.py"
    path.write_bytes(gzip.decompress(base64.b64decode(found[0].group(1))))
    module_spec = importlib.util.spec_from_file_location("rehearsed_pipeline_change_check", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def judge(run: Any, action: Action) -> tuple[str, str]:
    """("pass", note) when the check would approve itself, ("person", the changes) when they wait for
    a person, ("fail", why) for an artifact the check refuses (its build fails)."""
    project = run.pipeline.project(action)
    assembly = run.artifacts[action.inputs[0]]
    stack = project.environment["PIPELINE_STACK"]
    with tempfile.TemporaryDirectory() as scratch:
        check = embedded_check(project.load_buildspec(assembly), Path(scratch))
        deployed_file = Path(scratch) / "deployed.json"
        try:
            deployed = run.deployed_templates.get(stack) or check.pipeline_template(assembly, stack)
            deployed_file.write_text(json.dumps(deployed), encoding="utf-8")
            changes = check.judge(
                assembly, deployed_file, stack, project.environment["PIPELINE_TOOLS_DIGEST"]
            )
        except check.Refused as refused:
            return "fail", f"refused, nothing approved: {refused}"
    source = "the scenario's deployed pipeline" if stack in run.deployed_templates else "this commit's own"
    if not changes:
        return "pass", f"no pipeline change needing a person (compared with {source}): the check approves"
    return "person", f"{len(changes)} change(s) wait for a person (compared with {source}): " + "; ".join(
        changes
    )
