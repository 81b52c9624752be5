"""Run one CodeBuild project's buildspec as CodeBuild would, in a directory of its own.

What CodeBuild does and this does too: `runtime-versions` must name runtimes the image has (a
runtime it lacks fails the build before any command); the image's default Node is used when
none is named; the environment is CodeBuild's variables, then the buildspec's `env.variables`,
then the project's, then the action's; phases run in order install, pre_build, build,
post_build, each command in /bin/sh with the working directory and exported variables carried
from one command to the next (buildspec 0.2); a failed install or pre_build ends the build,
a failed build still runs post_build, and each phase's `finally` runs after its commands.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.review_kit.rehearse.measure import Measured, run_measured

PHASES = ("install", "pre_build", "build", "post_build")
# aws/codebuild/standard:7.0 (Ubuntu 22.04): the runtimes `runtime-versions` may select.
IMAGE_RUNTIMES: dict[str, dict[str, tuple[str, ...]]] = {
    "aws/codebuild/standard:7.0": {"python": ("3.13",), "nodejs": ("18", "20", "22")},
}
IMAGE_DEFAULT_NODE = {"aws/codebuild/standard:7.0": "18"}
# Compute types: (vCPUs, memory GiB) as CodeBuild documents them for Linux containers.
COMPUTE_TYPES: dict[str, tuple[int, float]] = {
    "BUILD_GENERAL1_SMALL": (2, 3.0),
    "BUILD_GENERAL1_MEDIUM": (4, 7.0),
    "BUILD_GENERAL1_LARGE": (8, 15.0),
}


class BuildFailed(Exception):
    """The build failed; the message names the phase and command, as CodeBuild's log would."""


@dataclass(frozen=True)
class Runtimes:
    """Where each runtime the image provides is found on this machine (prepended to PATH)."""

    bin_dirs: Mapping[tuple[str, str], Path]  # (runtime, version) -> directory with its binaries
    notes: Mapping[tuple[str, str], str] = field(default_factory=dict)


def check_runtime_versions(spec: Mapping[str, Any], image: str) -> dict[str, str]:
    """The runtimes the install phase selects; raises BuildFailed for one the image lacks."""
    provided = IMAGE_RUNTIMES.get(image)
    if provided is None:
        raise BuildFailed(f"image {image}: the rehearsal does not know its runtimes")
    install = (spec.get("phases") or {}).get("install") or {}
    selected = {str(k): str(v) for k, v in (install.get("runtime-versions") or {}).items()}
    for runtime, version in selected.items():
        if version not in provided.get(runtime, ()):
            available = ", ".join(provided.get(runtime, ())) or "none"
            raise BuildFailed(
                f"runtime-versions {runtime}: {version} is not in {image} (it has {runtime} {available})"
            )
    if "nodejs" not in selected:
        selected["nodejs"] = IMAGE_DEFAULT_NODE[image]  # what `node` is when none is named
    return selected


@dataclass
class BuildResult:
    commands: list[Measured]
    runtimes: dict[str, str]
    failed: str | None = None  # "phase: command (exit N)" of the first failure

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.commands)

    @property
    def peak_mib(self) -> float:
        return max((c.peak_mib for c in self.commands), default=0.0)


def codebuild_environment(
    *,
    project_name: str,
    source_dir: Path,
    region: str,
    account: str,
    image: str,
    base: Mapping[str, str],
    spec_variables: Mapping[str, Any],
    project_variables: Mapping[str, str],
    action_variables: Mapping[str, str],
) -> dict[str, str]:
    build_id = f"{project_name}:{uuid.uuid4()}"
    env = dict(base)
    env.update(
        {
            "CODEBUILD_SRC_DIR": str(source_dir),
            "CODEBUILD_BUILD_ID": build_id,
            "CODEBUILD_BUILD_ARN": f"arn:aws:codebuild:{region}:{account}:build/{build_id}",
            "CODEBUILD_BUILD_NUMBER": "1",
            "CODEBUILD_BUILD_IMAGE": image,
            "CODEBUILD_INITIATOR": "codepipeline/UploadApiPipeline",
            "CODEBUILD_CI": "true",
            "CODEBUILD_START_TIME": "0",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
    )
    env.update({key: str(value) for key, value in spec_variables.items()})
    env.update(project_variables)
    env.update(action_variables)
    return env


def run_buildspec(
    spec: Mapping[str, Any],
    *,
    image: str,
    source_dir: Path,
    env: Mapping[str, str],
    runtimes: Runtimes,
    log_path: Path,
) -> BuildResult:
    selected = check_runtime_versions(spec, image)
    named = ((spec.get("phases") or {}).get("install") or {}).get("runtime-versions") or {}
    path_dirs = []
    for runtime, version in selected.items():
        directory = runtimes.bin_dirs.get((runtime, version))
        if directory is None and runtime not in named:
            continue  # the image's default Node, which this build does not ask for (see check_node_engine)
        if directory is None:
            raise BuildFailed(
                f"{runtime} {version}: the image provides it, but the rehearsal has no such runtime here"
            )
        path_dirs.append(str(directory))
    env = {**env, "PATH": os.pathsep.join([*path_dirs, env.get("PATH", os.defpath)])}
    state = log_path.with_suffix(".state")
    state.mkdir(parents=True, exist_ok=True)
    (state / "env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.isidentifier()),
        encoding="utf-8",
    )
    (state / "cwd").write_text(str(source_dir), encoding="utf-8")
    return run_phases(spec, lambda command: _run_one(command, state, source_dir, env, log_path), selected)


def phase_commands(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(phase, command) of every command a build whose commands all pass runs, in order."""
    phases = spec.get("phases") or {}
    listed = []
    for phase in PHASES:
        body = phases.get(phase) or {}
        for key in ("commands", "finally"):
            commands = body.get(key) or []
            listed += [(phase, str(c)) for c in ([commands] if isinstance(commands, str) else commands)]
    return listed


def run_phases(
    spec: Mapping[str, Any], run_command: Callable[[str], Measured], runtimes: dict[str, str] | None = None
) -> BuildResult:
    """The phases' commands through `run_command`, with CodeBuild's rules for a failed command."""
    result = BuildResult([], runtimes or {})
    phases = spec.get("phases") or {}
    for phase in PHASES:
        if result.failed and phase != "post_build":
            continue  # a failed install, pre_build or build skips to post_build
        body = phases.get(phase) or {}
        phase_failed = False
        for key in ("commands", "finally"):
            commands = body.get(key) or []
            for command in [commands] if isinstance(commands, str) else commands:
                if key == "commands" and phase_failed:
                    break  # the rest of the phase's commands do not run; its `finally` does
                measured = run_command(str(command))
                result.commands.append(measured)
                if measured.returncode != 0:
                    phase_failed = True
                    result.failed = result.failed or f"{phase}: {command} (exit {measured.returncode})"
        if phase_failed and phase in ("install", "pre_build"):
            break  # CodeBuild does not run post_build after a failed install or pre_build
    return result


def _run_one(command: str, state: Path, source_dir: Path, env: Mapping[str, str], log: Path) -> Measured:
    """One command in /bin/sh, starting from the variables and directory the last one left.

    Buildspec 0.2 runs a phase's commands in one shell instance, and a variable one command assigns
    reaches the programs later commands start (CDK Pipelines' permission check assigns `ARN=...`
    and reads `process.env.ARN` in node): `set -a` exports every assignment, and the state file
    carries them to the next command.
    """
    env_file, cwd_file = shlex.quote(str(state / "env")), shlex.quote(str(state / "cwd"))
    script = (
        f'set -a; . {env_file}; cd "$(cat {cwd_file})" || exit 1\n'
        f"{command}\n"
        "__rc=$?; export -p > " + env_file + "; pwd > " + cwd_file + "; exit $__rc\n"
    )
    measured = run_measured(script, cwd=source_dir, env=env, log_path=log, shell="/bin/sh")  # noqa: S604
    return Measured(command, measured.returncode, measured.seconds, measured.peak_mib)


def exported_variables(spec: Mapping[str, Any], log_path: Path) -> dict[str, str]:
    """The values a build's last command left in the variables `env.exported-variables` names, which
    CodePipeline keeps in the action's namespace for the actions after it (`#{<namespace>.<name>}`)."""
    names = [str(n) for n in (spec.get("env") or {}).get("exported-variables") or []]
    if not names:
        return {}
    env_file = log_path.with_suffix(".state") / "env"  # what _run_one's `export -p` left
    printed = subprocess.run(  # noqa: S603 - a fixed script reading the build's own state file
        ["/bin/sh", "-c", '. "$1" && env -0', "sh", str(env_file)], capture_output=True, check=True, env={}
    ).stdout.decode()
    found = dict(entry.split("=", 1) for entry in printed.split("\0") if "=" in entry)
    return {name: found.get(name, "") for name in names}
