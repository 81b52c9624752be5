"""A gate on the pipeline stack's own IAM before self-mutation applies it.

Self-mutation deploys the pipeline stack with `--require-approval=never`: a commit that widens a
pipeline role (or a key, bucket or topic policy of the pipeline stack) would take effect with no
person in the loop. The synth step (`make synth`, buildspec.yml) therefore compares every
permission of the synthesized pipeline stack with `bootstrap/pipeline-iam.reviewed.json`, a file
committed and reviewed like code, and fails on any permission the file does not list.

What is compared: one line per policy statement, as the security review's IAM table identifies
it (pipeline_checks/review/iam.py: stack | entity | principal | effect | sorted actions | sorted resources |
condition, hash-free construct names), one per role trust statement and one per managed policy.
A statement that changes in any way (a new action, a wider resource, a dropped condition) is a
new line, so it is flagged; a line that disappeared is a narrowing and only reported. `make
pipeline-iam` rewrites the file from the current synth: the diff of that file is what a reviewer
approves in the pull request.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.common.assembly import ROOT_STAGE, load
from tools.common.paths import REPO_ROOT
from tools.pipeline_checks.review.iam import permissions

REVIEWED_FILE = REPO_ROOT / "bootstrap" / "pipeline-iam.reviewed.json"
PIPELINE_STACK = "UploadApiPipeline"
UPDATE_COMMAND = "make pipeline-iam"


def pipeline_permissions(assembly_dir: Path) -> list[str]:
    """Every permission line of the pipeline stack in a cloud assembly, sorted."""
    assembly = load(assembly_dir)
    (stack,) = [s for s in assembly.stacks if s.stage == ROOT_STAGE and s.stack_name == PIPELINE_STACK]
    lines: set[str] = set()
    for entity in permissions(stack):
        for row in entity["rows"]:
            lines.add(row["key"])
        for trust in entity.get("trust", []):
            lines.add(f"{ROOT_STAGE}/{PIPELINE_STACK} | {entity['principal']} | trust | {trust}")
    return sorted(lines)


def read_reviewed(path: Path = REVIEWED_FILE) -> list[str]:
    return list(json.loads(path.read_text(encoding="utf-8"))["permissions"])


def write_reviewed(lines: list[str], path: Path = REVIEWED_FILE) -> None:
    document = {
        "about": (
            "Every permission of the pipeline stack, reviewed. `make synth` fails on any permission not "
            "listed here (tools/pipeline_checks/pipeline_iam/gate.py); "
            f"`{UPDATE_COMMAND}` rewrites this file from the "
            "current synth. Review its diff like code: a change to it also waits for a person at the "
            "deployed pipeline's PipelineChangeGate before self-mutation applies it."
        ),
        "permissions": lines,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def compare(current: list[str], reviewed: list[str]) -> tuple[list[str], list[str]]:
    """(broadened: in the template, not reviewed; narrowed: reviewed, no longer in the template)."""
    now, before = set(current), set(reviewed)
    return sorted(now - before), sorted(before - now)
