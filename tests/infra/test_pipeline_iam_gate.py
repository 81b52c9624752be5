"""The gate on the pipeline stack's own IAM (tools/pipeline_checks/pipeline_iam):
self-mutation applies it unapproved,
so `make synth` fails on any permission not in the committed, reviewed file."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import aws_iam as iam

from tests.repo import REPO_ROOT
from tools.pipeline_checks.pipeline_iam.__main__ import main
from tools.pipeline_checks.pipeline_iam.gate import (
    REVIEWED_FILE,
    compare,
    pipeline_permissions,
    read_reviewed,
)

from .conftest import synth_app

pytestmark = pytest.mark.synth


def test_the_committed_file_lists_exactly_the_pipeline_stacks_permissions(pipeline_app):
    # GIVEN the app as cdk.json configures it, and the reviewed file
    # WHEN the pipeline stack's permissions are compared with it
    broadened, narrowed = compare(pipeline_permissions(pipeline_app.outdir), read_reviewed())
    # THEN nothing is unreviewed, and nothing stale is listed (run `make pipeline-iam` after a review)
    assert broadened == []
    assert narrowed == []


def test_the_gate_passes_the_reviewed_app(pipeline_app, capsys):
    # WHEN the CLI checks the synthesized app THEN it passes and says how many it checked
    assert main(["check", str(pipeline_app.outdir)]) == 0
    assert "all reviewed" in capsys.readouterr().out


def _broadened_app(tmp_path, monkeypatch):
    """The real app with one more statement on the self-mutation role (a commit widening it)."""
    import stages.pipeline.stack as pipeline_stack

    original = pipeline_stack.UploadApiPipelineStack._narrow_generated_grants

    def widen(self):
        original(self)
        role = self.pipeline.node.find_child("UpdatePipeline").node.find_child("SelfMutation").role
        role.attach_inline_policy(
            iam.Policy(
                self,
                "Sneaky",
                statements=[iam.PolicyStatement(actions=["iam:PassRole"], resources=["*"])],
            )
        )

    monkeypatch.setattr(pipeline_stack.UploadApiPipelineStack, "_narrow_generated_grants", widen)
    try:
        return synth_app(tmp_path)
    except RuntimeError:  # cdk-nag refuses the unacknowledged wildcard; the assembly is still written
        return None


def test_a_widened_pipeline_role_fails_the_gate_naming_the_permission(tmp_path, monkeypatch, capsys):
    # GIVEN the app with iam:PassRole on * added to the self-mutation role
    _broadened_app(tmp_path, monkeypatch)
    # WHEN the gate checks it
    status = main(["check", str(tmp_path)])
    # THEN it fails and names the new permission and the role, and how to accept it after review
    err = capsys.readouterr().err
    assert status == 1
    assert re.search(
        r"NOT REVIEWED: .*UpdatePipeline/SelfMutation/Role .*\| Allow \| iam:PassRole \| \* \|", err
    )
    assert "make pipeline-iam" in err


def test_a_narrowing_passes_and_is_reported(pipeline_app, tmp_path, capsys):
    # GIVEN a reviewed file with one permission more than the app has
    reviewed = tmp_path / "reviewed.json"
    document = json.loads(REVIEWED_FILE.read_text(encoding="utf-8"))
    document["permissions"].append("Pipeline/UploadApiPipeline | X | X | Allow | s3:GetObject | * | ")
    reviewed.write_text(json.dumps(document), encoding="utf-8")
    # WHEN the gate checks the app THEN it passes, listing the permission no longer granted
    assert main(["check", str(pipeline_app.outdir), "--reviewed", str(reviewed)]) == 0
    assert "no longer granted (narrowing, fine): Pipeline/UploadApiPipeline | X" in capsys.readouterr().out


def test_update_writes_a_file_the_gate_then_passes(pipeline_app, tmp_path):
    reviewed = tmp_path / "reviewed.json"
    assert main(["update", str(pipeline_app.outdir), "--reviewed", str(reviewed)]) == 0
    assert main(["check", str(pipeline_app.outdir), "--reviewed", str(reviewed)]) == 0


def test_make_synth_runs_the_gate_before_self_mutation_could():
    # GIVEN the Makefile (buildspec.yml's build runs `make synth` before the pipeline's self-mutation)
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    synth = makefile.split("\nsynth:", 1)[1].split("\n\n", 1)[0]
    # THEN the synth target checks the pipeline's IAM, and `make pipeline-iam` rewrites the file
    assert "python -m tools.pipeline_checks.pipeline_iam check $(CDK_OUT)" in synth
    assert (
        "python -m tools.pipeline_checks.pipeline_iam update $(CDK_OUT)"
        in makefile.split("\npipeline-iam:", 1)[1]
    )
