"""`make rehearse`: the synthesized pipeline's actions, in order, against moto on loopback.

    python -m tools.review_kit.rehearse [--cdk-out cdk.out] [--out reports/rehearsal]

Prints a table (stage, action, result, seconds, peak MiB, note), writes summary.json (one entry
per pipeline action) and, after a run where every build passed, tools/review_kit/rehearse/measured.json
(the builds' peak memory, which tests/infra/test_build_budget.py holds against compute types).
Exit 1 if any action failed; actions after a failure are `not run`, as in CodePipeline.

The Synth action stands on the record of the `make test` that ran its commands on the same
commit from a clean tree (reuse.py; the row then reads `ran in make test`, with that run's
times), unless --rerun-synth; otherwise its commands run here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stages.guardrails import PERMISSIONS_BOUNDARY_NAME, PIPELINE_QUALIFIER, bootstrap_roles_boundary_name
from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse import (
    actions,
    emulator,
    fidelity,
    iam_enforcement,
    identities,
    make_test,
    reuse,
)
from tools.review_kit.rehearse.pipeline import Environment, Pipeline

MEASURED = Path(__file__).with_name("measured.json")
PASSED = ("pass", "person", "not checked", reuse.REUSED)
BOOTSTRAP = REPO_ROOT / "bootstrap"
BOOTSTRAP_TEMPLATE = BOOTSTRAP / "cdk" / "bootstrap-template.json"
# docs/bootstrap.md's one-account step: API Gateway's account-level CloudWatch role.
ACCOUNT_SETTINGS_TEMPLATE = BOOTSTRAP / "shared-account" / "apigateway-account.json"
ACCOUNT_SETTINGS_STACK = "UploadApi-ApiGatewayAccount"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.review_kit.rehearse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "rehearsal")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (build logs)")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run the actions after a failed one too (CodePipeline stops)",
    )
    parser.add_argument(
        "--reuse-synth",
        action="store_true",
        help="for working on later actions: do not run the Synth build, hand on --cdk-out as its "
        "output; the Synth row then reads `reused`, and the run exits 1",
    )
    parser.add_argument(
        "--make-test-record",
        type=Path,
        default=make_test.RECORD,
        help="the record of `make test` the Synth action may stand on (reuse.py)",
    )
    parser.add_argument(
        "--account-profile",
        choices=sorted(emulator.PROFILES),
        default="mature",
        help="what the emulated account offers (account_profile.py): a new account's Lambda quota of 10 "
        "stops Prod at its Preflight, as it would on AWS",
    )
    parser.add_argument(
        "--rerun-synth",
        action="store_true",
        help="run the Synth action's commands even when make test's record stands for them",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.cdk_out / "UploadApiPipeline.template.json").is_file():
        print(
            f"rehearse: no {args.cdk_out}/UploadApiPipeline.template.json: run `make synth` first",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="rehearse-"))
    args.out.mkdir(parents=True, exist_ok=True)
    profile = emulator.PROFILES[args.account_profile]
    emu = emulator.start(profile)
    try:
        rows = rehearse(
            args.cdk_out,
            work,
            emu,
            reuse_synth=args.reuse_synth,
            keep_going=args.keep_going,
            make_test_record=None if args.rerun_synth else args.make_test_record,
        )
    finally:
        emu.stop()
    if not args.keep and all(r["result"] in PASSED for r in rows):
        shutil.rmtree(work, ignore_errors=True)
    write_reports(rows, args.out, profile, iam_enforced=emu.iam_enforced)
    print(table(rows))
    print(enforcement_text(emu.iam_enforced))
    print(f"\nsummary: {args.out / 'summary.json'}; build logs under {work}")
    failed = [r for r in rows if r["result"] not in PASSED]
    if not failed:
        write_measured(rows)
    short = fidelity.below_floor(rows)
    for line in short:
        print(f"rehearse: {line}", file=sys.stderr)
    return 1 if failed or short else 0


def bootstrap(env: dict[str, str], work: Path) -> None:
    """The account set-up of docs/bootstrap.md, for the one account every stage shares here: each
    bootstrap (the pipeline's, dev's, prod's) with its own qualifier, its own boundary and execution
    policies and its bootstrap roles' boundary (bootstrap/generated/<set>/, created under the set's
    names), from the committed template;
    then the shared account's API Gateway role (bootstrap/shared-account/)."""
    import boto3

    from tools.dev import bootstrap_policies, bootstrap_roles_boundary

    iam = boto3.client("iam")
    for policy_set in bootstrap_policies.policy_sets(bootstrap_policies.cdk_json_context()):
        created = {
            base: iam.create_policy(
                PolicyName=policy_set.name(base),
                PolicyDocument=(policy_set.directory / file).read_text(encoding="utf-8"),
            )["Policy"]["Arn"]
            for base, file in bootstrap_policies.POLICY_FILES.items()
        }
        # The boundary the committed template puts on the set's deploy, publishing and lookup roles
        # (named after the set's boundary): before `cdk bootstrap`, whose roles name it.
        iam.create_policy(
            PolicyName=bootstrap_roles_boundary_name(policy_set.stage),
            PolicyDocument=(policy_set.directory / bootstrap_roles_boundary.FILE).read_text(encoding="utf-8"),
        )
        boundary = policy_set.name(PERMISSIONS_BOUNDARY_NAME)
        execution = ",".join(arn for base, arn in created.items() if base != PERMISSIONS_BOUNDARY_NAME)
        _cdk_bootstrap(
            env, work / f"bootstrap-{policy_set.qualifier}", policy_set.qualifier, boundary, execution
        )
    _account_settings(boto3.client("cloudformation"))


def _account_settings(cloudformation: Any) -> None:
    """The shared account's API Gateway CloudWatch role, from the committed template: no stage's
    stack sets it where the stages share an account, and each stage's Preflight checks it is there."""
    cloudformation.create_stack(
        StackName=ACCOUNT_SETTINGS_STACK,
        TemplateBody=ACCOUNT_SETTINGS_TEMPLATE.read_text(encoding="utf-8"),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=ACCOUNT_SETTINGS_STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def _cdk_bootstrap(env: dict[str, str], cwd: Path, qualifier: str, boundary: str, execution: str) -> None:
    cwd.mkdir()
    # A qualifier other than CDK's default gets its own bootstrap stack (docs/bootstrap.md).
    own_stack = (
        []
        if qualifier == PIPELINE_QUALIFIER
        else ["--qualifier", qualifier, "--toolkit-stack-name", f"CDKToolkit-{qualifier}"]
    )
    completed = subprocess.run(  # noqa: S603 - the pinned CLI, against the emulator only
        [
            str(REPO_ROOT / "node_modules" / ".bin" / "cdk"),
            "bootstrap",
            f"aws://{emulator.ACCOUNT}/{emulator.REGION}",
            # docs/bootstrap.md's template: the bootstrap roles' trust as deployed (one account here,
            # so the statements for trusted accounts are absent, as in the pipeline account)
            "--template",
            str(BOOTSTRAP_TEMPLATE),
            *own_stack,
            "--custom-permissions-boundary",
            boundary,
            "--cloudformation-execution-policies",
            execution,
            "--no-notices",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"cdk bootstrap {qualifier} on the emulator failed: {completed.stderr[-2000:]}")


def rehearse(
    cdk_out: Path,
    work: Path,
    emu: emulator.Emulator,
    *,
    reuse_synth: bool = False,
    keep_going: bool = False,
    make_test_record: Path | None = None,
) -> list[dict[str, Any]]:
    import boto3

    env = {**os.environ, **emulator.client_environment(emu.endpoint)}
    env["PATH"] = f"{REPO_ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    bootstrap(env, work)
    pipeline = Pipeline.load(cdk_out, Environment(emulator.ACCOUNT, emulator.REGION))
    run = actions.Run(
        pipeline=pipeline,
        work=work,
        emulator_env=emulator.client_environment(emu.endpoint),
        coverage=_coverage_function(),
        session=boto3.Session(region_name=emulator.REGION),
    )
    if emu.iam_enforced:
        physical = identities.first_deploy(cdk_out, env, work)
        run.credentials = identities.codebuild_credentials(pipeline, physical)
        run.pipeline_session = identities.pipeline_session(pipeline, physical)
    return run_actions(
        run,
        reused_synth=cdk_out if reuse_synth else None,
        keep_going=keep_going,
        make_test_record=make_test_record,
    )


def run_actions(
    run: actions.Run,
    *,
    reused_synth: Path | None = None,
    keep_going: bool = False,
    make_test_record: Path | None = None,
) -> list[dict[str, Any]]:
    """Each action in pipeline order; after a failure the rest are `not run`, as in CodePipeline."""
    rows: list[dict[str, Any]] = []
    stopped: str | None = None
    for action in run.pipeline.actions:
        start = time.monotonic()
        denied_before = len(iam_enforcement.LEDGER.denied)
        if stopped:
            outcome = actions.Outcome("not run", f"after {stopped} failed")
        else:
            handler = actions.PROVIDERS.get(action.provider)
            synth = action.provider == "CodeBuild" and run.pipeline.is_synth(action)
            if synth and make_test_record is not None:
                handler = reuse.synth_from_make_test(make_test_record)
            if synth and reused_synth:
                handler = _reused_synth(reused_synth)
            try:
                if handler is None:
                    raise actions.ActionFailed(f"provider {action.provider} is not rehearsed")
                outcome = handler(run, action)
            except actions.ActionFailed as error:
                outcome = getattr(error, "outcome", None) or actions.Outcome("fail")
                outcome.result, outcome.note = "fail", str(error)
            except Exception as error:
                outcome = actions.Outcome("fail", f"{type(error).__name__}: {error}")
            if outcome.result == "fail" and not keep_going:
                stopped = action.label
        denied = iam_enforcement.LEDGER.denied[denied_before:]
        if denied:  # what IAM refused during the action, whether or not the action survived it
            outcome.note = f"{outcome.note}; IAM denied {len(denied)}: " + " | ".join(denied[:3])
        run.history.append((action, outcome))
        seconds = time.monotonic() - start if outcome.seconds is None else outcome.seconds
        rows.append(_row(action, outcome, seconds))
        print(f"rehearse: {action.label}: {outcome.result} ({rows[-1]['seconds']:.0f}s)", flush=True)
    return rows


def _reused_synth(cdk_out: Path) -> Any:
    # Absolute: later actions run in other directories (a relative cdk.out handed on was read from
    # the change gate's work directory: "cdk.out/manifest.json: Not a directory").
    cdk_out = cdk_out.resolve()

    def reused(run: actions.Run, action: actions.Action) -> actions.Outcome:
        for name in action.outputs:
            run.artifacts[name] = cdk_out if name.endswith("_Output") else cdk_out.parent / "reports"
        return actions.Outcome("reused", f"not run: --reuse-synth handed on {cdk_out}")

    return reused


def _coverage_function() -> Any:
    from tools.review_kit.iam.coverage import missing_permissions

    return missing_permissions


def _row(action: actions.Action, outcome: actions.Outcome, seconds: float) -> dict[str, Any]:
    from tools.review_kit.rehearse.codebuild import COMPUTE_TYPES

    project = outcome.project
    row: dict[str, Any] = {
        "stage": action.stage,
        "action": action.name,
        "provider": action.provider,
        "result": outcome.result,
        "seconds": round(seconds, 1),
        "peak_mib": None if outcome.peak_mib is None else round(outcome.peak_mib),
        "note": outcome.note,
    }
    if project is not None:
        vcpus, memory = COMPUTE_TYPES[project.compute_type]
        row["project"] = {
            "logical_id": project.logical_id,
            "compute_type": project.compute_type,
            "vcpus": vcpus,
            "memory_gib": memory,
            "image": project.image,
        }
    if outcome.commands:
        row["commands"] = [
            {
                "command": c.command,
                "exit": c.returncode,
                "seconds": round(c.seconds, 1),
                "peak_mib": round(c.peak_mib),
            }
            for c in outcome.commands
        ]
    if outcome.emulated:
        row["emulated_not_deployed"] = outcome.emulated
    if outcome.resources is not None:
        row["resources"] = outcome.resources
    return row


def write_reports(
    rows: list[dict[str, Any]], out: Path, profile: emulator.AccountProfile, *, iam_enforced: bool = False
) -> None:
    enforcement = iam_enforcement.summary()
    summary = {
        "emulator": "moto (uv.lock's pin), in-process server on 127.0.0.1",
        "accountProfile": {"name": profile.name, "lambdaConcurrencyQuota": profile.concurrency_quota},
        # True only when the server was probed refusing an unknown key and a caller with no policy.
        "iamEnforced": iam_enforced,
        "iamCalls": {"allowed": enforcement["callsAllowed"], "denied": enforcement["callsDenied"]},
        "notEnforced": enforcement["notEnforced"] if iam_enforced else ["IAM: nothing (enforcement is off)"],
        "actions": rows,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def write_measured(rows: list[dict[str, Any]]) -> None:
    """Peak memory of each build, for the build-budget test (regenerated by a passing rehearsal)."""
    measured = {
        f"{r['stage']}/{r['action']}": {
            "peak_mib": r["peak_mib"],
            "seconds": r["seconds"],
            "commands": {
                shown_command(c["command"]): {"peak_mib": c["peak_mib"], "seconds": c["seconds"]}
                for c in r.get("commands", [])
            },
        }
        for r in rows
        if r["provider"] == "CodeBuild"
    }
    document = {
        "measured_on": f"{os.cpu_count()} CPUs (shared), {_memory_gib():.0f} GiB; see docs/rehearsal.md",
        "builds": measured,
    }
    MEASURED.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# An embedded script in a buildspec command (gzip, base64): kept out of measured.json, whose secret
# scan would read the blob as a key; its digest still tells two versions apart.
_EMBEDDED_BLOB = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def shown_command(command: str) -> str:
    """`command` as measured.json keys it: an embedded blob replaced by its sha256's first 12 digits."""
    return _EMBEDDED_BLOB.sub(
        lambda m: f"<embedded sha256:{hashlib.sha256(m.group(0).encode()).hexdigest()[:12]}>", command
    )


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def enforcement_text(iam_enforced: bool) -> str:
    """What IAM enforcement covered in this run, and what it could not: printed under the table."""
    if not iam_enforced:
        return "\nIAM: NOT ENFORCED (every call was allowed; summary.json iamEnforced false)"
    enforcement = iam_enforcement.summary()
    denied = len(enforcement["callsDenied"])
    lines = [f"\nIAM enforced: {enforcement['callsAllowed']} calls allowed, {denied} denied; not enforced:"]
    lines += [f"  - {item}" for item in enforcement["notEnforced"]]
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    """One line per action; under it, each build command's seconds and peak, and what was emulated."""
    header = ("stage", "action", "result", "seconds", "peak MiB", "note")
    lines = [header] + [
        (
            r["stage"],
            r["action"],
            r["result"],
            f"{r['seconds']:.0f}",
            "-" if r["peak_mib"] is None else str(r["peak_mib"]),
            r["note"],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    indent = " " * (sum(widths[:2]) + 4)
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header[:5])) + "  " + header[5]]
    for row, line in zip(rows, lines[1:], strict=True):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:5])) + "  " + line[5])
        for command in row.get("commands", []):
            text = command["command"].splitlines()[0][:60] if command["command"] else ""
            out.append(
                f"{indent}{command['seconds']:>{widths[2] + widths[3] + 2}.0f}  "
                f"{command['peak_mib']:<{widths[4]}}  $ {text} (exit {command['exit']})"
            )
        for name in row.get("emulated_not_deployed", []):
            out.append(" " * (sum(widths) + 10) + f"  emulated, not deployed: {name}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
