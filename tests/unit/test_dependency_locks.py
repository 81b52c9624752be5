"""Hash locks: every Python install reads a lock with hashes, and no lock drifts from its input.

The requirements*.txt files are what a person edits; `make lock` (uv pip compile
--generate-hashes) writes a *.lock beside each, and every install (make install's three venvs,
the verify steps' `make verify-deployed`, the Lambda bundle) runs pip with --require-hashes on a
lock. These tests read the files only (but the last, marked `bundle`, which runs `make lock`'s
commands against the package index): a pin edited without `make lock` fails here, before any
install does (docs/supply-chain.md).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from aws_cdk import aws_lambda as lambda_
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stages.upload.bundling import lock_file, pip_install_command, requirements_file

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
_CONTINUED = re.compile(r"\\\n")


def _makefile_lines() -> list[str]:
    return _CONTINUED.sub(" ", MAKEFILE.read_text(encoding="utf-8")).splitlines()


def _variable(name: str) -> str:
    (line,) = [line for line in _makefile_lines() if re.match(rf"{name}\s*:?=", line)]
    return line.split("=", 1)[1].strip()


def _lock_recipes() -> dict[Path, Path]:
    """lock -> input, from the `make lock` recipe: `$(UV_COMPILE) ... INPUT ... -o LOCK`."""
    pairs = {}
    for line in _makefile_lines():
        if line.strip().startswith("$(UV_COMPILE)"):
            words = shlex.split(line)
            output = words[words.index("-o") + 1]
            inputs = [w for w in words[1:] if w.endswith(".txt")]
            assert len(inputs) == 1, line
            pairs[ROOT / output] = ROOT / inputs[0]
    return pairs


def _pins(requirements: Path) -> dict[str, str]:
    """name -> version of every `name==version` in a requirements file and the files it -r includes."""
    pins: dict[str, str] = {}
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            pins.update(_pins(requirements.parent / line.split(None, 1)[1]))
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{requirements.name}: {line} is not an exact pin"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _lock_entries(lock: Path) -> list[tuple[Requirement, list[str]]]:
    """(requirement with its marker, its hashes) for every entry of a lock."""
    text = _CONTINUED.sub(" ", lock.read_text(encoding="utf-8"))
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split(" --hash=")
        entries.append((Requirement(requirement.strip()), [o.strip() for o in options]))
    return entries


def _locked_versions(lock: Path) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for requirement, _ in _lock_entries(lock):
        (specifier,) = requirement.specifier
        versions.setdefault(canonicalize_name(requirement.name), set()).add(specifier.version)
    return versions


LOCKS = _lock_recipes()


def _included(requirements: Path) -> set[Path]:
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return {(requirements.parent / line[3:].strip()).resolve() for line in lines if line.startswith("-r ")}


def test_every_requirements_file_is_locked_by_make_lock():
    # GIVEN every requirements file in the repository (the root and lambda/)
    inputs = set(ROOT.glob("requirements*.txt")) | set((ROOT / "lambda").glob("requirements*.txt"))
    # WHEN the `make lock` recipe's inputs, and the files they include, are listed
    included = {path for source in LOCKS.values() for path in _included(source)}
    # THEN each file is an input or included in one (requirements.txt is installed through
    # requirements-dev.txt), and each lock is named after its input and is in the repository
    assert inputs - set(LOCKS.values()) - included == set()
    assert ROOT / "requirements.txt" in included
    for lock, source in LOCKS.items():
        assert lock == source.with_suffix(".lock")
        assert lock.is_file(), f"{lock.name} is missing: run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_lock_entry_is_an_exact_pin_with_sha256_hashes(lock):
    # GIVEN a lock
    entries = _lock_entries(lock)
    # WHEN its entries are read
    # THEN each is name==version with at least one sha256, and nothing is installed from a URL or path
    assert entries
    for requirement, hashes in entries:
        assert requirement.url is None, requirement
        assert [s.operator for s in requirement.specifier] == ["=="], requirement
        assert hashes, f"{lock.name}: {requirement} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement


@pytest.mark.parametrize("lock", sorted(LOCKS), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_pin_of_the_input_is_in_its_lock_at_the_same_version(lock):
    # GIVEN a lock and the requirements file it is written from (with what that file includes)
    pins = _pins(LOCKS[lock])
    locked = _locked_versions(lock)
    # WHEN each pin is looked up in the lock
    drifted = {name: (version, sorted(locked.get(name, []))) for name, version in pins.items()}
    # THEN the lock holds exactly that version: a pin edited without `make lock` fails here
    assert {name: v for name, v in drifted.items() if v[1] != [v[0]]} == {}


def test_the_lambda_locks_hold_only_the_bundled_pins():
    # GIVEN the Lambda's locks (bundled with --no-deps: boto3 and friends come with the runtime)
    for runtime in ("python3.13", "python3.9"):
        # WHEN their names are compared with the pins
        # THEN the lock adds nothing, so the bundle is exactly the listed pins
        assert set(_locked_versions(lock_file(runtime))) == set(_pins(requirements_file(runtime)))


def test_the_verify_steps_install_the_versions_the_tests_run():
    # GIVEN the verifier's lock (the pipeline's verify steps) and the dev lock (.venv, the tests)
    verify = _locked_versions(ROOT / "requirements-verify.lock")
    dev = _locked_versions(ROOT / "requirements-dev.lock")
    # WHEN each locked version of the verifier is looked up in the dev lock
    # THEN it is the same one
    assert {name: versions for name, versions in verify.items() if not versions <= dev.get(name, set())} == {}


def test_every_pip_install_in_the_makefile_requires_hashes_from_a_lock():
    # GIVEN the Makefile's recipe lines that install with pip (PIP_LOCKED spelled out)
    locked = _variable("PIP_LOCKED")
    lines = [line.replace("$(PIP_LOCKED)", locked) for line in _makefile_lines() if line.startswith("\t")]
    installs = [line for line in lines if re.search(r"\bpip install\b", line)]
    # WHEN their options are read
    # THEN each is --require-hashes -r <a lock>: the three venvs' pip and packages, and the verify steps
    assert len(installs) == 7, installs
    for line in installs:
        words = shlex.split(line)
        assert "--require-hashes" in words, line
        assert words[words.index("-r") + 1].endswith(".lock"), line
        assert "--upgrade" not in words, line
    locks = [shlex.split(line)[-1] for line in installs]
    assert sorted(set(locks)) == [
        "requirements-checkov.lock",
        "requirements-dev.lock",
        "requirements-pip.lock",
        "requirements-scan.lock",
        "requirements-verify.lock",
    ]
    assert locks.count("requirements-pip.lock") == 3


def test_the_buildspec_installs_only_through_make():
    # GIVEN buildspec.yml, the synth step's commands
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text(encoding="utf-8"))
    commands = [c for phase in buildspec["phases"].values() for c in phase.get("commands", [])]
    # WHEN its commands are searched for a package install of their own
    # THEN there is none: `make install` (hash-locked, above) is the only one
    assert [c for c in commands if re.search(r"\bpip3? install\b|\buv pip\b", c)] == []
    assert "make install" in commands


@pytest.mark.parametrize("runtime", ["python3.13", "python3.9"])
def test_the_lambda_bundle_installs_its_lock_with_hashes(runtime, tmp_path):
    # GIVEN the pip command synth bundles the Lambda with
    command = pip_install_command(tmp_path, runtime, lambda_.Architecture.ARM_64)
    # WHEN its options are read
    # THEN it installs the runtime's lock, hashes required
    assert "--require-hashes" in command
    assert command[command.index("--requirement") + 1] == str(lock_file(runtime))


@pytest.mark.bundle
def test_make_lock_rewrites_every_lock_unchanged(tmp_path):
    # GIVEN a copy of the inputs and their locks, and the `make lock` recipe's commands
    uv_compile = _variable("UV_COMPILE").replace("$(BIN)", str(ROOT / ".venv" / "bin"))
    commands = [
        line.strip().replace("$(UV_COMPILE)", uv_compile.replace("$(LOCK_ARGS)", ""))
        for line in _makefile_lines()
        if line.strip().startswith("$(UV_COMPILE)")
    ]
    (tmp_path / "lambda").mkdir()
    for lock, source in LOCKS.items():
        for path in (lock, source, *_included(source)):
            copy = tmp_path / path.relative_to(ROOT)
            copy.write_bytes(path.read_bytes())
    # WHEN `make lock` runs them there (uv, against the package index)
    for command in commands:
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    # THEN every lock comes out byte for byte as committed: the committed locks are what the tool writes
    for lock in LOCKS:
        relative = lock.relative_to(ROOT)
        assert (tmp_path / relative).read_text(encoding="utf-8") == lock.read_text(encoding="utf-8"), relative


def _interpreter(version: str) -> str | None:
    """A Python `version` on this machine that starts (pyenv's, or on PATH: a pyenv shim may not)."""
    pyenv = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    candidates = [*sorted(glob.glob(pyenv)), shutil.which(f"python{version}")]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


CODEBUILD_PYTHON = "3.13"  # buildspec.yml's runtime-versions: make install and the verify steps run on it


@pytest.mark.bundle
@pytest.mark.parametrize(
    "lock", sorted(p for p in LOCKS if p.parent == ROOT), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_the_lock_installs_with_hashes_on_codebuilds_python(lock, tmp_path):
    # GIVEN CodeBuild's Python (3.13; this machine's own is 3.11) in a fresh venv
    python = _interpreter(CODEBUILD_PYTHON)
    if python is None:
        pytest.skip(f"NO PYTHON {CODEBUILD_PYTHON}: the lock was NOT checked on CodeBuild's Python")
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True)
    # WHEN pip resolves the lock there, hashes required (a dry run: every file is fetched and checked)
    result = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--dry-run",
         "--ignore-installed", "--require-hashes", "-r", str(lock)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # THEN every requirement of that Python is in the lock, with a hash that matches
    assert result.returncode == 0, result.stderr[-2000:]
