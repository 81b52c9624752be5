"""The review report of the real app, built once per session, and small assemblies made by hand.

`review` synthesizes main.build_app in-process as `cdk synth` does (tests/infra's synth_app:
cdk.json's context, bundling skipped), runs the real checkov and cfn-lint on it through
`python -m tools.pipeline_checks.review`'s main,
and keeps every file it wrote. The gates' results are a canned
summary (their own tests run the gates): the report only shows them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import SynthesizedApp
from tools.pipeline_checks.review import __main__ as review_cli
from tools.pipeline_checks.review import claims

GATES_SUMMARY: dict[str, Any] = {
    "strict": False,
    "gates": [
        {"gate": "secrets", "title": "Secrets", "status": "passed", "summary": "no new secrets",
         "tool": "detect-secrets 1.5.0", "findings": [], "artifacts": []},
        {"gate": "bandit", "title": "bandit", "status": "passed", "summary": "0 high",
         "tool": "bandit 1.9.4", "findings": [{"id": "B603 subprocess_without_shell_equals_true",
                                                "severity": "LOW", "where": "tools/x.py:3", "message": "m"}],
         "artifacts": []},
        {"gate": "audit", "title": "pip-audit", "status": "not checked",
         "summary": "pip-audit: could not reach the vulnerability service: NOT CHECKED", "tool": "pip-audit",
         "findings": [], "artifacts": []},
        {"gate": "sbom", "title": "SBOM", "status": "failed", "summary": "cyclonedx-py exited 1", "tool": "",
         "findings": [], "artifacts": []},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Review:
    assembly: Path
    out: Path
    report: dict[str, Any]

    @property
    def html(self) -> Path:
        return self.out / "report.html"

    def text(self, name: str) -> str:
        return (self.out / name).read_text(encoding="utf-8")


def write_review(assembly: Path, out: Path, gates: Path, *extra: str) -> Review:
    """The review CLI; the trust claims read `--junit` if given, else no test results (never the
    repo's reports/junit, which the running `make unit` has not written yet)."""
    junit = [] if "--junit" in extra else ["--junit", str(out / "no-test-results.xml")]
    assert review_cli.main([str(assembly), "--out", str(out), "--gates", str(gates), *junit, *extra]) == 0
    return Review(assembly, out, json.loads((out / "report.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def gates_summary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gates") / "summary.json"
    path.write_text(json.dumps(GATES_SUMMARY), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def app_assembly(pipeline_app: SynthesizedApp) -> Path:
    """main.build_app with cdk.json's context, synthesized in-process: the assembly `make synth` writes
    (the session's one synth of the app, tests/conftest.py)."""
    return pipeline_app.outdir


@pytest.fixture(scope="session")
def review(app_assembly: Path, gates_summary: Path, tmp_path_factory: pytest.TempPathFactory) -> Review:
    """`python -m tools.pipeline_checks.review` on the real app, with the real checkov and cfn-lint, and
    test results in which every trust claim's tests passed."""
    out = tmp_path_factory.mktemp("review")
    return write_review(app_assembly, out, gates_summary, "--junit", str(claims_passed_junit(out)))


def claims_passed_junit(directory: Path) -> Path:
    """A pytest JUnit file in which each trust claim's tests passed (one case each)."""
    cases = "".join(
        f'<testcase classname="{path.removesuffix(".py").replace("/", ".")}" name="{function}" time="0"/>'
        for claim in claims.CLAIMS
        for path, function in (test.split("::") for test in claim.tests)
    )
    path = directory / "pytest.xml"
    path.write_text(f"<testsuites><testsuite>{cases}</testsuite></testsuites>", encoding="utf-8")
    return path


def templates(assembly: Path) -> list[dict[str, Any]]:
    files = sorted(assembly.glob("*.template.json")) + sorted(assembly.glob("assembly-*/*.template.json"))
    assert files
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


@pytest.fixture
def make_assembly(tmp_path: Path) -> Callable[..., Path]:
    """`make_assembly(resources, metadata={}, violations=[], stack_name="App-Stack", environment=None)`:
    a one-stack cloud assembly on disk.

    The stack is `App/Stack` (construct path `App/Stack`), template App-Stack.template.json.
    """

    def make(
        resources: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        violations: list[dict[str, Any]] | None = None,
        stack_name: str = "App-Stack",
        environment: str | None = None,
    ) -> Path:
        root = tmp_path / "cdk.out"
        root.mkdir()
        (root / "App-Stack.template.json").write_text(json.dumps({"Resources": resources}), encoding="utf-8")
        (root / "App-Stack.metadata.json").write_text(json.dumps(metadata or {}), encoding="utf-8")
        manifest = {
            "version": "55.0.0",
            "artifacts": {
                "AppStack": {
                    "type": "aws:cloudformation:stack",
                    "displayName": "App/Stack",
                    "properties": {"templateFile": "App-Stack.template.json", "stackName": stack_name},
                    "additionalMetadataFile": "App-Stack.metadata.json",
                    **({"environment": environment} if environment else {}),
                }
            },
        }
        (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        report = {"pluginReports": [{"pluginName": "AwsSolutions", "violations": violations or []}]}
        (root / "validation-report.json").write_text(json.dumps(report), encoding="utf-8")
        return root

    return make


def resource(
    kind: str, path: str, properties: dict[str, Any] | None = None, **metadata: Any
) -> dict[str, Any]:
    """A template resource whose construct path is App/Stack/<path>."""
    return {
        "Type": kind,
        "Properties": properties or {},
        "Metadata": {"aws:cdk:path": f"App/Stack/{path}", **metadata},
    }
