"""Build the Lambda asset without Docker: the handler package plus pinned wheels.

`pip install --platform manylinux2014_aarch64 --only-binary=:all:` picks wheels
for Lambda's CPU and Python whatever machine runs `cdk synth`; `--require-hashes`
with the runtime's lock (lambda/requirements.lock, `make lock`) makes pip refuse any
file whose sha256 the lock does not list, the aarch64 wheels included. Docker stays the
fallback CDK would use if local bundling ever returned False; it never does here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"
HANDLER_PACKAGE = "upload_api"
# Byte-code caches and tool leftovers change on every run: never copied into the bundle, so the
# asset's hash (the bundle's) stays put and the pipeline does not republish an unchanged function.
CACHE_PATTERNS = ("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache")
SWAGGER_UI = "aws_lambda_powertools/event_handler/openapi/swagger_ui"
_PLATFORMS = {
    lambda_.Architecture.ARM_64.name: "manylinux2014_aarch64",
    lambda_.Architecture.X86_64.name: "manylinux2014_x86_64",
}


def requirements_file(runtime_name: str) -> Path:
    """Powertools dropped Python 3.9 after 3.23.0, so 3.9 has its own pins."""
    name = "requirements-py39.txt" if runtime_name == "python3.9" else "requirements.txt"
    return LAMBDA_DIR / name


def lock_file(runtime_name: str) -> Path:
    """The hash lock `make lock` writes from requirements_file(runtime_name): what pip installs."""
    return requirements_file(runtime_name).with_suffix(".lock")


def pip_install_command(target: Path, runtime_name: str, architecture: lambda_.Architecture) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile", "--no-deps",
        "--target", str(target),
        "--platform", _PLATFORMS[architecture.name],
        "--implementation", "cp",
        "--python-version", runtime_name.removeprefix("python"),
        "--only-binary=:all:",
        "--require-hashes",
        "--requirement", str(lock_file(runtime_name)),
    ]  # fmt: skip


def build_bundle(target: Path, runtime_name: str, architecture: lambda_.Architecture) -> None:
    """Write the deployable tree into `target`: wheels first, then the handler package."""
    subprocess.run(pip_install_command(target, runtime_name, architecture), check=True)  # noqa: S603
    copy_handler_package(target)
    # Wheel metadata and stub files are not needed at run time.
    for junk in [*target.glob("*.dist-info"), *target.glob("bin"), *target.glob("*-stubs")]:
        shutil.rmtree(junk, ignore_errors=True)
    # Powertools' Swagger UI (1.7 MB, served only by `enable_swagger`, which the handler never calls).
    # Its minified script splits a character across 8 KiB, which CDK's fingerprint cannot see, so
    # PipelineChangeGate could not bind the asset's key to its bytes (stages/pipeline/asset_content.py).
    for static in target.glob(f"{SWAGGER_UI}/*.min.*"):
        static.unlink()


def copy_handler_package(target: Path) -> None:
    shutil.copytree(
        LAMBDA_DIR / HANDLER_PACKAGE,
        target / HANDLER_PACKAGE,
        ignore=shutil.ignore_patterns(*CACHE_PATTERNS),
        dirs_exist_ok=True,
    )


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    def __init__(self, runtime_name: str, architecture: lambda_.Architecture) -> None:
        self._runtime_name = runtime_name
        self._architecture = architecture

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_: object) -> bool:
        build_bundle(Path(output_dir), self._runtime_name, self._architecture)
        return True


def lambda_code(runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> lambda_.Code:
    """The asset is the bundle built from `lambda/`, keyed by the bundle itself.

    Hashed from the output (with no exclude pattern, which would leave deployed files out of the
    hash), the object key is the fingerprint of exactly the files deployed. PipelineChangeGate
    recomputes it before anything is published (stages/pipeline/asset_content.py): no run can
    publish other code under the key a later commit names."""
    return lambda_.Code.from_asset(
        str(LAMBDA_DIR),
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(
            image=runtime.bundling_image,
            local=LocalPipBundling(runtime.name, architecture),
            # Docker fallback, same steps; unused while local bundling succeeds.
            command=[
                "bash",
                "-c",
                f"pip install --no-deps --require-hashes -r {lock_file(runtime.name).name} -t /asset-output"
                f" && cp -r {HANDLER_PACKAGE} /asset-output/"
                f" && rm -f /asset-output/{SWAGGER_UI}/*.min.*",
            ],
        ),
    )
