"""Every trust claim in the README names the tests that check it (tools/pipeline_checks/review/claims.py),
and the review report says, per build, whether those tests passed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.pipeline_checks.review import claims
from tools.pipeline_checks.review.claims import CLAIMS

SECTION = "What holds, each checked by a test"


def readme_claims(text: str) -> list[str]:
    """The bullets of the README's list of what holds (each bullet unwrapped), up to the next heading."""
    start = text.index(SECTION)
    body = text[start:].split("\n## ", 1)[0]
    bullets = re.findall(r"^- (.+(?:\n  .+)*)", body, flags=re.MULTILINE)
    return [" ".join(line.strip() for line in bullet.splitlines()) for bullet in bullets]


def test_each_readme_claim_has_exactly_one_entry_with_tests():
    # GIVEN the README's bullets of what holds
    bullets = readme_claims(claims.README.read_text(encoding="utf-8"))
    assert len(bullets) >= 6
    # THEN each starts with exactly one claim's words, and every claim is a bullet
    for bullet in bullets:
        matching = [c.key for c in CLAIMS if bullet.startswith(c.readme)]
        assert len(matching) == 1, f"README claim without one entry in claims.py: {bullet[:80]}"
    assert len(bullets) == len(CLAIMS)
    assert all(claim.tests for claim in CLAIMS)


@pytest.mark.parametrize("test", sorted({t for c in CLAIMS for t in c.tests}))
def test_every_named_test_exists(test):
    path, function = test.split("::")
    source = (claims.REPO_ROOT / path).read_text(encoding="utf-8")
    assert re.search(rf"^def {re.escape(function)}\(", source, flags=re.MULTILINE), test


def _junit(tmp_path: Path, cases: list[tuple[str, str, str]]) -> Path:
    """A pytest JUnit file: (module path, test name, outcome: passed|failed|skipped|error)."""
    body = []
    for module, name, outcome in cases:
        inner = {"passed": "", "failed": "<failure message='x'/>", "skipped": "<skipped message='x'/>",
                 "error": "<error message='x'/>"}[outcome]  # fmt: skip
        body.append(f'<testcase classname="{module}" name="{name}" time="0.1">{inner}</testcase>')
    path = tmp_path / "pytest.xml"
    path.write_text(f"<testsuites><testsuite>{''.join(body)}</testsuite></testsuites>", encoding="utf-8")
    return path


def _all_passed() -> list[tuple[str, str, str]]:
    cases = []
    for claim in CLAIMS:
        for test in claim.tests:
            path, function = test.split("::")
            module = path.removesuffix(".py").replace("/", ".")
            cases += [(module, f"{function}[a]", "passed"), (module, f"{function}[b]", "passed")]
    return cases


def test_a_claim_is_checked_when_every_case_of_its_tests_passed(tmp_path):
    section = claims.build(_junit(tmp_path, _all_passed()))
    assert section["status"] == "read"
    assert {c["verdict"] for c in section["claims"]} == {"checked"}
    assert all(t["passed"] == 2 for c in section["claims"] for t in c["tests"])


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped", "missing"])
def test_one_failed_skipped_or_missing_case_leaves_its_claim_not_checked(tmp_path, outcome):
    # GIVEN every test passed but one case of the approvals claim's first test
    cases = _all_passed()
    first = next(c for c in CLAIMS if c.key == "approvals").tests[0].split("::")[1]
    index = next(i for i, case in enumerate(cases) if case[1] == f"{first}[a]")
    if outcome == "missing":
        cases = [case for case in cases if not case[1].startswith(first)]
    else:
        cases[index] = (cases[index][0], cases[index][1], outcome)
    section = claims.build(_junit(tmp_path, cases))
    # THEN that claim alone is NOT CHECKED, saying which test and why
    verdicts = {c["key"]: c for c in section["claims"]}
    assert verdicts["approvals"]["verdict"] == "NOT CHECKED"
    why = {"failed": "failed", "error": "failed", "skipped": "skipped", "missing": "did not run"}[outcome]
    assert verdicts["approvals"]["why"] == f"{first} {why}"
    assert {k for k, c in verdicts.items() if c["verdict"] != "checked"} == {"approvals"}


def test_without_test_results_no_claim_is_checked(tmp_path):
    section = claims.build(tmp_path / "absent.xml")
    assert section["status"].startswith("not checked: no test results")
    assert {c["verdict"] for c in section["claims"]} == {"NOT CHECKED"}
