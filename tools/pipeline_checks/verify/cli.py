"""Verify a live upload API: JSON validation, then the stage's rate limit. Exit 0 only if every check passed.

    python -m tools.pipeline_checks.verify --mode dev --outputs local-outputs.json     # make verify
    python -m tools.pipeline_checks.verify --mode prod    # make verify-deployed: API_URL,
                                                                       # UPLOAD_ENDPOINT, STACK_NAME from env

With VERIFIER_ROLE_ARN set (the pipeline's verify steps), every AWS call, signing included, runs
under that role: the stage's VerifierRole, which may call only this stage's POST /upload and read
only this API stage.

dev: every check, one real upload (201), and a flood above the limit.
prod: writes nothing and does not flood unless told (--write, --load): the stage's
configured throttling (apigateway:GetStage), the validation probes, and a short paced
probe below the limit.

Exit status: 0 every check passed (skipped ones are listed as such), 1 a check failed,
2 the verifier could not start (the reason is printed and is the report's one check),
3 refused: this machine cannot offer the flood the limit needs (calibration.py; one line says
which limit it can prove and the command that proves it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tools.common.sigv4 import region_of
from tools.pipeline_checks.verify import calibration, direct, loadgen, probes, throttling
from tools.pipeline_checks.verify.model import CheckResult
from tools.pipeline_checks.verify.report import Run, table, write
from tools.pipeline_checks.verify.target import (
    Limits,
    SetupError,
    Target,
    aws_session,
    read_stage_throttling,
    resolve_limits,
    target_from_env,
    target_from_outputs,
)
from tools.pipeline_checks.verify.throttling import ThrottleOptions

MODES = ("dev", "prod")
SETUP_CHECK = "setup"
CALIBRATION_CHECK = "throttling/flood-calibration"


class Refused(Exception):
    """This machine cannot offer the flood: the message is the one line that says what it can prove."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.pipeline_checks.verify",
        description=__doc__.split("\n\n")[0],
        epilog="The limits to expect: --rate/--burst, else THROTTLE_RATE/THROTTLE_BURST, else the deployed "
        "stage's (apigateway:GetStage), else (a local server) cdk.json's.",
    )
    parser.add_argument(
        "--mode", choices=MODES, required=True, help="dev: write and flood; prod: neither by default"
    )
    parser.add_argument(
        "--outputs",
        type=Path,
        help="outputs file (cdk deploy --outputs-file, make local); "
        "default: API_URL/UPLOAD_ENDPOINT/STACK_NAME from the environment",
    )
    parser.add_argument("--stack", help="the stack in the outputs file, if it has several")
    parser.add_argument(
        "--sign",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SigV4-sign requests (default: yes unless the API is on loopback)",
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="upload one valid file and check the 201 (default: dev only)",
    )
    parser.add_argument(
        "--load",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="flood above the limit (default: dev only; in prod it throttles real users)",
    )
    parser.add_argument("--rate", type=float, help="the stage rate limit to expect, req/s")
    parser.add_argument("--burst", type=int, help="the stage burst limit to expect")
    parser.add_argument("--control-rate", type=float, help="below-limit control, req/s (default: rate / 2)")
    parser.add_argument("--control-seconds", type=float, help="below-limit control length (default: 1)")
    parser.add_argument("--load-rate", type=float, help="flood, req/s offered (default: 2 x rate)")
    parser.add_argument(
        "--load-seconds", type=float, help="flood length (default: 2 x burst / rate, at least 2, at most 30)"
    )
    parser.add_argument("--max-in-flight", type=int, default=1000, help="cap on requests awaiting answers")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="seconds per load request")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.25,
        help="allowed relative error of the accepted rate (default 0.25)",
    )
    parser.add_argument("--junit", type=Path, help="default: reports/verify/<mode>-junit.xml")
    parser.add_argument(
        "--json", type=Path, dest="json_path", help="default: reports/verify/<mode>-report.json"
    )
    args = parser.parse_args(argv)
    args.junit = args.junit or Path("reports/verify") / f"{args.mode}-junit.xml"
    args.json_path = args.json_path or Path("reports/verify") / f"{args.mode}-report.json"
    return args


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    environ = os.environ if environ is None else environ
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.perf_counter()
    context: dict[str, Any] = {}
    try:
        checks = verify(args, environ, context)
    except SetupError as error:
        print(f"verify: cannot start: {error}", file=sys.stderr)
        checks = [CheckResult.judge(SETUP_CHECK, False, str(error))]
        run = Run(args.mode, context, checks, started_at, time.perf_counter() - clock)
        write(run, args.junit, args.json_path)
        return 2
    except Refused as refused:
        print(refused, file=sys.stderr)
        checks = [CheckResult.judge(CALIBRATION_CHECK, False, str(refused))]
        run = Run(args.mode, context, checks, started_at, time.perf_counter() - clock)
        write(run, args.junit, args.json_path)
        return calibration.REFUSED_EXIT
    run = Run(args.mode, context, checks, started_at, time.perf_counter() - clock)
    print(table(run))
    write(run, args.junit, args.json_path)
    print(f"reports: {args.junit} {args.json_path}")
    return 0 if run.passed else 1


@dataclass(frozen=True)
class Plan:
    """What this run will do, decided before any request: target, signing, limits, phases."""

    mode: str
    target: Target
    limits: Limits
    stage_check: CheckResult
    options: ThrottleOptions
    write: bool
    flood: bool
    credentials: Any  # None: unsigned
    region: str | None

    def context(self) -> dict[str, Any]:
        target = self.target
        return {
            "target": {
                "stack": target.stack_name,
                "api_url": target.api_url,
                "upload_endpoint": target.upload_endpoint,
                "local": target.local,
                "signed": self.credentials is not None,
                "region": self.region,
            },
            "limits": {"rate": self.limits.rate, "burst": self.limits.burst, "source": self.limits.source},
            "options": {"write": self.write, "load": self.flood, **vars(self.options)},
        }


def plan_run(args: argparse.Namespace, environ: Mapping[str, str]) -> Plan:
    target = target_from_outputs(args.outputs, args.stack) if args.outputs else target_from_env(environ)
    # The deployed API uses IAM auth by default; a loopback server (make local) does not emulate it.
    sign = (not target.local) if args.sign is None else args.sign
    session = None if target.local else aws_session(environ, region_of(target.api_url))
    credentials, region = signing_identity(target, session) if sign else (None, None)
    limits, stage_check = resolve_limits(
        target,
        args.mode,
        environ,
        args.rate,
        args.burst,
        read_stage=partial(read_stage_throttling, session=session),
    )
    options = ThrottleOptions.derive(
        limits,
        control_rate=args.control_rate,
        control_seconds=args.control_seconds,
        load_rate=args.load_rate,
        load_seconds=args.load_seconds,
        max_in_flight=args.max_in_flight,
        request_timeout=args.request_timeout,
        tolerance=args.tolerance,
    )
    return Plan(
        mode=args.mode,
        target=target,
        limits=limits,
        stage_check=stage_check,
        options=options,
        write=(args.mode == "dev") if args.write is None else args.write,
        flood=(args.mode == "dev") if args.load is None else args.load,
        credentials=credentials,
        region=region,
    )


def verify(
    args: argparse.Namespace, environ: Mapping[str, str], context: dict[str, Any]
) -> list[CheckResult]:
    plan = plan_run(args, environ)
    context.update(plan.context())
    signing = f"SigV4-signed for {plan.region}" if plan.credentials is not None else "unsigned"
    say(
        f"verify {plan.mode}: {plan.target.upload_endpoint} ({plan.target.stack_name}; {signing}"
        f"{'; local server' if plan.target.local else ''})"
    )
    say(f"limits to expect: {plan.limits.describe()}")
    if plan.flood:
        context["calibration"] = calibrate(plan)
    return [plan.stage_check, *validation_checks(plan), *throttling_checks(plan)]


def calibrate(plan: Plan) -> dict[str, Any]:
    """A sample of the flood, before anything else: refuse now if this machine cannot offer it."""
    options, target = plan.options, plan.target
    seconds = min(calibration.SAMPLE_MAX_SECONDS, options.load_seconds)
    say(f"calibration: {options.load_rate:g} req/s for {seconds:g} s, the flood's rate")
    headers = load_headers(plan.credentials, plan.region, target.upload_endpoint)
    sample = options.plan(options.load_rate, seconds)
    capacity = calibration.Capacity.measure(throttling.run_load(sample, target.upload_endpoint, headers))
    if capacity.lost >= capacity.count:
        raise SetupError(f"no answer from {target.upload_endpoint}: is the server running?")
    if not capacity.enough:
        raise Refused(calibration.refusal(capacity, plan.limits.rate, target.upload_endpoint, target.local))
    time.sleep(throttling.refill_wait(plan.limits))  # the probes after it start on a full bucket
    return capacity.summary()


def validation_checks(plan: Plan) -> list[CheckResult]:
    """The contract's error cases, one upload (if writing), and the load body's gateway answer."""
    target = plan.target
    product_id = probes.new_product_id(plan.mode)
    checks = []
    with probe_client(plan.credentials, plan.region) as client:
        for probe in probes.probes():
            checks.append(
                guarded(
                    probe.name,
                    partial(probes.run_probe, client, target.api_url, probe, product_id, target.secrets),
                )
            )
        if plan.write:
            upload = partial(probes.check_valid_upload, client, target.upload_endpoint, product_id)
            checks.append(guarded(probes.UPLOAD_CHECK, upload))
            checks += direct_upload_checks(client, target, product_id)
        else:
            why = f"{plan.mode} mode writes nothing (--write uploads one file)"
            checks.append(CheckResult.skipped(probes.UPLOAD_CHECK, why))
            why = f"not checked: {plan.mode} mode writes nothing (--write uploads through S3 too)"
            checks += [CheckResult.skipped(name, why) for name in direct.CHECKS]
        gateway = partial(probes.check_load_body_refused_by_gateway, client, target.upload_endpoint)
        checks.append(guarded(probes.GATEWAY_CHECK, gateway))
    return checks


def direct_upload_checks(client: Any, target: Target, product_id: str) -> list[CheckResult]:
    """The direct path (verify/direct.py); the item is read only where the target's AWS is emulated.

    A target whose S3 cannot answer a presigned PUT as S3 does says why in VERIFY_DIRECT_NOT_CHECKED
    (the rehearsal's emulator): the rows are then NOT CHECKED with that reason, never passed.
    """
    not_checked = os.environ.get(direct.NOT_CHECKED_ENV, "").strip()
    if not_checked:
        return [CheckResult.skipped(name, f"not checked: {not_checked}") for name in direct.CHECKS]
    started = time.perf_counter()
    try:
        reader = direct.local_item_reader(target.outputs) if "AwsEndpointUrl" in target.outputs else None
        ids = (f"{product_id}-direct", f"{product_id}-direct-refused")
        return direct.direct_checks(client, target.upload_endpoint, ids, reader)
    except Exception as error:  # a crashed proof is four failed rows with the reason
        why = f"the check itself failed: {type(error).__name__}: {error}"
        return [
            timed(CheckResult.judge(name, False, why), time.perf_counter() - started)
            for name in direct.CHECKS
        ]


def throttling_checks(plan: Plan) -> list[CheckResult]:
    """The paced control below the limit, then (dev, or --load) the flood above it."""
    options, limits, target = plan.options, plan.limits, plan.target
    headers = load_headers(plan.credentials, plan.region, target.upload_endpoint)

    def load(rate: float, seconds: float) -> loadgen.LoadResult:
        # Each phase starts on a full bucket: the probes and the control spent tokens.
        time.sleep(throttling.refill_wait(limits))
        return throttling.run_load(options.plan(rate, seconds), target.upload_endpoint, headers)

    phases: dict[str, loadgen.LoadResult] = {}
    checks: list[CheckResult] = []
    try:
        say(f"control: {options.control_rate:g} req/s for {options.control_seconds:g} s, below the limit")
        phases["control"] = control = load(options.control_rate, options.control_seconds)
        checks.append(timed(throttling.judge_control(control, limits), control.wall_seconds))
        if plan.flood:
            say(f"flood: {options.load_rate:g} req/s for {options.load_seconds:g} s, open loop")
            phases["flood"] = flood = load(options.load_rate, options.load_seconds)
            checks += [timed(c, flood.wall_seconds) for c in throttling.judge_flood(flood, limits, options)]
        else:
            checks += throttling.skipped_flood(
                f"{plan.mode} mode does not flood by default: it would throttle real users for its length "
                f"(--load turns it on); {plan.stage_check.name} and the control stand in"
            )
    except Exception as error:  # a load that could not run is a failed check, said plainly
        reason = f"the load could not run: {type(error).__name__}: {error}"
        done = {check.name for check in checks}
        wanted = [throttling.CONTROL_CHECK, *(throttling.FLOOD_CHECKS if plan.flood else ())]
        checks += [CheckResult.judge(name, False, reason) for name in wanted if name not in done]
    checks.append(throttling.judge_only_gateway_400(phases))
    return checks


def signing_identity(target: Target, session: Any = None) -> tuple[Any, str]:
    """The caller's credentials (the VerifierRole when VERIFIER_ROLE_ARN is set, else the default
    chain) and the API's region."""
    import boto3

    session = session or boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SetupError(
            "the API uses IAM auth but no AWS credentials were found to sign with "
            "(--no-sign sends unsigned requests)"
        )
    return credentials, region_of(target.api_url) or session.region_name or "us-east-1"


def probe_client(credentials: Any, region: str | None) -> Any:
    import httpx

    from tools.common.sigv4 import SigV4

    auth = SigV4(credentials, region) if credentials is not None and region else None
    return httpx.Client(auth=auth, timeout=60.0)


def load_headers(credentials: Any, region: str | None, endpoint: str) -> Callable[[], Mapping[str, str]]:
    from tools.common.sigv4 import CachedSigner

    plain = {"Content-Type": probes.JSON}
    if credentials is None or region is None:
        return lambda: plain
    return CachedSigner(credentials, region, "POST", endpoint, probes.LOAD_BODY, plain).headers


def guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """A check that crashed is a failed check with its reason, not a crashed verifier."""
    started = time.perf_counter()
    try:
        return check()
    except Exception as error:  # reported as this check's failure
        return timed(
            CheckResult.judge(name, False, f"the check itself failed: {type(error).__name__}: {error}"),
            time.perf_counter() - started,
        )


def timed(result: CheckResult, seconds: float) -> CheckResult:
    return CheckResult(result.name, result.status, result.summary, result.details, seconds)


def say(line: str) -> None:
    print(line, flush=True)
