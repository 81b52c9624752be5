"""The rehearsal's PipelineChangeGate: the deployed pipeline's own check, judging this run's artifact.

The check that runs is the one inlined in the gate project's buildspec (decoded here as the build
would decode it), not the working tree's. It compares the artifact's pipeline template with the
deployed one: `Run.deployed_templates[<pipeline stack>]` when a scenario sets it (the pipeline as
deployed from an earlier commit), else the artifact's own (a person's first `cdk deploy` of this
commit, the state a fresh rehearsal starts from). The judging runs as its own measured python3
process, as in the build (its peak goes to measured.json). The check's PutApprovalResult is not
run: the verdict is the check's row, and the approval's row reads it (approved by the check, it is
recorded as a session of the check's role: approvals.py). The buildspec's install
commands (the artifact's digest) run as written, in /bin/sh in the artifact, and the variables its
`env.exported-variables` names become the action's namespace's, as CodePipeline keeps them for the
actions after it (`#{PipelineChangeCheck.ARTIFACT_DIGEST}`).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from stages.pipeline.self_mutation_gate import CHECK_ACTION, GATE_STAGE
from tools.review_kit.rehearse.measure import Measured, run_measured
from tools.review_kit.rehearse.pipeline import Action

_EMBEDDED = re.compile(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip > "\$GATE_DIR/([A-Za-z_]+\.py)"')
# The check's judging without its approval calls (CodePipeline's API is not emulated): a verdict file.
_JUDGE = """import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pipeline_change_check as check
assembly, deployed, stack, digest, qualifier, out = sys.argv[2:8]
try:
    result = {"changes": check.judge(Path(assembly), Path(deployed), stack, digest, qualifier)}
except check.Refused as refused:
    result = {"refused": str(refused)}
Path(out).write_text(json.dumps(result), encoding="utf-8")
"""


def is_gate(action: Action) -> bool:
    return action.stage == GATE_STAGE


def is_gate_check(action: Action) -> bool:
    """The gate's check (PipelineChange.Check), not the other builds of its stage."""
    return is_gate(action) and action.name == CHECK_ACTION


def check_role_arn(run: Any, check: Action) -> str:
    """The role the check's build runs as (its project's ServiceRole), as deployed."""
    project = run.pipeline.project(check)
    role = run.pipeline.template["Resources"][project.logical_id]["Properties"]["ServiceRole"]
    return str(run.pipeline.resolve(role))


def embedded_check(spec: dict[str, Any], into: Path) -> Path:
    """The scripts the buildspec writes out (the check, `check.py`, and the modules beside it), written
    into `into` under their names; the check's path, as `pipeline_change_check.py`."""
    commands = spec["phases"]["build"]["commands"]
    found = {m.group(2): m.group(1) for m in (_EMBEDDED.search(str(c)) for c in commands) if m}
    if "check.py" not in found:
        raise ValueError(f"{GATE_STAGE}: no embedded check.py in the buildspec (found {sorted(found)})")
    for name, encoded in found.items():
        target = into / ("pipeline_change_check.py" if name == "check.py" else name)
        target.write_bytes(gzip.decompress(base64.b64decode(encoded)))
    return into / "pipeline_change_check.py"


def exported_variables(spec: dict[str, Any], assembly: Path) -> dict[str, str]:
    """The values the buildspec's install commands leave in the variables its exported-variables name."""
    names = [str(n) for n in (spec.get("env") or {}).get("exported-variables") or []]
    commands = ((spec.get("phases") or {}).get("install") or {}).get("commands") or []
    if not names:
        return {}
    script = "set -e\n" + "\n".join(str(c) for c in commands) + "\n"
    script += "".join(f'printf "%s\\0" "${{{name}}}"\n' for name in names)
    # As CodeBuild runs them: in the extracted artifact, which CODEBUILD_SRC_DIR names.
    env = {**os.environ, "CODEBUILD_SRC_DIR": str(assembly)}
    done = subprocess.run(["/bin/sh", "-c", script], cwd=assembly, env=env, capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ValueError(f"{GATE_STAGE}: install commands failed: {done.stderr.decode(errors='replace')}")
    return dict(zip(names, done.stdout.decode().split("\0")[: len(names)], strict=True))


def judge(run: Any, action: Action) -> tuple[str, str, Measured]:
    """("pass", note) when the check would approve itself, ("person", the changes) when they wait for
    a person, ("fail", why) for an artifact the check refuses (its build fails); and its measure."""
    project = run.pipeline.project(action)
    assembly = run.artifacts[action.inputs[0]]
    stack = project.environment["PIPELINE_STACK"]
    scratch = Path(tempfile.mkdtemp(prefix="change-gate-", dir=run.work if run.work.is_dir() else None))
    spec = project.load_buildspec(assembly)
    exported = exported_variables(spec, assembly)  # first, as the build computes them before the check
    check = embedded_check(spec, scratch)
    (scratch / "judge.py").write_text(_JUDGE, encoding="utf-8")
    deployed_file, verdict_file = scratch / "deployed.json", scratch / "verdict.json"
    if stack in run.deployed_templates:
        deployed_file.write_text(json.dumps(run.deployed_templates[stack]), encoding="utf-8")
    else:  # the pipeline a person's first `cdk deploy` of this commit left: its own template
        deployed_file.write_bytes((assembly / f"{stack}.template.json").read_bytes())
    arguments = [str(check.parent), str(assembly), str(deployed_file), stack]
    arguments += [project.environment["PIPELINE_TOOLS_DIGEST"], project.environment["PIPELINE_QUALIFIER"]]
    arguments += [str(verdict_file)]
    # As the build runs it: from its own directory, -E -s, so the embedded modules (not the working
    # tree's, which PYTHONPATH may name) are the ones imported.
    command = shlex.join([sys.executable, "-E", "-s", str(scratch / "judge.py"), *arguments])
    measured = run_measured(command, cwd=scratch, env=dict(os.environ), log_path=scratch / "build.log")
    if measured.returncode != 0:
        return (
            "fail",
            f"the check crashed (exit {measured.returncode}); log {scratch / 'build.log'}",
            measured,
        )
    result = json.loads(verdict_file.read_text(encoding="utf-8"))
    source = "the scenario's deployed pipeline" if stack in run.deployed_templates else "this commit's own"
    if "refused" in result:
        return "fail", f"refused, nothing approved: {result['refused']}", measured
    if action.namespace:  # a build that passes (exit 0 or 10) exports them
        run.variables[action.namespace] = exported
    changes = result["changes"]
    if not changes:
        return (
            "pass",
            f"no pipeline change needing a person (compared with {source}): the check approves",
            measured,
        )
    note = f"{len(changes)} change(s) wait for a person (compared with {source}): " + "; ".join(changes)
    return "person", note, measured
