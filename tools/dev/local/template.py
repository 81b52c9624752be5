"""The upload stack's template as local mode serves it: template.json beside this file.

    python -m tools.dev.local.template --check    (stdlib only: exit 1 when template.json is stale)
    python -m tools.dev.local.template --write    (synthesizes the dev stage: `make local-template`)

Local mode builds its bucket, table, keys, gateway and handler environment from the upload
stack's template (aws.py). Synthesizing it takes aws-cdk-lib, jsii and Node, most of what a
first `make local` would install; so the template comes from this committed file, written by a
synth of the same stage, and local mode needs neither. It keeps the resources local mode reads
(LOCAL_RESOURCE_TYPES), without their metadata and the function's code location (both name the
Lambda asset's hash, which changes with every handler edit; local mode runs lambda/ itself).

The file records the sha256 of what synthesizes the stack (INPUTS): after a change there, the
check fails and `make local` rewrites the file first; a test fails while the committed one is
stale, and another compares it with a fresh synth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT

FILE = Path(__file__).with_name("template.json")
STAGE = "dev"
# What synthesizes the upload stack (the pipeline stack's package is not imported by it).
INPUTS = ("cdk.json", "requirements.txt", "stages/*.py", "stages/upload/**/*.py")
LOCAL_RESOURCE_TYPES = (
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Lambda::Function",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::GatewayResponse",
)


def inputs_digest(root: Path = REPO_ROOT) -> str:
    """sha256 over the path and bytes of every INPUTS file, in path order."""
    digest = hashlib.sha256()
    paths = sorted({path for pattern in INPUTS for path in root.glob(pattern) if path.is_file()})
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def local_view(template: dict[str, Any]) -> dict[str, Any]:
    """The resources local mode reads, without what names the Lambda asset."""
    resources = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in LOCAL_RESOURCE_TYPES:
            continue
        kept = {key: value for key, value in resource.items() if key != "Metadata"}
        if resource["Type"] == "AWS::Lambda::Function":
            kept["Properties"] = {k: v for k, v in kept["Properties"].items() if k != "Code"}
        resources[logical_id] = kept
    return {"Resources": resources}


def rendered(stack_name: str, template: dict[str, Any], root: Path = REPO_ROOT) -> str:
    document = {"inputs": inputs_digest(root), "stackName": stack_name, "template": local_view(template)}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def stale_reason(path: Path = FILE, root: Path = REPO_ROOT) -> str | None:
    """Why template.json cannot be served as it is, or None when it matches its inputs."""
    if not path.exists():
        return f"{path.name} is missing"
    if json.loads(path.read_text(encoding="utf-8")).get("inputs") != inputs_digest(root):
        return f"{path.name} is older than a change to {', '.join(INPUTS)}"
    return None


def load(path: Path = FILE) -> tuple[str, dict[str, Any]]:
    """(stack name, template) for local mode; refuses a stale file rather than serve another stack."""
    reason = stale_reason(path)
    if reason is not None:
        raise SystemExit(f"tools.dev.local: {reason}: run `make local-template` (or `make local`)")
    document = json.loads(path.read_text(encoding="utf-8"))
    return document["stackName"], document["template"]


def write(path: Path = FILE) -> None:
    from tools.dev.local.aws import synth_upload_template  # imports aws_cdk: only here

    stack_name, template = synth_upload_template(STAGE)
    path.write_text(rendered(stack_name, template), encoding="utf-8")
    print(f"tools.dev.local.template: wrote {path.relative_to(REPO_ROOT)} from a synth of the {STAGE} stage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 when template.json is stale")
    action.add_argument("--write", action="store_true", help="rewrite template.json from a synth")
    args = parser.parse_args(argv)
    if args.write:
        write()
        return 0
    reason = stale_reason()
    if reason is not None:
        print(f"tools.dev.local.template: {reason}; rewriting it (installs the CDK)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
