"""Every relative link in the README and docs/ resolves inside the repository, and every page is linked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.docs.markdown import REPO_ROOT, anchors, doc_files, links, where


def broken_links(path: Path) -> list[str]:
    problems = []
    for line, target in links(path):
        parts = urlsplit(target)
        if parts.scheme or target.startswith("//"):
            continue  # http(s), mailto: not checked offline
        file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not file.is_relative_to(REPO_ROOT):
            problems.append(f"{where(path, line)}: {target} points outside the repository")
        elif not file.exists():
            problems.append(f"{where(path, line)}: {target}: no such file")
        elif parts.fragment and file.suffix == ".md" and parts.fragment not in anchors(file):
            problems.append(f"{where(path, line)}: {target}: no heading #{parts.fragment} in {file.name}")
    return problems


def test_every_relative_link_resolves():
    problems = [problem for path in doc_files() for problem in broken_links(path)]
    assert not problems, "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme():
    readme = REPO_ROOT / "README.md"
    linked = {
        (readme.parent / urlsplit(t).path).resolve() for _, t in links(readme) if not urlsplit(t).scheme
    }
    pages = sorted((REPO_ROOT / "docs").glob("*.md")) + sorted((REPO_ROOT / "docs").glob("*.json"))
    missing = [page.relative_to(REPO_ROOT).as_posix() for page in pages if page.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_the_link_check_can_fail(tmp_path):
    # GIVEN a page with a link outside the repository, a missing file and a missing heading
    page = REPO_ROOT / "docs" / "configuration.md"
    fake = tmp_path / "page.md"
    fake.write_text(
        "# Title\n[a](../../shared/api-contract.md) [b](nope.md) [c](#no-such)\n", encoding="utf-8"
    )
    # THEN each is reported (the page is read from a temporary copy placed beside the real docs)
    copy = page.parent / "_link_check_probe.md"
    copy.write_text(fake.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        problems = broken_links(copy)
    finally:
        copy.unlink()
    assert len(problems) == 3, problems
    assert "outside the repository" in problems[0]
    assert "no such file" in problems[1]
    assert "no heading" in problems[2]


def test_headings_get_githubs_anchors(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "# Local mode\n## Decisions that differ from the original request\n## `make upload`, A/B\n"
    )
    assert anchors(page) == {
        "local-mode",
        "decisions-that-differ-from-the-original-request",
        "make-upload-ab",
    }


def test_the_runbook_the_alarms_name_exists():
    # The alarm descriptions and the dashboard point operators at this page and section.
    from stages.upload.observability import RUNBOOK_PAGE, RUNBOOK_SECTION

    page = REPO_ROOT / RUNBOOK_PAGE
    assert page.exists()
    slug = RUNBOOK_SECTION.lower().replace(",", "").replace(" ", "-")
    assert slug in anchors(page)


def test_the_placeholder_warning_names_an_existing_section():
    source = (REPO_ROOT / "stages" / "pipeline" / "stack.py").read_text(encoding="utf-8")
    assert "docs/pipeline.md: First-time set-up" in source
    assert "first-time-set-up" in anchors(REPO_ROOT / "docs" / "pipeline.md")
