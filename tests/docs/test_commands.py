"""Every command the README and docs/ show is run here, or checked offline, or marked as needing AWS.

The convention is in tests/docs/markdown.py and docs/testing.md. A command no rule covers fails
the test, naming the file and line: run it, check it, or mark its block `<!-- needs-aws -->`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.markdown import (
    MARKERS,
    REPO_ROOT,
    Command,
    all_blocks,
    all_commands,
    inline_commands,
)
from tests.local_server import LocalServer

# Commands cheap and side-effect free enough to run on every test run.
CHEAP = (
    re.compile(r"^make( help)?$"),
    re.compile(r"^cdk (ls|list)$"),
    re.compile(r"^cdk --version$"),
    re.compile(r"^(python3?|\.venv/bin/python) -m [\w.]+ --help$"),
)
# cdk subcommands that talk to an AWS account.
CDK_NEEDS_AWS = {"deploy", "destroy", "diff", "bootstrap", "import", "watch", "drift", "rollback", "gc"}
# cdk subcommands whose positional arguments are stack selectors.
CDK_SELECTING = {"deploy", "destroy", "diff", "synth", "ls", "list"}
# cdk options that take a value (so the value is not a selector).
CDK_VALUE_OPTIONS = {
    "-c", "--context", "-o", "--output", "--outputs-file", "--app", "-a", "--profile", "--require-approval",
    "--parameters", "--toolkit-stack-name", "--role-arn", "-r", "--method", "-m", "--change-set-name",
    "--concurrency", "--exclusively", "--notification-arns", "--tags", "-t", "--qualifier",
}  # fmt: skip
# Tools that only make sense against AWS, or against a running server.
NEEDS_AWS_ONLY = {"aws", "git"}
LOCAL_OR_AWS_ONLY = {"curl"}
SHELL_STEPS = {"export", "cd"}
LOCAL_ENDPOINT = "http://127.0.0.1:3000/dev/upload"
LOCAL_OUTPUTS = "local-outputs.json"


def tool_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    bins = [str(REPO_ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    return env


def make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", makefile, flags=re.MULTILINE))


def make_goals(words: tuple[str, ...]) -> list[str]:
    return [w for w in words[1:] if "=" not in w and not w.startswith("-")]


def python_module(words: tuple[str, ...]) -> str | None:
    if Path(words[0]).name in ("python", "python3") and len(words) > 2 and words[1] == "-m":
        return words[2]
    return None


def cdk_selectors(words: tuple[str, ...]) -> list[str]:
    """Positional arguments of a selecting cdk subcommand: the stack selectors."""
    if len(words) < 2 or words[1] not in CDK_SELECTING:
        return []
    selectors, skip = [], False
    for word in words[2:]:
        if skip:
            skip = False
        elif word in CDK_VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            selectors.append(word)
    return selectors


def offline_problems(command: Command, targets: set[str]) -> list[str]:
    """What is wrong with a command that can be told without running it (any marker)."""
    words, problems = command.words, []
    if words[0] == "make":
        missing = [goal for goal in make_goals(words) if goal not in targets]
        problems += [f"make target {goal!r} is not in the Makefile" for goal in missing]
    module = python_module(words)
    if module and importlib.util.find_spec(module) is None:
        problems.append(f"python module {module!r} does not exist")
    if Path(words[0]).name == "pytest":
        problems += [
            f"{w} does not exist" for w in words[1:] if not w.startswith("-") and not (REPO_ROOT / w).exists()
        ]
    for word in words:
        if word.startswith("file://") and not (REPO_ROOT / word.removeprefix("file://")).exists():
            problems.append(f"{word} does not exist in the repository")
    return [f"{command.where}: {command.text!r}: {problem}" for problem in problems]


def unrun_problem(command: Command) -> str | None:
    """Why an unmarked command that is not run is not acceptable, or None if a check covers it."""
    words = command.words
    tool = Path(words[0]).name
    if words[0] == "make" or python_module(words) or tool == "pytest" or tool in SHELL_STEPS:
        return None  # checked offline: the target, module or paths exist; a shell step
    if tool == "cdk" and len(words) > 1 and words[1] in CDK_NEEDS_AWS:
        return f"cdk {words[1]} needs an AWS account: mark the block <!-- needs-aws -->"
    if tool in NEEDS_AWS_ONLY:
        return f"{tool} needs an AWS account or a remote: mark the block <!-- needs-aws -->"
    if tool in LOCAL_OR_AWS_ONLY:
        return f"{tool} needs a server: mark the block <!-- local-server --> or <!-- needs-aws -->"
    return "no rule runs or checks this command: run it, or mark its block <!-- needs-aws -->"


def is_cheap(command: Command) -> bool:
    return any(pattern.match(" ".join(command.words)) for pattern in CHEAP)


COMMANDS = all_commands()
CHEAP_COMMANDS = sorted({" ".join(c.words) for c in COMMANDS if c.marker is None and is_cheap(c)})


def test_the_docs_show_commands_at_all():
    # Guards the extraction itself: the README's quick start must be found.
    texts = {" ".join(c.words) for c in COMMANDS if c.path.name == "README.md"}
    assert {"make local", "make test"} <= texts


def test_every_shell_block_marker_is_known():
    unknown = [
        f"{b.path.relative_to(REPO_ROOT)}:{b.line}: <!-- {b.marker} -->"
        for b in all_blocks()
        if b.marker and b.marker not in MARKERS and b.is_shell
    ]
    assert not unknown, f"unknown markers (known: {sorted(MARKERS)}): {unknown}"


def test_every_command_is_run_checked_or_marked():
    # GIVEN every command of every shell block and every inline command
    targets = make_targets()
    problems: list[str] = []
    for command in [*COMMANDS, *inline_commands()]:
        problems += offline_problems(command, targets)
        if command.marker is None and not is_cheap(command):
            why = unrun_problem(command)
            if why:
                problems.append(f"{command.where}: {command.text!r}: {why}")
    # THEN nothing is left that no rule covers
    assert not problems, "\n".join(problems)


def fresh_shell_problem(command: Command) -> str | None:
    """A reader's shell has no virtualenv activated: a bare `python -m tools...` or `pytest` fails there."""
    tool = command.words[0]
    if tool in ("python", "python3", "pytest") and (
        tool == "pytest" or (python_module(command.words) or "").startswith(("tools.", "tests."))
    ):
        return f"{command.where}: {command.text!r}: needs the venv: use a make target or .venv/bin/{tool}"
    return None


def test_every_command_runs_in_a_fresh_shell():
    # GIVEN every documented command; THEN none needs an activated virtualenv to find its modules
    problems = [p for c in [*COMMANDS, *inline_commands()] if (p := fresh_shell_problem(c))]
    assert not problems, "\n".join(problems)


def test_offline_checks_can_fail(tmp_path):
    # The checks above are not vacuous: a wrong target, module, file and an unmarked deploy are caught.
    def command(text: str, marker: str | None = None) -> Command:
        from tests.docs.markdown import split_commands

        return Command(REPO_ROOT / "x.md", 1, text, split_commands(text)[0], marker)

    targets = make_targets()
    assert offline_problems(command("make no-such-target"), targets)
    assert offline_problems(command("python -m tools.no_such_tool --help"), targets)
    assert offline_problems(
        command("aws iam create-policy --policy-document file://nope.json", "needs-aws"), targets
    )
    assert unrun_problem(command("cdk deploy UploadApiPipeline"))
    assert unrun_problem(command("curl -s http://127.0.0.1:3000/dev/upload"))
    assert unrun_problem(command("rm -rf cdk.out"))
    assert unrun_problem(command("make local")) is None
    assert fresh_shell_problem(command("python -m tools.dev.upload --help"))
    assert fresh_shell_problem(command("pytest tests/e2e"))
    assert fresh_shell_problem(command(".venv/bin/python -m tools.dev.upload --help")) is None


@pytest.mark.parametrize("text", CHEAP_COMMANDS)
def test_cheap_commands_run(text):
    # WHEN a cheap documented command runs from the repository root, as a reader would run it
    done = subprocess.run(
        ["bash", "-c", text], cwd=REPO_ROOT, env=tool_env(), capture_output=True, text=True, timeout=600
    )
    # THEN it succeeds
    assert done.returncode == 0, f"{text}: exit {done.returncode}\n{done.stderr[-3000:]}"


# -- cdk selectors: asked of the CDK CLI itself, on the synthesized app --------------------------


@pytest.fixture(scope="module")
def assembly(pipeline_app) -> Path:
    """The app as cdk.json configures it, synthesized once per session in-process (what `cdk ls`
    synthesizes too: `cdk ls` itself runs above, as a documented command)."""
    if shutil.which("cdk", path=tool_env()["PATH"]) is None:
        pytest.fail("the pinned CDK CLI is not installed (node_modules/.bin/cdk): run `make install`")
    return Path(pipeline_app.outdir)


def matching_stacks(assembly: Path, selector: str) -> list[str]:
    """What `cdk ls SELECTOR` lists for the synthesized app: the CLI's own matching, not ours."""
    done = subprocess.run(
        ["cdk", "ls", "--app", str(assembly), selector], cwd=REPO_ROOT, env=tool_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    # One stack a line: its path, then its CloudFormation name in brackets when they differ.
    return (
        [line.split()[0] for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []
    )


SELECTORS = sorted(
    {s for c in [*COMMANDS, *inline_commands()] if c.words[0] == "cdk" for s in cdk_selectors(c.words)}
)


def test_the_docs_show_the_cleanup_selectors():
    assert {"UploadApiPipeline/Dev/*", "UploadApiPipeline/Prod/*", "UploadApiPipeline"} <= set(SELECTORS)


@pytest.mark.synth
@pytest.mark.parametrize("selector", SELECTORS)
def test_every_cdk_selector_matches_a_stack(assembly, selector):
    assert matching_stacks(assembly, selector), f"`cdk ls {selector}` matches no stack of the app"


@pytest.mark.synth
def test_the_old_cleanup_selector_matches_nothing(assembly):
    # The README once said `cdk destroy 'Dev/*'`: the check above would have caught it.
    assert matching_stacks(assembly, "Dev/*") == []
    assert matching_stacks(assembly, "UploadApiPipeline/Dev/*") == ["UploadApiPipeline/Dev/UploadApi"]


# -- Blocks run against a local server -----------------------------------------------------------


LOCAL_BLOCKS = [b for b in all_blocks() if b.is_shell and b.marker == "local-server"]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory) -> Iterator[LocalServer]:
    server = LocalServer(tmp_path_factory.mktemp("docs-local"), {})
    yield server
    server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("block", LOCAL_BLOCKS, ids=lambda b: f"{b.path.name}:{b.line}")
def test_local_server_blocks_run(local_server, block):
    # GIVEN a running local server; the block's names for it stand for this one's
    outputs = str(local_server.outputs_path)
    script = block.script()
    assert LOCAL_ENDPOINT in script or LOCAL_OUTPUTS in script or "make upload" in script, script
    script = script.replace(LOCAL_ENDPOINT, local_server.deployment.upload_endpoint)
    script = script.replace(LOCAL_OUTPUTS, outputs)
    # WHEN the block runs as written, from the repository root
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=REPO_ROOT, env=tool_env() | {"OUTPUTS": outputs},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # THEN every command succeeds and something was stored
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert '"uploads/' in done.stdout, done.stdout
