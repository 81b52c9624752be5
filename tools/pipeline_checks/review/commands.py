"""What a CodeBuild project runs, and which of its commands install packages that may run their scripts.

A project's buildspec is inline (a template value, JSON or YAML once rendered) or a file it names
(`buildspec.yml` when it names none), read from this checkout, and its commands listed by phase, as
the rehearsal reads and runs them (tools/review_kit/rehearse). A
`make TARGET` command is followed into the repository's Makefile: the target's prerequisites and
recipe, `$(VAR)`s expanded, recursive `$(MAKE) TARGET`s included, so `make install` is judged by what
it runs. Each install command found is classified:

- `scripts`: it can run a package's lifecycle scripts from a source nothing pins: `npm ci` / `npm
  install` / `npm rebuild` (yarn, pnpm) without `--ignore-scripts`, `pip install` without
  `--require-hashes` (or a requirements file whose every line carries a `--hash`), `uv sync` / `uv
  pip` without `--locked` / `--frozen` / hashes; a command that downloads a package and runs it
  (`npx`, `npm exec`, `pnpm dlx`, `uvx`, `uv run`, `pipx`); and `make` pointed at another Makefile
  or directory (`-f`, `-C`: not followed, so never shown safe);
- `no scripts`: npm with `--ignore-scripts`;
- `hash-locked`: pip with hashes, `uv sync --locked`: every file checked against a committed hash;
- `distribution`: apt-get / apt / yum / dnf install: signed distribution archives.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.common.intrinsics import render
from tools.common.paths import REPO_ROOT
from tools.review_kit.rehearse import codebuild
from tools.review_kit.rehearse.pipeline import Project

DEFAULT_BUILDSPEC = "buildspec.yml"
RUNS_SCRIPTS = "scripts"
_ASSIGNMENT = re.compile(r"^(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(:=|::=|\?=|\+=|=)\s*(.*)$")
_RULE = re.compile(r"^([^\s#=:][^=:]*?)\s*:(?![:=])\s*(.*)$")
_VARIABLE = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]")
# Command separators, and the starts of command substitutions (what they run is a command too).
_SEPARATORS = re.compile(r"&&|\|\||[;|{}\n`()]|\$\(|\b(?:then|else|do)\b")
_NOT_RUN = ("echo", "printf", "#", ":", "test", "[")
_ENV_PREFIX = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)+")
_NPM = re.compile(r"\b(npm|yarn|pnpm)\s+(ci|install|i|add|rebuild)\b|^\s*(yarn|pnpm)\s*$")
# Download a package and run it: never scriptless, never hash-locked.
_RUNS_A_PACKAGE = re.compile(
    r"\b(npx|uvx|pipx)\b|\b(npm|pnpm)\s+(exec|dlx)\b|\byarn\s+dlx\b|\buv\s+(run|tool)\b"
)
_PIP = re.compile(r"\bpip(?:3(?:\.\d+)?)?\s+install\b")
_UV_SYNC = re.compile(r"\buv\s+(?:sync|pip\s+(?:install|sync))\b")
_MAKE_ELSEWHERE = ("-f", "--file", "--makefile", "-C", "--directory")
_DISTRIBUTION = re.compile(r"\b(apt-get|apt|yum|dnf)\s+(-\S+\s+)*install\b")
_MAKE = re.compile(r"^(?:\S*/)?(?:make|\$\(MAKE\))\s")
_MAX_DEPTH = 12


@dataclass(frozen=True)
class Install:
    """One install command, where it came from (`make install > $(INSTALLED)`), and its verdict."""

    command: str
    via: str
    verdict: str
    why: str

    def as_dict(self) -> dict[str, str]:
        return {"command": self.command, "via": self.via, "verdict": self.verdict, "why": self.why}


def buildspec(project: dict[str, Any], name_of: Any, repo: Path = REPO_ROOT) -> tuple[str, dict[str, Any]]:
    """(where it comes from, the buildspec as a mapping; {} when it cannot be read), read as the
    rehearsal reads it (tools/review_kit/rehearse/pipeline.py): a file name from this checkout."""
    value = (project.get("Source") or {}).get("BuildSpec")
    text = render(value, name_of) if value is not None else DEFAULT_BUILDSPEC
    reader = Project(logical_id="", compute_type="", image="", buildspec=text, environment={})
    where = f"file {text.strip()} (read from this checkout)" if reader.buildspec_is_a_file else "inline"
    try:
        return where, reader.load_buildspec(repo)
    except (OSError, ValueError, yaml.YAMLError) as error:
        return f"{where}: not read: {error}", {}


def phase_commands(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """[{phase, commands}] in CodeBuild's order (each phase's `finally` after its commands)."""
    grouped: dict[str, list[str]] = {}
    for phase, command in codebuild.phase_commands(spec):
        grouped.setdefault(phase, []).append(command)
    return [{"phase": phase, "commands": listed} for phase, listed in grouped.items()]


@dataclass
class Makefile:
    """A Makefile's variables and rules, enough to follow `make TARGET` to the commands it runs."""

    variables: dict[str, str] = field(default_factory=dict)
    rules: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # target -> (prereqs, recipe)

    @classmethod
    def read(cls, path: Path) -> Makefile:
        makefile = cls()
        if not path.is_file():
            return makefile
        lines = path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
        target: list[str] = []
        for line in lines:
            if line.startswith("\t"):
                for name in target:
                    makefile.rules[name][1].append(" ".join(line.split()))
                continue
            assignment = _ASSIGNMENT.match(line)
            rule = _RULE.match(line)
            if assignment and not (rule and len(rule.group(1)) < len(assignment.group(1))):
                name, operator, value = assignment.groups()
                previous = makefile.variables.get(name)
                if operator == "+=" and previous is not None:
                    value = f"{previous} {value}"
                elif operator == "?=" and previous is not None:
                    value = previous
                makefile.variables[name] = value.split(" #", 1)[0].strip()
                target = []
            elif rule and not line.startswith("."):
                names = makefile.expand(rule.group(1)).split()
                prerequisites = makefile.expand(rule.group(2).split("#", 1)[0]).replace("|", " ").split()
                for name in names:
                    makefile.rules[name] = (prerequisites, [])
                target = names
            elif line.strip() and not line.startswith("#"):
                target = []
        return makefile

    def expand(self, text: str, overrides: dict[str, str] | None = None, depth: int = 0) -> str:
        values = {**self.variables, **(overrides or {})}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values or depth > _MAX_DEPTH:
                return match.group(0)
            return self.expand(values[name], overrides, depth + 1)

        return _VARIABLE.sub(value, text)

    def commands(
        self, target: str, overrides: dict[str, str], seen: set[str] | None = None
    ) -> list[tuple[str, str]]:
        """(command, the chain of targets that runs it), prerequisites first, as make runs them."""
        seen = set() if seen is None else seen
        if target in seen or target not in self.rules:
            return []
        seen.add(target)
        prerequisites, recipe = self.rules[target]
        found: list[tuple[str, str]] = []
        for prerequisite in prerequisites:
            found += [(c, f"{target} > {via}") for c, via in self.commands(prerequisite, overrides, seen)]
        for line in recipe:
            if line.lstrip("@-+ ").startswith("#"):  # a comment the shell is handed
                continue
            command = self.expand(line.lstrip("@-+ "), overrides).replace("$$", "$")
            found.append((command, target))
            if _MAKE.match(line.lstrip("@-+ ")):
                inner_targets, inner_overrides = make_arguments(command)
                for inner in inner_targets:
                    nested = self.commands(inner, {**overrides, **inner_overrides}, seen)
                    found += [(c, f"{target} > {via}") for c, via in nested]
        return found


def make_arguments(command: str) -> tuple[list[str], dict[str, str]]:
    """`make --flag A B=1` -> (["A"], {"B": "1"})."""
    targets, overrides = [], {}
    for word in _words(command)[1:]:
        if word.startswith("-"):
            continue
        if "=" in word:
            name, _, value = word.partition("=")
            overrides[name] = value
        else:
            targets.append(word)
    return targets, overrides


def installs(commands: list[str], makefile: Makefile, repo: Path = REPO_ROOT) -> list[Install]:
    """Every install command these buildspec commands run, directly or through `make`."""
    found: dict[str, Install] = {}
    for command in commands:
        expanded: list[tuple[str, str]] = [(command, "buildspec")]
        if _MAKE.match(command.strip()):
            targets, overrides = make_arguments(command)
            if set(_words(command)) & set(_MAKE_ELSEWHERE) or any(
                w.startswith(("--file=", "--directory=", "--makefile=")) for w in _words(command)
            ):
                why = "make with another Makefile or directory: not followed, so not shown safe"
                found.setdefault(command, Install(command, "buildspec", RUNS_SCRIPTS, why))
                continue
            for target in targets:
                expanded += [(c, f"{command} > {via}") for c, via in makefile.commands(target, overrides)]
        for line, via in expanded:
            for simple in _simple_commands(line):
                verdict = classify(simple, repo)
                if verdict is not None and simple not in found:
                    found[simple] = Install(simple, via, *verdict)
    return list(found.values())


def _simple_commands(line: str) -> list[str]:
    """The simple commands of a line: split at separators and at command substitutions, so the
    `npm install` in `echo $(npm install x)` is one; what echo or test only print is dropped."""
    parts = [_ENV_PREFIX.sub("", part.strip()) for part in _SEPARATORS.split(line) if part and part.strip()]
    return [part for part in parts if part.split(maxsplit=1)[0] not in _NOT_RUN]


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split("#", 1)[0].split()


def classify(command: str, repo: Path = REPO_ROOT) -> tuple[str, str] | None:
    """(verdict, why) for an install command; None for any other command.

    Options are read as the shell hands them over (shlex, a `#` comment dropped): a flag counts only
    as its own word, so `npm ci # --ignore-scripts` or `--ignore-scripts=false` is not scriptless.
    """
    words = _words(command)
    if _RUNS_A_PACKAGE.search(command):
        return RUNS_SCRIPTS, "downloads a package and runs it"
    if _NPM.search(command):
        if "--ignore-scripts" in words or "--ignore-scripts=true" in words:
            return "no scripts", "--ignore-scripts: no package's lifecycle scripts run"
        return RUNS_SCRIPTS, "npm runs every package's preinstall/install/postinstall scripts"
    if _PIP.search(command):
        if "--require-hashes" in words or _hashed_requirements(command, repo):
            return "hash-locked", "every file pip installs must match a committed hash"
        return RUNS_SCRIPTS, "pip installs what the index serves, and builds (runs) a source distribution"
    if _UV_SYNC.search(command):
        if {"--locked", "--frozen"} & set(words) or ("pip" in words and "--require-hashes" in words):
            return "hash-locked", "uv installs uv.lock's files, each checked against its hash"
        return RUNS_SCRIPTS, "uv without --locked may resolve anew and build source distributions"
    if _DISTRIBUTION.search(command):
        return "distribution", "distribution packages from signed archives (their maintainer scripts run)"
    return None


def _hashed_requirements(command: str, repo: Path) -> bool:
    """`pip install -r FILE` where every requirement in FILE (in this checkout) carries a --hash."""
    words = command.split()
    files = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-r", "--requirement")]
    if not files:
        return False
    for name in files:
        path = repo / name
        if not path.is_file():
            return False
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        requirements = [
            line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        if not requirements or not all("--hash=" in line for line in requirements):
            return False
    return True
