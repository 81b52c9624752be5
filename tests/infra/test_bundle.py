"""The Lambda bundle, built as `cdk synth` builds it: complete, aarch64, clean, reproducible.

Marked `bundle`: these run pip, which downloads the pinned wheels from PyPI (`pytest -m bundle`
selects them, `-m "not bundle"` leaves them out). The import test runs the handler in an
isolated interpreter whose path is only the bundle, the packages the Lambda python3.13 runtime
ships, and the standard library, so a dependency missing from lambda/requirements.txt fails here.
"""

from __future__ import annotations

import filecmp
import glob
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from stages.pipeline import asset_content
from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload.bundling import build_bundle, lock_file, pip_install_command, requirements_file
from stages.upload_stage import UploadApiStage
from tests.repo import cdk_context

from .conftest import LAMBDA_DIR, synth_stage

pytestmark = pytest.mark.bundle

PROBE = Path(__file__).with_name("import_probe.py")
# What the Lambda Python runtimes provide besides the standard library (and what the bundle must not carry).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
ELF_MACHINE_AARCH64 = 183
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+$")


def _python(version: str) -> str | None:
    """An interpreter for `version` (e.g. "3.13"), if this machine has one."""
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))),
    ]
    wanted = repr(tuple(int(part) for part in version.split(".")))
    for candidate in filter(None, candidates):
        check = [candidate, "-I", "-S", "-c", f"import sys; assert sys.version_info[:2] == {wanted}"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def _shared_objects(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and re.search(r"\.so(\.|$)", p.name)]


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    assert header[4] == 2, f"{path} is not 64-bit"
    assert header[5] == 1, f"{path} is not little-endian"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python3.13 / arm64 bundle, built once by the function `cdk synth` calls."""
    target = tmp_path_factory.mktemp("bundle-python3.13")
    build_bundle(target, "python3.13", lambda_.Architecture.ARM_64)
    return target


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Symlinks to only the packages the Lambda python3.13 runtime ships, from this venv."""
    target = tmp_path_factory.mktemp("lambda-runtime-packages")
    for name in RUNTIME_PACKAGES:
        source = Path(importlib.import_module(name).__file__ or "")
        source = source.parent if source.name == "__init__.py" else source
        (target / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return target


@pytest.fixture(scope="session")
def function_environment() -> dict[str, str]:
    """The function's environment from the synthesized template, references replaced by names."""
    variables = synth_stage("dev").function["Environment"]["Variables"]
    names = {
        "BUCKET_NAME": "probe-upload-bucket",
        "TABLE_NAME": "probe-product-table",
        "BUCKET_KEY_ARN": "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000000",
    }
    # A new variable that references a resource needs a stand-in here: KeyError says which.
    return {key: names[key] if isinstance(value, dict) else value for key, value in variables.items()}


def _run_probe(python: str, bundle: Path, runtime: Path, function_env: dict[str, str]) -> dict[str, Any]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        # What Lambda sets for every function, then what the stack sets for this one.
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "upload-api-probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "LAMBDA_TASK_ROOT": str(bundle),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        **function_env,
    }
    # -I: ignore PYTHON* variables and the user site; -S: no site-packages at all;
    # -B: write no byte-code into the bundle (Lambda's /var/task is read-only too).
    result = subprocess.run(
        [python, "-I", "-S", "-B", str(PROBE), str(bundle), str(runtime)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session", params=["this interpreter", "3.13"])
def probe(request, bundle_dir, runtime_dir, function_environment) -> dict[str, Any]:
    """The import probe's report, run by this interpreter and by a python3.13 (Lambda's) if present."""
    if request.param == "3.13":
        python = _python("3.13")
        if python is None:
            pytest.skip("no python3.13 interpreter on this machine")
    else:
        python = sys.executable
    return _run_probe(python, bundle_dir, runtime_dir, function_environment)


def test_the_handler_imports_from_the_bundle_and_runtime_packages_alone(probe):
    # GIVEN an interpreter whose path is the bundle, the runtime's packages and the standard library
    # WHEN it imports upload_api.handler with the function's environment
    origins = probe["origins"]
    # THEN nothing came from anywhere else
    assert set(origins) <= {"bundle", "runtime", "stdlib"}, origins
    # AND the handler's own dependencies came from the bundle, boto3 & co. from the runtime
    assert {"upload_api", "aws_lambda_powertools", "aws_xray_sdk", "fastjsonschema", "wrapt"} <= set(
        origins["bundle"]
    )
    assert {"boto3", "botocore"} <= set(origins["runtime"])


def test_the_imported_handler_answers_requests_that_need_no_aws_call(probe):
    # GIVEN the handler imported from the bundle, with tracing active as in Lambda
    assert probe["tracer_enabled"]
    assert probe["botocore_patched_for_xray"]
    # WHEN it is invoked with an invalid body and with an unknown route
    # THEN it answers 400 and 403 (schema validation and routing work from the bundle)
    assert probe["status"] == {"bad_body": 400, "unknown_route": 403}


def test_the_scan_result_function_imports_from_the_same_bundle(probe):
    # GIVEN the bundle (the scan-result function's asset too)
    # WHEN upload_api.scan_result is imported and shown an event that is not a scan result
    # THEN it imported (from the bundle and runtime alone, checked above) and refused the event
    assert probe["scan_result_refuses_other_events"] is True


def test_wrapt_falls_back_to_pure_python_off_aarch64(probe):
    # GIVEN the bundle's wrapt, whose C extension is built for aarch64 / CPython 3.13
    native = platform.machine() in ("aarch64", "arm64") and probe["python"] == [3, 13]
    # WHEN it is imported here
    # THEN the extension loads only on a matching machine, and otherwise wrapt's pure-Python proxies work
    assert probe["wrapt_extension_loaded"] is native
    assert probe["wrapt_proxy_works"]


def test_every_shared_object_is_an_aarch64_elf(bundle_dir):
    # GIVEN the bundle
    shared_objects = _shared_objects(bundle_dir)
    # WHEN their ELF headers are read
    # THEN there is at least one (wrapt's) and every one is for aarch64 (e_machine 183)
    assert shared_objects
    assert {p.relative_to(bundle_dir).as_posix(): _elf_machine(p) for p in shared_objects} == {
        p.relative_to(bundle_dir).as_posix(): ELF_MACHINE_AARCH64 for p in shared_objects
    }
    assert all("cpython-313-aarch64" in p.name for p in shared_objects)


def test_the_bundle_has_no_caches_or_wheel_metadata(bundle_dir):
    # GIVEN the bundle
    # WHEN every path in it is listed
    paths = [p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*")]
    # THEN there is no byte-code cache, compiled file, wheel metadata or script dir
    assert not [p for p in paths if "__pycache__" in p or p.endswith(".pyc")]
    assert not [p for p in paths if ".dist-info" in p]
    assert not (bundle_dir / "bin").exists()


def test_the_bundle_does_not_carry_what_the_runtime_provides(bundle_dir):
    # GIVEN the bundle
    # WHEN its top-level names are listed
    top_level = {p.name.removesuffix(".py") for p in bundle_dir.iterdir()}
    # THEN boto3 & co. are left to the runtime (a bundled botocore would shadow the runtime's boto3)
    assert not top_level & set(RUNTIME_PACKAGES)


def test_the_bundle_holds_the_handler_package_as_in_the_repository(bundle_dir):
    # GIVEN lambda/upload_api and the bundle's copy
    source = LAMBDA_DIR / "upload_api"
    files = sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    # WHEN compared
    _, mismatch, errors = filecmp.cmpfiles(source, bundle_dir / "upload_api", files, shallow=False)
    # THEN every file (the request schema included) is there, byte for byte
    assert "request_schema.json" in files
    assert (mismatch, errors) == ([], [])


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(runtime: str) -> list[str]:
    lines = requirements_file(runtime).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


@pytest.mark.parametrize("runtime", ["python3.13", "python3.9"])
def test_the_requirements_are_exact_pins(runtime):
    # GIVEN the runtime's requirements file
    # WHEN comments and blank lines are dropped
    requirements = _requirements(runtime)
    # THEN every requirement is name==version
    assert requirements
    assert [r for r in requirements if not _PIN.match(r)] == []


@pytest.mark.parametrize("runtime", ["python3.13", "python3.9"])
def test_the_pins_resolve_with_their_dependencies_for_the_runtime(runtime, tmp_path):
    # GIVEN the runtime's pins, which synth installs with --no-deps
    pins = {_normalized(name): version for name, version in (r.split("==") for r in _requirements(runtime))}
    command = pip_install_command(tmp_path / "target", runtime, lambda_.Architecture.ARM_64)
    # The lock holds only the pins (with their hashes): resolving their dependencies reads the input.
    command.remove("--no-deps")
    command.remove("--require-hashes")
    command[command.index(str(lock_file(runtime)))] = str(requirements_file(runtime))
    report = tmp_path / "report.json"
    # WHEN pip resolves them with their dependencies for that Python on manylinux aarch64 (dry run)
    subprocess.run([*command, "--dry-run", "--ignore-installed", "--report", str(report)], check=True)
    installed = {
        _normalized(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
    }
    # THEN each pin is what gets installed (no conflict forces another version)
    assert {name: installed.get(name) for name in pins} == pins
    # AND every other dependency they pull in is one the Lambda runtime already ships
    assert set(installed) - set(pins) <= RUNTIME_DISTRIBUTIONS


def test_the_python_3_9_bundle_builds_for_aarch64(tmp_path):
    # GIVEN lambdaRuntime=python3.9, whose pins are lambda/requirements-py39.txt
    assert requirements_file("python3.9").name == "requirements-py39.txt"
    # WHEN the bundle is built as synth would build it
    build_bundle(tmp_path, "python3.9", lambda_.Architecture.ARM_64)
    # THEN it holds the handler, and its shared objects are aarch64 builds for CPython 3.9
    assert (tmp_path / "upload_api" / "handler.py").is_file()
    shared_objects = _shared_objects(tmp_path)
    assert shared_objects
    assert all(
        _elf_machine(p) == ELF_MACHINE_AARCH64 and "cpython-39-aarch64" in p.name for p in shared_objects
    )


def test_a_real_synth_keys_the_bundle_by_its_own_fingerprint(tmp_path):
    # WHEN the dev stage is synthesized with bundling, as `cdk synth` does (no Docker: local pip bundling)
    cdk.AssetStaging.clear_asset_hash_cache()
    app = cdk.App(context=cdk_context(), outdir=str(tmp_path))
    stage = UploadApiStage(
        app, "Dev", settings=load_stage_settings(app.node.try_get_context(CONTEXT_KEY), "dev")
    )
    assembly = app.synth()
    template = assembly.get_stack_artifact(stage.stack.artifact_id).template
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    # (the upload function and the direct-upload finalizer share the one bundle)
    (s3_key,) = {function["Properties"]["Code"]["S3Key"] for function in functions}
    # THEN the deployed asset's key is aws-cdk-lib's fingerprint of the staged bundle
    asset = tmp_path / f"asset.{s3_key.removesuffix('.zip')}"
    assert cdk.FileSystem.fingerprint(str(asset)) == s3_key.removesuffix(".zip")
    # AND the fingerprint sees every byte of it: PipelineChangeGate finds the key bound to its content
    assert asset_content.unbound_reasons(asset, s3_key) == []
    # AND the staged asset is the bundle: handler plus wheels, no caches or metadata
    assert (asset / "upload_api" / "handler.py").is_file()
    assert (asset / "aws_lambda_powertools").is_dir()
    assert not [p for p in asset.rglob("*") if p.name == "__pycache__" or p.name.endswith(".dist-info")]
