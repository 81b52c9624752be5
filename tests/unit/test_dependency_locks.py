"""Hash locks: every Python install reads a lock with hashes, and no lock drifts from its input.

requirements.txt (the CDK app) and lambda/requirements.txt (the handler) are what a person edits,
with pyproject.toml's other dependency groups; `make lock` copies the two files' pins into their
groups and writes uv.lock (every group, every file's sha256) and the Lambda's own arm64 locks.
Every install checks hashes: `uv sync --locked` from uv.lock (.venv, checkov's environment), pip
--require-hashes for uv itself, the verify steps and the Lambda bundle. These tests read the
files (and run the locked uv offline); those marked `bundle` use the package index
(docs/supply-chain.md).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from aws_cdk import aws_lambda as lambda_
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stages.upload.bundling import lock_file, pip_install_command, requirements_file
from tools.common import locked_uv
from tools.dev import dependency_groups

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
UV_LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
PYPI = "https://pypi.org/simple"
_CONTINUED = re.compile(r"\\\n")


def _makefile_lines() -> list[str]:
    return _CONTINUED.sub(" ", MAKEFILE.read_text(encoding="utf-8")).splitlines()


def _variable(name: str) -> str:
    (line,) = [line for line in _makefile_lines() if re.match(rf"{name}\s*:?=", line)]
    return line.split("=", 1)[1].strip()


def _recipes() -> list[str]:
    """Recipe lines with $(UV_SYNC) and $(UV_COMPILE) spelled out, and $(UV) as `uv`."""
    sync, compile_ = _variable("UV_SYNC"), _variable("UV_COMPILE")
    lines = [line.strip() for line in _makefile_lines() if line.startswith("\t")]
    spelled = [line.replace("$(UV_SYNC)", sync).replace("$(UV_COMPILE)", compile_) for line in lines]
    return [line.replace("$(UV)", "uv") for line in spelled]


def _uv() -> str:
    """The locked uv (`make` bootstraps it; the dev group installs the same version in .venv)."""
    for candidate in (ROOT / ".venv-tools" / "uv" / "bin" / "uv", ROOT / ".venv" / "bin" / "uv"):
        if candidate.is_file():
            return str(candidate)
    pytest.fail("no locked uv here: `make install` installs it")


def _group_pins(group: str) -> dict[str, str]:
    """name -> version of a dependency group's own pins (include-group entries left out)."""
    pins = {}
    for entry in PYPROJECT["dependency-groups"][group]:
        if isinstance(entry, str):
            requirement = Requirement(entry)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{group}: {entry} is not an exact pin"
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def _exported(*groups: str) -> dict[str, set[str]]:
    """name -> versions uv.lock installs for these groups (offline, from the lock alone)."""
    args = [f"--only-group={group}" for group in groups]
    result = subprocess.run(
        [_uv(), "export", "--frozen", "--offline", "--no-hashes", "--no-emit-project", "--no-header", *args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    versions: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        if line and not line.startswith(("#", " ")):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            versions.setdefault(canonicalize_name(requirement.name), set()).add(specifier.version)
    return versions


def _lock_entries(lock: Path) -> list[tuple[Requirement, list[str]]]:
    """(requirement with its marker, its hashes) for every entry of a pip-format lock."""
    text = _CONTINUED.sub(" ", lock.read_text(encoding="utf-8"))
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split(" --hash=")
        entries.append((Requirement(requirement.strip()), [o.strip() for o in options]))
    return entries


def test_the_only_requirement_files_are_the_two_a_person_edits_and_the_lambda_locks():
    # GIVEN the repository's root and lambda/
    found = {
        p.relative_to(ROOT).as_posix()
        for p in [*ROOT.glob("requirements*"), *ROOT.glob("lambda/requirements*")]
    }
    # WHEN they are listed
    # THEN there is one Python lock for the project (uv.lock) and the Lambda bundle's own two
    assert found == {
        "requirements.txt",
        "lambda/requirements.txt",
        "lambda/requirements.lock",
        "lambda/requirements-py39.txt",
        "lambda/requirements-py39.lock",
    }
    assert (ROOT / "uv.lock").is_file()


def test_the_cdk_and_lambda_groups_are_their_requirements_files():
    # GIVEN pyproject.toml and the requirements files its cdk and lambda groups are written from
    current = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # WHEN `make lock`'s first step renders the groups again
    # THEN nothing changes: a pin edited in requirements.txt without `make lock` fails here
    assert dependency_groups.rendered(current) == current
    assert _group_pins("cdk") == {canonicalize_name(n): v for n, v in (p.split("==") for p in
                                  dependency_groups.pins(ROOT / "requirements.txt"))}  # fmt: skip


def test_uv_lock_is_current_with_pyproject():
    # GIVEN pyproject.toml's groups and uv.lock
    # WHEN the locked uv checks the lock, offline
    result = subprocess.run(
        [_uv(), "lock", "--locked", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    # THEN it would write the same lock: an edited group without `make lock` fails here
    assert result.returncode == 0, result.stderr


def test_every_group_pin_is_exact_and_locked_at_that_version():
    # GIVEN each dependency group installed together, and what uv.lock installs for all of them
    # (checkov and ministack each have an environment of their own: they pin boto3 apart)
    apart = ("checkov", "ministack")
    groups = [g for g in PYPROJECT["dependency-groups"] if g not in apart]
    locked = _exported(*groups)
    # WHEN each group's own pins are looked up
    drifted = {
        (group, name): (version, sorted(locked.get(name, set())))
        for group in groups
        for name, version in _group_pins(group).items()
        if locked.get(name) != {version}
    }
    # THEN the lock installs exactly that version, once
    assert drifted == {}
    for group in apart:
        own = _exported(group)
        assert {name: own.get(name) for name in _group_pins(group)} == {
            name: {version} for name, version in _group_pins(group).items()
        }


def test_every_locked_file_comes_from_pypi_with_a_sha256():
    # GIVEN uv.lock's packages (the project itself is virtual: nothing to download)
    packages = [p for p in UV_LOCK["package"] if p["source"] != {"virtual": "."}]
    # WHEN their sources and files are read
    # THEN each comes from PyPI, and every wheel and sdist uv may install has a sha256 to check
    assert packages
    for package in packages:
        assert package["source"] == {"registry": PYPI}, package["name"]
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        assert files, package["name"]
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", f["hash"]) for f in files), package["name"]


def test_the_verify_steps_install_the_versions_the_tests_run():
    # GIVEN what the pipeline's verify steps install (the verify group) and what the tests run (dev)
    verify, dev = _exported("verify"), _exported("dev")
    # WHEN each version of the verifier's is looked up in dev's
    # THEN it is the same one
    assert {name: versions for name, versions in verify.items() if not versions <= dev.get(name, set())} == {}


def test_the_bootstrapped_uv_is_the_locked_one_with_every_wheel_hash():
    # GIVEN uv.lock's entry for uv, the dev group's pin and [tool.uv] required-version
    uv = locked_uv.locked_uv()
    # WHEN `make` builds the one-line requirement pip installs uv from
    requirement = locked_uv.locked_requirement(uv)
    # THEN it is the pinned version with the sha256 of each locked wheel, and the page pip picks
    # a wheel from lists exactly those wheels
    assert uv["version"] == _group_pins("dev")["uv"]
    assert PYPROJECT["tool"]["uv"]["required-version"] == f"=={uv['version']}"
    assert requirement.split()[0] == f"uv=={uv['version']}"
    assert sorted(requirement.split()[1:]) == sorted(f"--hash={w['hash']}" for w in uv["wheels"])
    assert locked_uv.wheel_links(uv).count("<a href=") == len(uv["wheels"])


def test_every_install_in_the_makefile_checks_hashes():
    # GIVEN the Makefile's recipe lines
    recipes = _recipes()
    installs = [line for line in recipes if re.search(r"\bpip install\b|\buv sync\b", line)]
    # WHEN their options are read
    # THEN uv installs only with `sync --locked` (uv.lock's hashes, and a lock that matches
    # pyproject.toml) and pip only with --require-hashes; nothing turns hash checks off
    assert len(installs) == 6, installs
    for line in installs:
        words = shlex.split(line)
        if "sync" in words:
            assert "--locked" in words, line
        else:
            assert "--require-hashes" in words, line
            assert words[words.index("-r") + 1] == "$(TOOLS)/verify-requirements.txt", line
    assert not [line for line in recipes if re.search(r"no-verify-hashes|uv pip install|uv tool|uvx", line)]
    assert "NO_VERIFY_HASHES" not in MAKEFILE.read_text(encoding="utf-8")
    (export,) = [line for line in recipes if " export " in line]
    assert "--no-hashes" not in export
    assert "--locked" in export
    assert "--only-group verify" in export


def test_the_uv_bootstrap_requires_hashes():
    # GIVEN the pip command tools/common/locked_uv.py runs
    source = (ROOT / "tools" / "common" / "locked_uv.py").read_text(encoding="utf-8")
    # WHEN its options are read
    # THEN pip requires hashes, takes wheels only, and reads no index but the lock's own URLs
    for option in ('"--require-hashes"', '"--only-binary=:all:"', '"--no-index"', '"--no-deps"'):
        assert option in source, option


def test_the_buildspec_installs_only_through_make():
    # GIVEN buildspec.yml, the synth step's commands
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text(encoding="utf-8"))
    commands = [c for phase in buildspec["phases"].values() for c in phase.get("commands", [])]
    # WHEN its commands are searched for a package install of their own
    # THEN there is none: `make install` (hash-locked, above) is the only one
    assert [c for c in commands if re.search(r"\bpip3? install\b|\buv (pip|sync|tool)\b|\buvx\b", c)] == []
    assert "make install" in commands


def test_the_lambda_locks_hold_only_the_bundled_pins_each_with_hashes():
    # GIVEN the Lambda's locks (bundled with --no-deps: boto3 and friends come with the runtime)
    for runtime in ("python3.13", "python3.9"):
        entries = _lock_entries(lock_file(runtime))
        pins = {
            canonicalize_name(n): v
            for n, v in (p.split("==") for p in dependency_groups.pins(requirements_file(runtime)))
        }
        # WHEN their entries are compared with the pins
        # THEN the lock is exactly the listed pins, each name==version with sha256 hashes
        locked = {canonicalize_name(r.name): next(iter(r.specifier)).version for r, _ in entries}
        assert locked == pins
        for requirement, hashes in entries:
            assert requirement.url is None, requirement
            assert hashes, requirement
            assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement


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
    # GIVEN a copy of pyproject.toml, the requirements files and the locks, and `make lock`'s recipe
    (tmp_path / "lambda").mkdir()
    for name in ("pyproject.toml", "uv.lock", "requirements.txt", *(f"lambda/requirements{s}" for s in
                 (".txt", ".lock", "-py39.txt", "-py39.lock"))):  # fmt: skip
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    lines = _makefile_lines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith("lock: ")]
    recipe = lines[start + 1 :]
    commands = [line.strip() for line in recipe[: recipe.index("")]]
    compile_ = _variable("UV_COMPILE").replace("$(UV)", _uv()).replace("$(LOCK_ARGS)", "")
    # WHEN they run there (uv against the package index; the groups rendered for that copy)
    for command in commands:
        if "dependency_groups" in command:
            current = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
            (tmp_path / "pyproject.toml").write_text(
                dependency_groups.rendered(current, tmp_path), encoding="utf-8"
            )
            continue
        command = (
            command.replace("$(UV_COMPILE)", compile_).replace("$(UV)", _uv()).replace("$(LOCK_ARGS)", "")
        )
        subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    # THEN every file comes out byte for byte as committed
    for name in ("pyproject.toml", "uv.lock", "lambda/requirements.lock", "lambda/requirements-py39.lock"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (ROOT / name).read_text(encoding="utf-8"), (
            name
        )


@pytest.mark.bundle
def test_uv_sync_refuses_a_file_whose_hash_is_not_the_locked_one(tmp_path):
    # GIVEN a copy of the project whose uv.lock has a wrong sha256 for every file of idna (in the
    # verify group), and an empty download cache
    for name in ("pyproject.toml", "uv.lock", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    lock = (tmp_path / "uv.lock").read_text(encoding="utf-8")
    (idna,) = [p for p in UV_LOCK["package"] if p["name"] == "idna"]
    for file in [*idna["wheels"], idna["sdist"]]:
        lock = lock.replace(file["hash"], "sha256:" + "0" * 64)
    (tmp_path / "uv.lock").write_text(lock, encoding="utf-8")
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "cache")}
    # WHEN `make`'s uv sync installs the verify group from it
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")
    env["UV_PYTHON"] = shutil.which("python3") or "python3"
    result = subprocess.run(
        [_uv(), "sync", "--locked", "--no-install-project", "--only-group", "verify"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    # THEN it refuses: the downloaded file's hash is not the lock's
    assert result.returncode != 0
    assert "hash mismatch" in result.stderr.lower(), result.stderr[-2000:]
