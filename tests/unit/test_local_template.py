"""Local mode's template (tools/dev/local/template.json): what a synth writes, refused when stale,
and read without the CDK, so `make local` installs neither aws-cdk-lib nor Node."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.dev.local import template

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_template_matches_what_synthesizes_the_stack():
    # GIVEN the committed template.json and today's stages/, cdk.json and requirements.txt
    # WHEN their digest is compared with the one the file records
    # THEN they match: a change there without `make local-template` fails here
    assert template.stale_reason() is None


def test_a_changed_input_makes_the_template_stale(tmp_path):
    # GIVEN a copy of the inputs and a template written for them
    for pattern in template.INPUTS:
        for path in ROOT.glob(pattern):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy)
    stack_name, synthesized = template.load()
    written = tmp_path / "template.json"
    written.write_text(template.rendered(stack_name, synthesized, tmp_path), encoding="utf-8")
    assert template.stale_reason(written, tmp_path) is None
    # WHEN one stage setting changes
    context = json.loads((tmp_path / "cdk.json").read_text(encoding="utf-8"))
    context["context"]["probe"] = 1
    (tmp_path / "cdk.json").write_text(json.dumps(context), encoding="utf-8")
    # THEN the template is stale, and local mode refuses it rather than serve another stack
    assert "older than a change" in (template.stale_reason(written, tmp_path) or "")
    (tmp_path / "stages" / "settings.py").write_text("# edited\n", encoding="utf-8")
    (tmp_path / "template.json").unlink()
    assert template.stale_reason(written, tmp_path) == "template.json is missing"


def test_local_mode_reads_its_stack_without_the_cdk():
    # GIVEN local mode's start-up modules, imported in a fresh interpreter
    code = (
        "import sys, tools.dev.local.__main__, tools.dev.local.aws as aws, tools.dev.local.template as t\n"
        "name, tpl = t.load(); view = aws.UploadTemplate(tpl); function = view.function[1]['Properties']\n"
        "print(name, view.stage_name, view.throttling, len(view.gateway_responses), function['Handler'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')))\n"
    )
    # WHEN they read the stack local mode serves
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # THEN every look-up answers, and neither the CDK nor jsii was imported
    described, imported = result.stdout.splitlines()
    assert described.startswith("Dev-UploadApi dev (")
    assert described.endswith("upload_api.handler.lambda_handler")
    assert imported == "[]"


@pytest.mark.synth
def test_the_committed_template_is_what_a_synth_writes():
    # GIVEN the dev stage's upload stack, synthesized as `make local-template` does
    from tools.dev.local.aws import synth_upload_template

    stack_name, synthesized = synth_upload_template(template.STAGE)
    # WHEN it is rendered as local mode's view
    # THEN it is the committed file byte for byte (no asset hash in it: a handler edit keeps it)
    assert template.rendered(stack_name, synthesized) == template.FILE.read_text(encoding="utf-8")
    assert "asset" not in template.FILE.read_text(encoding="utf-8")
