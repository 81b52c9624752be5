"""How much of each synthesized template an emulator creates as written: moto (the rehearsal's), or
another emulator by its endpoint (MiniStack: docs/rehearsal.md, "Why moto: measured against MiniStack").

    python -m tools.review_kit.rehearse.emulator_coverage [--cdk-out cdk.out]           # moto, in process
    python -m tools.review_kit.rehearse.emulator_coverage --endpoint http://127.0.0.1:4599  # another

Each stack of the assembly (Dev, Prod, the pipeline) is created with CreateStack as the operator,
after what `cdk bootstrap` and the Assets action leave: the bootstrap version parameter and the
stack's file assets in the assets bucket. A type the emulator refuses up front ("Unrecognized
resource types") is removed, with every reference to it replaced by a placeholder, and the stack
created again (`rejected`); so is a resource whose creation fails (`failed`). The stack is then
read back as the rehearsal's deploy actions read theirs (deploy.check_stack, fidelity.py): on moto
with the rehearsal's modelled types (`modelled`), on another emulator with none and with
read-backs of the types moto's CloudFormation lacks (service_readers.py), so a resource counts
as created only when its own service answers for it, as written only when every property does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.guardrails import PERMISSIONS_BOUNDARY_NAME
from tools.common import assembly
from tools.common.paths import REPO_ROOT
from tools.dev import bootstrap_policies
from tools.review_kit.rehearse import deploy, emulator, fidelity, service_readers

BOOTSTRAP_VERSION = ("/cdk-bootstrap/{qualifier}/version", "30")
ASSETS_BUCKET = "cdk-{qualifier}-assets-{account}-{region}"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_REJECTED = re.compile(r"Unrecognized resource types: \[([^\]]*)\]")
WAIT_SECONDS = 300


STATES = ("as written", "props lost", "modelled", "missing", "rejected", "failed")


@dataclass
class Coverage:
    stack: str
    total: int = 0
    removed: dict[str, str] = field(default_factory=dict)  # "Type LogicalId" -> "rejected: .."/"failed: .."
    check: deploy.StackCheck = field(default_factory=deploy.StackCheck)
    failed: str = ""  # why the stack did not come up

    def states(self) -> dict[str, str]:
        """Each resource ("Type LogicalId") in one of STATES."""
        found = {label: why.split(":", 1)[0] for label, why in self.removed.items()}
        found |= {label: "modelled" for label in self.check.emulated}
        found |= {line.split(": ", 1)[0]: "missing" for line in self.check.missing}
        found |= {label: "props lost" for label in self.check.fidelity.lost}
        return found | {label: "as written" for label in self.check.fidelity.created_as_written}


def counts(name: str, states: list[str]) -> list[str]:
    """A table row: the name, how many resources, how many created (read back), then each state."""
    created = sum(state in STATES[:2] for state in states)
    return [name, str(len(states)), str(created), *(str(states.count(state)) for state in STATES)]


def by_type(coverages: list[Coverage]) -> list[list[str]]:
    states: dict[str, list[str]] = {}
    for coverage in coverages:
        for label, state in coverage.states().items():
            states.setdefault(label.split(" ", 1)[0], []).append(state)
    return [counts(name, found) for name, found in sorted(states.items())]


def table(first: str, rows: list[list[str]]) -> str:
    header = [first, "resources", "created", *STATES]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def without(template: Mapping[str, Any], removed: set[str], placeholder: str) -> dict[str, Any]:
    """The template less `removed` resources: a Ref, Fn::GetAtt or `${Id}` of one becomes the
    placeholder (its logical id in it), DependsOn on one is dropped, an output naming one too."""

    def strip(value: Any) -> Any:
        if isinstance(value, list):
            return [strip(v) for v in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            target = argument if function == "Ref" else None
            if function == "Fn::GetAtt":
                target = argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
            if target in removed:
                return placeholder.format(id=target)
            if function == "Fn::Sub":
                text, variables = (argument, None) if isinstance(argument, str) else argument
                for logical_id in removed:
                    text = re.sub(
                        r"\$\{" + logical_id + r"(\.[^}]*)?\}", placeholder.format(id=logical_id), text
                    )
                return {"Fn::Sub": text if variables is None else [text, strip(variables)]}
        return {k: strip(v) for k, v in value.items()}

    body = dict(template)
    resources = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if logical_id in removed:
            continue
        resource = strip(resource)
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in removed]
            resource = {k: v for k, v in resource.items() if k != "DependsOn"} | (
                {"DependsOn": kept} if kept else {}
            )
        resources[logical_id] = resource
    body["Resources"] = resources
    if "Outputs" in template:
        body["Outputs"] = {k: strip(v) for k, v in template["Outputs"].items()}
    return body


def prepare(session: Any, stack: assembly.Stack, endpoint: str) -> str:
    """What bootstrap and the Assets action leave, for this stack; the assets bucket."""
    account = session.client("sts").get_caller_identity()["Account"]
    # The stack's own bootstrap (docs/bootstrap.md): its qualifier, and every bootstrap's boundary.
    qualifier = assembly.Template(stack.template).bootstrap_qualifier
    bucket = ASSETS_BUCKET.format(qualifier=qualifier, account=account, region=session.region_name)
    session.client("ssm").put_parameter(
        Name=BOOTSTRAP_VERSION[0].format(qualifier=qualifier),
        Value=BOOTSTRAP_VERSION[1],
        Type="String",
        Overwrite=True,
    )
    iam = session.client("iam")
    for policy_set in bootstrap_policies.policy_sets(bootstrap_policies.cdk_json_context()):
        boundary = (policy_set.directory / "permissions-boundary.json").read_text(encoding="utf-8")
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):  # as the rehearsal's bootstrap
            iam.create_policy(PolicyName=policy_set.name(PERMISSIONS_BOUNDARY_NAME), PolicyDocument=boundary)
    s3 = session.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    manifest = stack.template_file.with_name(
        stack.template_file.name.replace(".template.json", ".assets.json")
    )
    for asset in json.loads(manifest.read_text(encoding="utf-8")).get("files", {}).values():
        source = manifest.parent / asset["source"]["path"]
        for destination in asset["destinations"].values():
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=_packaged(source))
    return bucket


def _packaged(source: Path) -> bytes:
    if source.is_file():
        return source.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


def create(
    session: Any, name: str, template: Mapping[str, Any], bucket: str, endpoint: str
) -> dict[str, str]:
    """CreateStack (the template through the bucket when large) and wait. What stopped it, to remove:
    logical id -> "rejected: ..." (a type refused up front) or "failed: ..." (its creation failed)."""
    cloudformation = session.client("cloudformation")
    _delete(cloudformation, name)
    body = json.dumps(template)
    source = {"TemplateBody": body}
    if len(body) > deploy.TEMPLATE_BODY_LIMIT:
        key = f"emulator-coverage/{name}.template.json"
        session.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
        source = {"TemplateURL": f"{endpoint}/{bucket}/{key}"}
    try:
        cloudformation.create_stack(StackName=name, Capabilities=CAPABILITIES, **source)
    except cloudformation.exceptions.ClientError as error:
        refused = _REJECTED.search(str(error))
        if refused is None:
            raise
        types = {t.strip() for t in refused.group(1).split(",")}
        return {
            lid: f"rejected: {r['Type']} is an unrecognized resource type"
            for lid, r in template["Resources"].items()
            if r["Type"] in types
        }
    status = _settled(cloudformation, name)
    if status == "CREATE_COMPLETE":
        return {}
    failed = {
        e["LogicalResourceId"]: f"failed: {e.get('ResourceStatusReason', '')}"
        for e in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        if e.get("ResourceStatus") == "CREATE_FAILED"
        and e["LogicalResourceId"] in template["Resources"]
        and "cancelled" not in e.get("ResourceStatusReason", "").lower()
    }
    if not failed:
        raise deploy.DeployFailed(f"stack {name}: {status}, no resource named as the cause")
    return failed


def _settled(cloudformation: Any, name: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        status = str(stacks[0]["StackStatus"]) if stacks else "DELETE_COMPLETE"
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(1)


def _delete(cloudformation: Any, name: str) -> None:
    """A stack of that name from an earlier try (a rolled-back one) is deleted first."""
    try:
        cloudformation.describe_stacks(StackName=name)
    except cloudformation.exceptions.ClientError:
        return
    cloudformation.delete_stack(StackName=name)
    with contextlib.suppress(cloudformation.exceptions.ClientError):
        _settled(cloudformation, name)


def measure(session: Any, stack: assembly.Stack, endpoint: str, *, moto: bool) -> Coverage:
    """Deploy one stack of the assembly, less what the emulator refuses, and read it back."""
    coverage = Coverage(stack.stack_name, total=len(stack.template.get("Resources", {})))
    bucket = prepare(session, stack, endpoint)
    template: dict[str, Any] = dict(stack.template)
    placeholder = f"arn:aws:removed:{session.region_name}:{emulator.ACCOUNT}:{{id}}"
    try:
        while removed := create(session, stack.stack_name, template, bucket, endpoint):
            for logical_id, why in sorted(removed.items()):
                coverage.removed[f"{template['Resources'][logical_id]['Type']} {logical_id}"] = why
            template = without(template, set(removed), placeholder)
    except deploy.DeployFailed as error:
        coverage.failed = str(error)
        return coverage
    if moto:
        coverage.check = deploy.check_stack(session, stack.stack_name, template)
    else:
        readers = {
            **fidelity.READERS,
            **service_readers.READERS,
            "AWS::ApiGateway::RestApi": service_readers.rest_api_policy_unescaped,
        }
        checkers = {**service_readers.CHECKERS, **deploy.CHECKERS}
        coverage.check = deploy.check_stack(
            session, stack.stack_name, template, modelled={}, checkers=checkers, readers=readers
        )
    return coverage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--endpoint", help="another emulator's endpoint; without it, moto in process")
    parser.add_argument("--by-type", action="store_true", help="the same counts per resource type")
    parser.add_argument("--details", action="store_true", help="each rejected, missing and lost resource")
    args = parser.parse_args(argv)
    import boto3

    server = None
    if args.endpoint:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update(emulator.client_environment(args.endpoint))
        session, endpoint = boto3.Session(region_name=emulator.REGION), args.endpoint
    else:
        server = emulator.start(enforce_iam=False)
        session, endpoint = boto3.Session(region_name=emulator.REGION), server.endpoint
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        if account != emulator.ACCOUNT:
            print(f"the emulator's account is {account}; start it as {emulator.ACCOUNT}", file=sys.stderr)
            return 2
        coverages = [
            measure(session, s, endpoint, moto=server is not None) for s in assembly.load(args.cdk_out).stacks
        ]
    finally:
        if server is not None:
            server.stop()
    print(table("stack", [counts(c.stack, list(c.states().values())) for c in coverages]))
    if args.by_type:
        print("\n" + table("type (all stacks)", by_type(coverages)))
    for c in coverages:
        if c.failed:
            print(f"{c.stack}: NOT DEPLOYED: {c.failed}")
        if args.details:
            for line in [
                *(f"removed: {r}: {why}" for r, why in c.removed.items()),
                *(f"missing: {m}" for m in c.check.missing),
            ]:
                print(f"{c.stack}: {line}")
            for line in c.check.fidelity.as_summary()["propertiesLost"]:
                print(f"{c.stack}: lost: {line}")
    return 1 if any(c.failed for c in coverages) else 0


if __name__ == "__main__":
    sys.exit(main())
