"""Which API to verify, whether to sign for it, and the stage limits to expect from it.

The target comes from an outputs file (`cdk deploy --outputs-file`, or `make local`'s)
or from the environment the pipeline step sets (API_URL, UPLOAD_ENDPOINT, STACK_NAME).

The limits to expect, first match wins:
1. --rate / --burst, then THROTTLE_RATE / THROTTLE_BURST (the numbers `make local` was started with);
2. a deployment: the stage's configured throttling, read with apigateway:GetStage;
3. a local server (no API Gateway API to ask): the limits it enforces, which it writes into its
   outputs file (ThrottlingRateLimit, ThrottlingBurstLimit); from an older outputs file without
   them, cdk.json's `uploadApi` settings for dev, the stage `make local` synthesizes and serves.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tools.common.paths import REPO_ROOT
from tools.common.sigv4 import region_of
from tools.pipeline_checks.verify.model import CheckResult

STAGE_CONFIG_CHECK = "stage-throttling-config"
LOCAL_SERVER_STAGE = "dev"  # tools/dev/local/__main__.py serves the dev stage's template
OUTPUT_RATE, OUTPUT_BURST = "ThrottlingRateLimit", "ThrottlingBurstLimit"  # written by `make local`
ENV_RATE, ENV_BURST = "THROTTLE_RATE", "THROTTLE_BURST"


class SetupError(Exception):
    """The verifier cannot start: no target, no credentials, a bad option. The message says which."""


@dataclass(frozen=True)
class Target:
    stack_name: str
    api_url: str  # the stage URL, ending in "/"
    upload_endpoint: str
    outputs: Mapping[str, str]

    @property
    def local(self) -> bool:
        """A `make local` server (it names its emulated AWS), or anything on a loopback address."""
        return "AwsEndpointUrl" in self.outputs or is_loopback(self.upload_endpoint)

    @property
    def stage_name(self) -> str:
        return urlsplit(self.api_url).path.strip("/").split("/")[0]

    @property
    def rest_api_id(self) -> str | None:
        """`{id}` in `https://{id}.execute-api.{region}.amazonaws.com/prod/`; None elsewhere."""
        if region_of(self.api_url) is None:
            return None
        return (urlsplit(self.api_url).hostname or "").split(".")[0]

    @property
    def secrets(self) -> list[str]:
        """Names an error body must never contain."""
        return [self.outputs[name] for name in ("BucketName", "TableName") if self.outputs.get(name)]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def target_from_outputs(path: Path, stack_name: str | None = None) -> Target:
    """The stack in an outputs file with an UploadEndpoint (the one named, if several)."""
    try:
        stacks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SetupError(f"cannot read the outputs file {path}: {error}") from None
    candidates = {
        name: outputs
        for name, outputs in stacks.items()
        if isinstance(outputs, dict)
        and "UploadEndpoint" in outputs
        and (not stack_name or name == stack_name)
    }
    if len(candidates) != 1:
        which = f"named {stack_name!r}" if stack_name else "with an UploadEndpoint output"
        raise SetupError(
            f"{path}: expected one stack {which}, found {len(candidates)}"
            + (" (pass --stack)" if len(candidates) > 1 else "")
        )
    ((name, outputs),) = candidates.items()
    return _target(name, outputs)


def target_from_env(environ: Mapping[str, str]) -> Target:
    """What the pipeline's verify step exports: API_URL, UPLOAD_ENDPOINT, STACK_NAME."""
    api_url = environ.get("API_URL", "").strip()
    if not api_url:
        raise SetupError(
            "no target: pass --outputs FILE, or set API_URL (and UPLOAD_ENDPOINT) as the pipeline does"
        )
    outputs = {"ApiUrl": api_url, "UploadEndpoint": environ.get("UPLOAD_ENDPOINT", "").strip()}
    return _target(environ.get("STACK_NAME", "").strip() or "(from environment)", outputs)


def _target(name: str, outputs: Mapping[str, Any]) -> Target:
    values = {key: str(value) for key, value in outputs.items()}
    api_url = values.get("ApiUrl", "")
    if not api_url:
        raise SetupError(f"stack {name}: no ApiUrl output")
    api_url = api_url if api_url.endswith("/") else f"{api_url}/"
    endpoint = values.get("UploadEndpoint") or f"{api_url}upload"
    if urlsplit(api_url).scheme not in ("http", "https"):
        raise SetupError(f"stack {name}: ApiUrl {api_url!r} is not an http(s) URL")
    return Target(name, api_url, endpoint, values)


# -- Limits ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    rate: float  # requests per second
    burst: int
    source: str  # where the numbers came from, as printed

    def describe(self) -> str:
        return f"{self.rate:g} req/s, burst {self.burst} (from {self.source})"


def override_from(
    environ: Mapping[str, str], rate: float | None, burst: int | None
) -> tuple[float | None, int | None, str]:
    """--rate/--burst, else THROTTLE_RATE/THROTTLE_BURST; either may be None."""
    sources = []
    if rate is not None or burst is not None:
        sources.append("--rate/--burst")
    try:
        if rate is None and environ.get(ENV_RATE, "").strip():
            rate = float(environ[ENV_RATE])
            sources.append(ENV_RATE)
        if burst is None and environ.get(ENV_BURST, "").strip():
            burst = int(environ[ENV_BURST])
            sources.append(ENV_BURST)
    except ValueError:
        raise SetupError(f"{ENV_RATE} must be a number and {ENV_BURST} an integer") from None
    if (rate is not None and rate <= 0) or (burst is not None and burst <= 0):
        raise SetupError(
            "the expected rate and burst must be > 0: a stage that admits nothing cannot be verified"
        )
    return rate, burst, " and ".join(sources)


def cdk_json_limits(stage: str, cdk_json: Path = REPO_ROOT / "cdk.json") -> tuple[float, int]:
    """The stage's throttling as cdk.json sets it (validated exactly as `cdk synth` does)."""
    from stages.settings import CONTEXT_KEY, SettingsError, load_stage_settings  # no CDK import

    try:
        context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"][CONTEXT_KEY]
        settings = load_stage_settings(context, stage)
    except (OSError, ValueError, KeyError, SettingsError) as error:
        raise SetupError(f"cannot read the {stage} stage's throttling from {cdk_json}: {error}") from None
    return float(settings.throttling_rate_limit), settings.throttling_burst_limit


def outputs_limits(target: Target) -> tuple[float, int] | None:
    """The limits a local server wrote into its outputs file; None if it wrote none."""
    rate, burst = target.outputs.get(OUTPUT_RATE), target.outputs.get(OUTPUT_BURST)
    if rate is None or burst is None:
        return None
    try:
        return float(rate), int(float(burst))
    except ValueError:
        raise SetupError(
            f"stack {target.stack_name}: {OUTPUT_RATE} {rate!r} / {OUTPUT_BURST} {burst!r} are not numbers"
        ) from None


StageReader = Callable[[Target], tuple[float, int]]


# The pipeline's verify step names the stage's VerifierRole (a stack output): the whole verifier,
# signing and apigateway:GetStage alike, runs under it, in the same account or across accounts.
# That role may call only this stage's POST /upload and read only this API stage.
VERIFIER_ROLE_ENV = "VERIFIER_ROLE_ARN"


def aws_session(environ: Mapping[str, str], region: str | None = None) -> Any:
    """A boto3 session: the VerifierRole's (assumed with the default chain) when VERIFIER_ROLE_ARN is set."""
    import boto3

    role_arn = environ.get(VERIFIER_ROLE_ENV, "").strip()
    if not role_arn:
        return boto3.Session(region_name=region)
    try:
        credentials = boto3.client("sts", region_name=region).assume_role(
            RoleArn=role_arn, RoleSessionName="upload-api-verifier"
        )["Credentials"]
    except Exception as error:  # no credentials, not trusted, ...: the run cannot start, said plainly
        raise SetupError(
            f"cannot assume {VERIFIER_ROLE_ENV} {role_arn}: {type(error).__name__}: {error}"
        ) from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def read_stage_throttling(target: Target, client: Any = None, session: Any = None) -> tuple[float, int]:
    """The stage-wide (`*/*`) throttling of the deployed stage, via apigateway:GetStage."""
    if target.rest_api_id is None:
        raise SetupError(f"{target.api_url} is not an execute-api URL: no REST API id to read the stage of")
    if client is None:
        region = region_of(target.api_url)
        session = session or aws_session(os.environ, region)
        client = session.client("apigateway", region_name=region)
    stage = client.get_stage(restApiId=target.rest_api_id, stageName=target.stage_name)
    settings = stage.get("methodSettings", {}).get("*/*", {})
    if "throttlingRateLimit" not in settings or "throttlingBurstLimit" not in settings:
        raise SetupError(
            f"stage {target.stage_name} of {target.rest_api_id} has no stage-wide (*/*) throttling: "
            "only the account's default limits apply"
        )
    return float(settings["throttlingRateLimit"]), int(settings["throttlingBurstLimit"])


def resolve_limits(
    target: Target,
    mode: str,
    environ: Mapping[str, str],
    rate: float | None = None,
    burst: int | None = None,
    read_stage: StageReader = read_stage_throttling,
) -> tuple[Limits, CheckResult]:
    """The limits the throttling checks expect, and the check of the stage's configured throttling."""
    over_rate, over_burst, over_source = override_from(environ, rate, burst)
    if target.local:
        enforced = outputs_limits(target)
        if enforced is not None:
            stack_rate, stack_burst, stack_source = *enforced, "the outputs file"
        else:
            stack_rate, stack_burst = cdk_json_limits(LOCAL_SERVER_STAGE)
            stack_source = "cdk.json uploadApi dev"
        limits = _merge(over_rate, over_burst, over_source, stack_rate, stack_burst, stack_source)
        check = CheckResult.skipped(
            STAGE_CONFIG_CHECK,
            f"local server: no API Gateway API to read the stage from; expecting {limits.describe()}",
            expected={"rate": limits.rate, "burst": limits.burst, "source": limits.source},
        )
        return limits, check
    intended_rate, intended_burst = cdk_json_limits(mode)
    intended_source = f"cdk.json uploadApi {mode}"
    if over_rate is not None:
        intended_rate, intended_source = over_rate, over_source
    if over_burst is not None:
        intended_burst, intended_source = over_burst, over_source
    try:
        stage_rate, stage_burst = read_stage(target)
    except Exception as error:  # any failure to read is this check's failure, said plainly
        reason = f"{type(error).__name__}: {error}" if not isinstance(error, SetupError) else str(error)
        limits = _merge(over_rate, over_burst, over_source, intended_rate, intended_burst, intended_source)
        return limits, CheckResult.judge(
            STAGE_CONFIG_CHECK,
            False,
            f"cannot read the stage's throttling (apigateway:GetStage): {reason}",
            expected={"rate": intended_rate, "burst": intended_burst, "source": intended_source},
        )
    limits = _merge(
        over_rate, over_burst, over_source, stage_rate, stage_burst, f"stage {target.stage_name} (GetStage)"
    )
    matches = abs(stage_rate - intended_rate) < 1e-9 and stage_burst == intended_burst
    return limits, CheckResult.judge(
        STAGE_CONFIG_CHECK,
        matches,
        f"stage {target.stage_name} throttles at {stage_rate:g} req/s, burst {stage_burst}"
        + (
            ""
            if matches
            else f"; expected {intended_rate:g} req/s, burst {intended_burst} ({intended_source})"
        ),
        configured={"rate": stage_rate, "burst": stage_burst},
        expected={"rate": intended_rate, "burst": intended_burst, "source": intended_source},
    )


def _merge(
    over_rate: float | None,
    over_burst: int | None,
    over_source: str,
    rate: float,
    burst: int,
    source: str,
) -> Limits:
    if over_rate is not None and over_burst is not None:
        return Limits(over_rate, over_burst, over_source)
    if over_rate is None and over_burst is None:
        return Limits(rate, burst, source)
    return Limits(
        over_rate if over_rate is not None else rate,
        over_burst if over_burst is not None else burst,
        f"{over_source}, the rest from {source}",
    )
