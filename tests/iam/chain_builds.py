"""Which of the pipeline's builds run the pushed commit's code, and which actions read an artifact
unprotected, read from the synthesized pipeline stack's buildspecs and stages.

A build's commands are read as the shell runs them (one shell for the whole buildspec, so `cd`
carries over). A build runs code from its input artifact when a command runs `make` (the
artifact's Makefile), a package manager's run or a script-running install, an interpreter on a
file, or a program by a relative path, unless that file was written by an earlier command out of
the buildspec itself (stages/pipeline/embedded.py's scripts). Three kinds:

- `commit code`: runs something from its input artifact and checks nothing first;
- `digest-checked`: its first command is the artifact digest check
  (stages/pipeline/patches/artifact_digest.py): what it then runs from the artifact is what
  PipelineChangeGate judged;
- `deployed code`: runs only what its buildspec carries (the deployed pipeline's copy).
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from typing import Any

from stages.pipeline.artifact_digest import VARIABLE as DIGEST_VARIABLE
from stages.pipeline.patches.artifact_digest import check_command
from tools.pipeline_checks.review.commands import _simple_commands, classify
from tools.review_kit.iam.arns import Template
from tools.review_kit.iam.tags import template_tags
from tools.review_kit.rehearse.codebuild import phase_commands

COMMIT, CHECKED, DEPLOYED = "commit code", "digest-checked", "deployed code"
_EMBEDDED = re.compile(r'^echo "[A-Za-z0-9+/=]+" \| base64 -d \| gunzip(?: > (?P<target>\S+))?')
_INTERPRETERS = {"python", "python3", "node", "bash", "sh", "source", "."}
_INLINE_CODE = {"-c", "-e", "-p", "-pe", "-"}
_PACKAGE_TOOLS = {"npm", "npx", "yarn", "pnpm", "pip", "pip3", "uv", "uvx", "pipx"}
_SHELL_WORDS = {"if", "then", "else", "elif", "fi", "!", "do", "done", "while", "until", "export", "exec"}


@dataclass(frozen=True)
class Project:
    logical_id: str
    arn: str
    role_arn: str
    role_id: str  # its role's logical id
    tags: dict[str, str]
    code: str  # COMMIT, CHECKED or DEPLOYED
    why: str


@dataclass(frozen=True)
class Consumer:
    """An action that reads an artifact: what runs as `runs_as` (a role's ARN) on what it reads, and
    what stands between a rewritten artifact and that role (None: nothing)."""

    stage: str
    action: str
    artifact: str
    runs_as: str
    protection: str | None
    role_id: str | None = None  # the role's logical id, when it is the pipeline stack's


def _words(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and (words[0] in _SHELL_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words = words[1:]
    return words


def _from_input(path: str, cwd: str | None, written: set[str]) -> bool:
    """Whether running `path` runs a file of the input artifact (the build's working directory)."""
    path = path.strip("\"'")
    if path.startswith("/"):
        return False  # the image's own programs
    full = f"{cwd}/{path}" if cwd and not path.startswith("$") else path
    return full not in written


def _runs_input(simple: str, cwd: str | None, written: set[str]) -> str | None:
    """What of the input artifact one simple command runs, or None."""
    words = _words(simple)
    if not words:
        return None
    program, arguments = words[0], words[1:]
    if program in ("make", "gmake"):
        return "the artifact's Makefile"
    if program in _PACKAGE_TOOLS:
        verdict = classify(simple)
        return None if verdict and verdict[0] == "no scripts" else f"{program} on the artifact's manifests"
    if program in _INTERPRETERS:
        if "-m" in arguments:
            return f"a module of the artifact ({simple})"
        # Options up to the script: one of them may be the code itself (`-c`, or `-` for stdin).
        options = list(itertools.takewhile(lambda a: a.startswith("-"), arguments))
        script = arguments[len(options)] if len(options) < len(arguments) else None
        if script is None or any(a in _INLINE_CODE for a in options):
            return None
        return f"{script}" if _from_input(script, cwd, written) else None
    if "/" in program:
        return program if _from_input(program, cwd, written) else None
    return None


def build_code(commands: list[str]) -> tuple[str, str]:
    """(COMMIT, CHECKED or DEPLOYED, why) for a buildspec's commands in the order they run."""
    if commands and commands[0] == check_command():
        return CHECKED, "its first command checks the artifact against the gate's digest"
    written: set[str] = set()
    cwd: str | None = None
    for command in commands:
        embedded = _EMBEDDED.match(command)
        if embedded and embedded["target"]:
            written.add(embedded["target"].strip('"'))
            continue
        # A parameter expansion (`${X#prefix}`) is a word, not a command group: one word for the split.
        for simple in _simple_commands(re.sub(r"\$\{[^}]*\}", "$PARAMETER", command)):
            words = _words(simple)
            if words[:1] == ["cd"] and len(words) == 2:
                cwd = words[1]
                continue
            runs = _runs_input(simple, cwd, written)
            if runs:
                return COMMIT, f"`{simple}` runs {runs} from its input"
    return DEPLOYED, "runs only what its buildspec carries"


def projects(app: Any, model: Template) -> dict[str, Project]:
    """Every CodeBuild project of the pipeline stack, with what its buildspec runs."""
    found = {}
    for lid, resource in model.resources.items():
        if resource["Type"] != "AWS::CodeBuild::Project":
            continue
        role = resource["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        code, why = build_code([c for _, c in phase_commands(app.buildspec(lid))])
        tags = {str(k): str(v) for k, v in template_tags(model, lid).items()}
        arn, role_arn = model.get_att(lid, "Arn"), model.get_att(role, "Arn")
        found[lid] = Project(lid, arn, role_arn, role, tags, code, why)
    return found


_PROTECTION = {CHECKED: "checks the gate's digest first", DEPLOYED: "runs none of it"}


def consumers(pipeline: dict[str, Any], model: Template, found: dict[str, Project]) -> list[Consumer]:
    """Each (action, input artifact) of the pipeline, who acts on it and what protects it."""
    listed = []
    for stage in pipeline["Stages"]:
        for action in stage["Actions"]:
            provider = action["ActionTypeId"]["Provider"]
            configuration = action.get("Configuration") or {}
            for artifact in action.get("InputArtifacts") or []:
                role_id = None
                if provider == "CodeBuild":
                    project = found[configuration["ProjectName"]["Ref"]]
                    runs_as, protection = project.role_arn, _PROTECTION.get(project.code)
                    role_id = project.role_id
                elif provider == "CloudFormation":
                    runs_as = model.resolve(configuration["RoleArn"])
                    protection = _before_execution(stage, action, found)
                else:
                    raise AssertionError(f"{action['Name']}: a {provider} action reads {artifact['Name']}")
                listed.append(
                    Consumer(stage["Name"], action["Name"], artifact["Name"], runs_as, protection, role_id)
                )
    return listed


def _before_execution(
    stage: dict[str, Any], prepare: dict[str, Any], found: dict[str, Project]
) -> str | None:
    """What runs between a change set's creation and its execution that a rewritten template must
    pass: a person's approval of the change set, or a build that checks the gate's digest."""
    name = (prepare.get("Configuration") or {}).get("StackName")
    after = [a for a in stage["Actions"] if a.get("RunOrder", 1) > prepare.get("RunOrder", 1)]
    executes = [
        a.get("RunOrder", 1)
        for a in after
        if (a.get("Configuration") or {}).get("ActionMode") == "CHANGE_SET_EXECUTE"
        and (a.get("Configuration") or {}).get("StackName") == name
    ]
    between = [a for a in after if a.get("RunOrder", 1) < min(executes, default=0)]
    guards = []
    for action in between:
        configuration = action.get("Configuration") or {}
        if action["ActionTypeId"]["Category"] == "Approval":
            guards.append(f"{action['Name']} (a person approves the change set)")
        elif action["ActionTypeId"]["Provider"] == "CodeBuild":
            project = found[configuration["ProjectName"]["Ref"]]
            if project.code == CHECKED or DIGEST_VARIABLE in str(configuration.get("EnvironmentVariables")):
                guards.append(f"{action['Name']} (checks the gate's digest)")
    return "; ".join(guards) or None
