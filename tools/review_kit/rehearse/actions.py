"""Each pipeline action, run as CodePipeline would run it, against the emulator.

One function per action provider. Each returns an Outcome; a failure raises ActionFailed with a
message that says what failed, so the table names the action and the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.common.paths import REPO_ROOT
from tools.pipeline_checks.verify import direct
from tools.review_kit.rehearse import (
    approvals,
    change_gate,
    codebuild,
    deploy,
    emulator,
    execution_policy,
    readback,
    source,
)
from tools.review_kit.rehearse.measure import Measured
from tools.review_kit.rehearse.pipeline import Action, Pipeline, Project, action_variables

# Environments a fresh CodeBuild container would restore from its cache; linked, not rebuilt.
WARM_ENVIRONMENTS = (".venv", ".venv-tools/uv", ".venv-tools/checkov", "node_modules")
VERIFY_THROTTLE = (20.0, 40)  # a Python front on loopback cannot serve the stage's 1000 req/s
VERIFY_DIRECT_NOT_CHECKED = (
    "the rehearsal's S3 (moto, IAM enforced) cannot authenticate a presigned PUT, checks no checksum and "
    "delivers no Object Created event; local mode's S3 front proves the direct path (tests/e2e)"
)


# What `make rehearse` passes down to its children; a CodeBuild container has none of it.
_MAKE_VARIABLES = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")


class ActionFailed(Exception):
    pass


@dataclass
class Outcome:
    result: str  # "pass", "fail", "person" (an approval), "not run", "ran in make test" (reuse.py)
    note: str = ""
    commands: list[Measured] = field(default_factory=list)
    emulated: list[str] = field(default_factory=list)
    project: Project | None = None
    seconds: float | None = None  # the build's own time, when it ran before the rehearsal (reuse.py)
    resources: dict[str, Any] | None = None  # a deploy's fidelity (fidelity.py), for summary.json

    @property
    def peak_mib(self) -> float | None:
        return max((c.peak_mib for c in self.commands), default=None)


@dataclass
class Run:
    """What the actions share: artifacts by name, namespaces' variables, the emulator, where to work."""

    pipeline: Pipeline
    work: Path
    emulator_env: Mapping[str, str]
    artifacts: dict[str, Path] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=approvals.pipeline_variables)
    deployed_templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # stack -> template
    history: list[tuple[Action, Outcome]] = field(default_factory=list)
    coverage: Callable[..., list[Any]] | None = None  # tools.review_kit.iam.coverage.missing_permissions
    session: Any = None  # the operator's: bootstrap, read-backs (identities.py)
    # With IAM enforced (identities.py): a CodeBuild action's role credentials, CodePipeline's session.
    credentials: Callable[[Action], Mapping[str, str]] | None = None
    pipeline_session: Any = None


# -- Source ---------------------------------------------------------------------------------------


def source_action(run: Run, action: Action) -> Outcome:
    """The committed tree, as the source action hands it over (source.py)."""
    out = run.work / "artifacts" / action.outputs[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    note = source.source_tree(out)
    run.artifacts[action.outputs[0]] = out
    return Outcome("pass", note)


# -- CodeBuild ------------------------------------------------------------------------------------


def codebuild_action(run: Run, action: Action) -> Outcome:
    if change_gate.is_gate_check(action):  # the deployed pipeline's check of its own change (change_gate.py)
        verdict, note, measured = change_gate.judge(run, action)
        if verdict == "fail":
            raise FailedBuild(Outcome("fail", note, [measured]), note)
        return Outcome(verdict, note, [measured])
    project = run.pipeline.project(action)
    action_dir = run.work / "builds" / action.label.replace("/", "-")
    source_dir = action_dir / "src"
    shutil.copytree(run.artifacts[action.inputs[0]], source_dir, symlinks=True)
    spec = project.load_buildspec(source_dir)
    if "Synth" in action.name or (source_dir / "Makefile").is_file():
        _link_warm_environments(source_dir)
    variables = {v["name"]: _substitute(run, v["value"], action) for v in action_variables(action)}
    front = None
    if action.inputs and _reads_stack_outputs(run, action):
        front, variables = _verify_target(run, action, variables)
    npm_prefix = action_dir / "npm-global"  # the container's global npm prefix: fresh per build
    if run.pipeline.is_synth(action) and "SCAN_STRICT" in os.environ:
        # A gate that needs a service this machine cannot reach (PyPI's vulnerability data) is NOT
        # CHECKED here; `make test`'s strictness applies, and the row says so (never "pass").
        variables["SCAN_STRICT"] = os.environ["SCAN_STRICT"]
    base = _machine_environment(run, action, npm_prefix)
    env = codebuild.codebuild_environment(
        project_name=project.logical_id,
        source_dir=source_dir,
        region=emulator.REGION,
        account=emulator.ACCOUNT,
        image=project.image,
        base=base,
        spec_variables=(spec.get("env") or {}).get("variables") or {},
        project_variables=project.environment,
        action_variables=variables,
    )
    log = action_dir / "build.log"
    try:
        check_node_engine(spec, project)
        result = codebuild.run_buildspec(
            spec,
            image=project.image,
            source_dir=source_dir,
            env=env,
            runtimes=runtimes(run.work),
            log_path=log,
        )
    except codebuild.BuildFailed as error:
        raise ActionFailed(str(error)) from None
    finally:
        if front is not None:
            front.stop()
    outcome = Outcome("pass", "", result.commands, project=project)
    not_checked = not_checked_gates(source_dir)
    if result.failed:
        tail = _log_tail(log)
        raise FailedBuild(outcome, f"{result.failed}; log {log}: {tail}")
    collect_outputs(run, action, spec, source_dir)
    if action.namespace:
        run.variables[action.namespace] = codebuild.exported_variables(spec, log)
    vcpus, memory_gib = codebuild.COMPUTE_TYPES[project.compute_type]
    peak = outcome.peak_mib or 0.0
    outcome.note = (
        f"{project.compute_type} ({vcpus} vCPU, {memory_gib:g} GiB): peak {peak:.0f} MiB = "
        f"{100 * peak / (memory_gib * 1024):.0f}% of memory" + (f"; {front.note}" if front else "")
    )
    if not_checked:
        outcome.result = "not checked"
        outcome.note = (
            f"NOT CHECKED here: {'; '.join(not_checked)} (the pipeline, SCAN_STRICT=1, fails on it); "
            + outcome.note
        )
    if peak > memory_gib * 1024:
        raise FailedBuild(
            outcome, f"{outcome.note}: more than the compute type's memory (CodeBuild would kill it)"
        )
    if readback.is_self_mutation(action):
        _read_back_pipeline_stack(run, spec, source_dir, outcome)
    return outcome


def _read_back_pipeline_stack(run: Run, spec: Mapping[str, Any], source_dir: Path, outcome: Outcome) -> None:
    """What SelfMutate deployed, read back through the services (readback.py); it fails unless it is the
    synthesized pipeline: every stage, action, approval and buildspec."""
    stack = readback.after_self_mutation(run.session, spec, source_dir)
    outcome.resources, outcome.emulated = stack.check.fidelity.as_summary(), stack.check.emulated
    if stack.problems:
        raise FailedBuild(outcome, f"{stack.note()}; not as synthesized: " + "; ".join(stack.problems))
    outcome.note = f"{outcome.note}; {stack.note()}"


def _machine_environment(run: Run, action: Action, npm_prefix: Path) -> dict[str, str]:
    """The machine's environment (its CA certificates and registry settings reach npm and PyPI
    here), less anything that could point a client at real AWS; then the emulator's."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CDK_", "VIRTUAL_ENV")) and k not in _MAKE_VARIABLES
    }
    aws = dict(run.emulator_env)
    if run.pipeline.is_synth(action):
        # The synth role may write only its reports and artifacts, which are not emulated; its tests
        # mock AWS in-process (moto), and an endpoint override would send them to the shared server.
        aws = {k: v for k, v in aws.items() if not k.startswith("AWS_ENDPOINT_URL")}
    if run.credentials is not None:
        aws.update(run.credentials(action))  # the project's service role, as CodeBuild assumes it
    base.update(
        {
            "PATH": os.pathsep.join([str(npm_prefix / "bin"), *_machine_path()]),
            "NPM_CONFIG_PREFIX": str(npm_prefix),
            **aws,
        }
    )
    return base


class FailedBuild(ActionFailed):
    """A failed build whose measured commands still belong in the report."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


def not_checked_gates(source_dir: Path) -> list[str]:
    """The security gates `make scan` reported NOT CHECKED in this build, if it ran."""
    summary = source_dir / "reports" / "gates" / "summary.json"
    if not summary.is_file():
        return []
    gates = json.loads(summary.read_text(encoding="utf-8")).get("gates", [])
    return [f"{g['gate']}: {g['summary']}" for g in gates if g.get("status") == "not checked"]


def _machine_path() -> list[str]:
    """PATH without the checkout's node_modules/.bin and venvs: a build gets only what it installs."""
    return [
        entry
        for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if entry and "/node_modules/" not in entry and "/.venv" not in entry
    ]


def _reads_stack_outputs(run: Run, action: Action) -> bool:
    """A step whose variables name a deploy action's namespace (its stack's outputs): a verify step.
    `codepipeline` and a build's exported variables (PipelineChangeCheck's digest) are not outputs."""
    outputs = {a.namespace for a in run.pipeline.actions if a.provider == "CloudFormation" and a.namespace}
    return any(m.group(1) in outputs for v in _raw_values(action) for m in re.finditer(r"#\{([^.}]+)\.", v))


def _raw_values(action: Action) -> list[str]:
    return [str(v["value"]) for v in action_variables(action)]


def _substitute(run: Run, value: str, action: Action) -> str:
    """`#{Namespace.Variable}` from an earlier action's outputs (env_from_cfn_outputs)."""

    def lookup(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        if name not in run.variables.get(namespace, {}):
            raise ActionFailed(f"{action.label}: no variable {namespace}.{name} (was the stack deployed?)")
        return run.variables[namespace][name]

    return re.sub(r"#\{([^.}]+)\.([^}]+)\}", lookup, value)


def _verify_target(run: Run, action: Action, variables: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Serve the deployed stage locally and point the step's URL variables at it."""
    from tools.review_kit.rehearse.front import start_front

    namespaces = {m.group(1) for v in _raw_values(action) for m in re.finditer(r"#\{([^.}]+)\.", v)}
    (namespace,) = namespaces
    stack_name = next(a.configuration["StackName"] for a, _ in run.history if a.namespace == namespace)
    front = start_front(run.session, stack_name, run.deployed_templates[stack_name], VERIFY_THROTTLE)
    deployed_url = variables["API_URL"]
    local = {
        key: value.replace(deployed_url.rstrip("/") + "/", front.api_url) for key, value in variables.items()
    }
    local["THROTTLE_RATE"], local["THROTTLE_BURST"] = (str(VERIFY_THROTTLE[0]), str(VERIFY_THROTTLE[1]))
    local[direct.NOT_CHECKED_ENV] = VERIFY_DIRECT_NOT_CHECKED
    front.note = f"API_URL {deployed_url} served by {front.note}"
    return front, local


def check_node_engine(spec: Mapping[str, Any], project: Project) -> None:
    """A build that runs npm tools must run on the Node the project pins (package.json engines)."""
    commands = " ".join(
        str(c) for phase in (spec.get("phases") or {}).values() for c in ((phase or {}).get("commands") or [])
    )
    if not re.search(r"\b(npm|npx|cdk|cdk-assets|node)\b", commands):
        return
    engines = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8")).get("engines", {})
    required = re.fullmatch(r">=\s*(\d+)", str(engines.get("node", "")).strip())
    if not required:
        return
    selected = codebuild.check_runtime_versions(spec, project.image)["nodejs"]
    if int(selected) < int(required.group(1)):
        named = ((spec.get("phases") or {}).get("install") or {}).get("runtime-versions") or {}
        how = (
            "runtime-versions names it"
            if "nodejs" in named
            else "the image's default: no runtime-versions nodejs"
        )
        raise codebuild.BuildFailed(
            f"runs on Node {selected} ({how}); package.json engines.node requires {engines['node']}"
        )


def _link_warm_environments(source_dir: Path) -> None:
    """The checkout's built environments as a warm cache: what `make install` finds up to date.

    The venvs are linked; node_modules is copied, since `npm ci` empties the directory it installs
    into. Each lock and its input keep the checkout's mtime, so make sees the environments as
    current; if it would still rebuild one, the build stops here rather than change them.
    """
    for name in WARM_ENVIRONMENTS:
        original_env = REPO_ROOT / name
        if not original_env.exists() or (source_dir / name).exists():
            continue
        if name == "node_modules":
            shutil.copytree(original_env.resolve(), source_dir / name, symlinks=True)
        else:
            (source_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (source_dir / name).symlink_to(original_env.resolve())
    for pattern in ("pyproject.toml", "uv.lock", "package.json", "package-lock.json"):
        for copied in source_dir.glob(pattern):
            original = REPO_ROOT / copied.relative_to(source_dir)
            if original.exists():
                stat = original.stat()
                os.utime(copied, (stat.st_atime, stat.st_mtime))
    markers = [
        f"{name}/.installed" for name in WARM_ENVIRONMENTS if (source_dir / name / ".installed").exists()
    ]
    if not markers:
        return
    dry_run = subprocess.run(  # noqa: S603
        ["make", "--dry-run", *markers],  # noqa: S607 - make from PATH, as CodeBuild runs it
        cwd=source_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    rebuilds = [line for line in dry_run.stdout.splitlines() if line.strip() and not line.startswith("make")]
    if rebuilds:
        raise ActionFailed(
            "the linked environments are older than the lock files (make would reinstall into "
            f"the checkout's): run `make install` first; make would run: {rebuilds[0]}"
        )


def collect_outputs(run: Run, action: Action, spec: Mapping[str, Any], source_dir: Path) -> None:
    artifacts = spec.get("artifacts") or {}
    secondary = artifacts.get("secondary-artifacts") or {}
    for name in action.outputs:
        if name in secondary:
            base = secondary[name].get("base-directory", ".")
        elif artifacts.get("base-directory") and len(action.outputs) == 1:
            base = artifacts["base-directory"]
        else:
            raise ActionFailed(f"output artifact {name}: the buildspec does not say where it is")
        path = source_dir / base
        if not path.is_dir():
            raise ActionFailed(f"output artifact {name}: {base}/ was not produced")
        run.artifacts[name] = path


def _log_tail(log: Path, lines: int = 4) -> str:
    """The build log's first error lines near the end, then its last lines: what a person reads first."""
    text = [
        line.strip()
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    recent = text[-80:]
    errors = [line for line in recent if re.search(r"\berror\b|\bfailed\b", line, re.IGNORECASE)][:2]
    shown = errors + [line for line in recent[-lines:] if line not in errors]
    return " | ".join(line[:300] for line in shown)


def runtimes(work: Path) -> codebuild.Runtimes:
    """Where this machine has the image's runtimes: Node 22 (package.json's), Python (the venv's)."""
    bin_dirs: dict[tuple[str, str], Path] = {}
    node22 = REPO_ROOT / "node_modules" / ".bin" / "node"  # package-lock.json's node-<platform> binary
    if node22.exists():
        directory = work / "runtimes" / "nodejs-22"
        directory.mkdir(parents=True, exist_ok=True)
        _link(directory / "node", node22.resolve())
        for tool in ("npm", "npx"):
            found = shutil.which(tool)
            if found:
                _link(directory / tool, Path(found).resolve())
        bin_dirs[("nodejs", "22")] = directory
    python = REPO_ROOT / ".venv" / "bin" / "python"
    if python.exists():
        directory = work / "runtimes" / "python-3.13"
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            _link(directory / name, python)
        bin_dirs[("python", "3.13")] = directory
    return codebuild.Runtimes(bin_dirs)


def _link(link: Path, target: Path) -> None:
    if not link.exists():
        link.symlink_to(target)


# -- CloudFormation -------------------------------------------------------------------------------


def cloudformation_action(run: Run, action: Action) -> Outcome:
    config = action.configuration
    mode = config["ActionMode"]
    stack_name = config["StackName"]
    if action.role_arn is None:
        raise ActionFailed("the action names no role")
    session = deploy.assume(run.pipeline_session or run.session, action.role_arn, "rehearsal-deploy")
    if mode == "CHANGE_SET_REPLACE":
        artifact, path = config["TemplatePath"].split("::", 1)
        template = json.loads((run.artifacts[artifact] / path).read_text(encoding="utf-8"))
        if run.coverage is None:
            raise ActionFailed("execution-policy coverage NOT CHECKED: no coverage function")
        allowed, gaps_note = execution_policy.check(
            run.session, run.coverage, config["RoleArn"], template, stack_name
        )
        if not allowed:
            raise ActionFailed(gaps_note)
        deploy.create_change_set(
            session,
            stack_name=stack_name,
            change_set_name=config["ChangeSetName"],
            template=template,
            capabilities=[c for c in config.get("Capabilities", "").split(",") if c],
            execution_role_arn=config["RoleArn"],
            upload_bucket=f"cdk-hnb659fds-assets-{emulator.ACCOUNT}-{emulator.REGION}",
            upload_session=run.session,  # CodePipeline hands CloudFormation the artifact, not the role
        )
        run.deployed_templates[stack_name] = template
        return Outcome(
            "pass",
            f"change set {config['ChangeSetName']} created with role {config['RoleArn'].split('/')[-1]}; "
            + gaps_note,
        )
    if mode == "CHANGE_SET_EXECUTE":
        try:
            outputs = deploy.execute_change_set(
                session, stack_name=stack_name, change_set_name=config["ChangeSetName"]
            )
        except deploy.DeployFailed as error:
            raise ActionFailed(str(error)) from None
        if action.namespace:
            run.variables[action.namespace] = outputs
        check = deploy.check_stack(run.session, stack_name, run.deployed_templates[stack_name])
        outcome = Outcome("pass", emulated=check.emulated, resources=check.fidelity.as_summary())
        summary = (
            f"{len(check.deployed)} resources deployed and read back, "
            f"{len(check.emulated)} emulated, not deployed; {check.fidelity.line()}"
        )
        if check.missing:
            raise FailedBuild(
                outcome, f"{summary}; {len(check.missing)} missing: " + "; ".join(check.missing)
            )
        outcome.note = summary
        return outcome
    raise ActionFailed(f"ActionMode {mode} is not rehearsed")


# -- Approval -------------------------------------------------------------------------------------


def manual_action(run: Run, action: Action) -> Outcome:
    """Not run: a person's step. What they would see at this point."""
    checked = [(a, o) for a, o in run.history if change_gate.is_gate_check(a)]
    if change_gate.is_gate(action) and checked and checked[-1][1].result == "pass":
        # The check's PutApprovalResult, as its build's role: a session of that role approved it.
        role = change_gate.check_role_arn(run, checked[-1][0])
        approvals.approve_as(run, action, approvals.session_of(role, "AWSCodeBuild-rehearsal"), "")
        return Outcome("pass", f"approved by the gate's check: {checked[-1][1].note}")
    comment = _substitute(run, action.configuration.get("CustomData", ""), action)  # the check's MESSAGE
    written = approvals.approve(run, action)  # what they write, as CodePipeline lists it (approvals.py)
    before = [f"{a.label} {o.result}" for a, o in run.history if a.provider != "Manual"]
    topic = action.configuration.get("NotificationArn")
    reports = run.artifacts.get("Synth_reports")
    note = (
        f'a person approves in the console; they see: "{comment}"'
        + (f"; notified on {topic}" if topic else "; no notification topic (approverEmails is empty)")
        + (f"; the synth reports artifact (review/report.html) from {reports}" if reports else "")
        + f"; before it: {', '.join(before[-3:])}; their comment: {written}"
    )
    return Outcome("person", note)


PROVIDERS: dict[str, Callable[[Run, Action], Outcome]] = {
    "CodeStarSourceConnection": source_action,
    "CodeCommit": source_action,
    "CodeBuild": codebuild_action,
    "CloudFormation": cloudformation_action,
    "Manual": manual_action,
}
