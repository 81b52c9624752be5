"""The HTML report in a real browser: headless Chromium renders it, prints it, and shows the JSON's numbers.

Without a working Chromium (`make install` installs Debian's as root) these tests are SKIPPED with
the reason in capitals: the page was not checked in a browser, and the run says so.
"""

from __future__ import annotations

import copy
import json
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tools.pipeline_checks.review.browser import HEADLESS_FLAGS, find_browser

from .conftest import write_review

BROWSER = find_browser()
pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(
        BROWSER is None,
        reason="NO CHROMIUM: the HTML report was NOT checked in a browser "
        "(Debian: `make install-browser` as root, or CHROMIUM=/path/to/chrome)",
    ),
]


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [BROWSER, *HEADLESS_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


class _Counts(HTMLParser):
    """What the rendered page shows: for each element with data-count="<name>" (and data-stack for a
    stack's own), the number it displays; and how many table rows of each class there are."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, str], str] = {}
        self.rows: dict[str, int] = {}
        self._open: tuple[str, str] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr":
            for css in (a.get("class") or "").split():
                self.rows[css] = self.rows.get(css, 0) + 1
        if a.get("data-count"):
            self._open, self._text = (a.get("data-stack") or "", a["data-count"] or ""), ""

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            assert self._open not in self.counts, f"{self._open} shown twice"
            self.counts[self._open] = self._text.strip()
            self._open = None


def _rendered_counts(tmp_path: Path, page: Path) -> _Counts:
    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    # Chromium serializes its DOM with an upper-case doctype: this is the browser's page, not our file.
    assert dom.startswith("<!DOCTYPE html>"), dom[:200]
    parser = _Counts()
    parser.feed(dom)
    return parser


def test_the_rendered_page_shows_the_counts_of_report_json(review, tmp_path):
    # GIVEN the review of the real app: report.json and report.html
    report = review.report
    # WHEN Chromium loads the page and its DOM is read back
    rendered = _rendered_counts(tmp_path, review.html)
    # THEN every count on the page, app-wide and per stack, is the JSON's
    shown = {key: int(text) for key, text in rendered.counts.items()}
    expected = {("", name): value for name, value in report["counts"].items()}
    for stack in report["stacks"]:
        expected |= {(stack["stack"], name): stack["counts"][name] for name in _per_stack_columns(rendered)}
    assert shown == expected
    # AND the page lists every item the counts count, row by row
    assert rendered.rows.get("ack", 0) == report["counts"]["acknowledgements"]
    assert rendered.rows.get("iam-row", 0) == report["counts"]["iam.rows"]
    assert rendered.rows.get("checkov-skip", 0) == report["counts"]["checkov.skipped"]
    assert rendered.rows.get("cfn-lint-ignore", 0) == report["counts"]["cfnLint.ignores"]
    assert rendered.rows.get("wild-allow", 0) == report["counts"]["iam.wildcardAllowRows"]
    assert rendered.rows.get("gate", 0) == len(report["gates"]["results"])


def _per_stack_columns(rendered: _Counts) -> set[str]:
    columns = {name for stack, name in rendered.counts if stack}
    assert {"findings.failed", "acknowledgements", "checkov.skipped", "iam.wildcardAllowRows"} <= columns
    return columns


def test_the_diff_counts_on_the_page_are_the_jsons(review, gates_summary, tmp_path):
    # GIVEN a review against a baseline that lacked one acknowledgement
    baseline = copy.deepcopy(review.report)
    baseline["acknowledgements"].pop()
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    result = write_review(
        review.assembly, tmp_path / "out", gates_summary, "--baseline", str(path), "--scans", str(review.out)
    )
    # WHEN Chromium renders it
    rendered = _rendered_counts(tmp_path, result.html)
    # THEN the page's diff counts are report.json's: one new
    shown = {name: int(text) for (_, name), text in rendered.counts.items() if name.startswith("diff.")}
    assert shown == result.report["diff"]["counts"]
    assert shown["diff.new"] == 1
    assert rendered.rows.get("diff-acknowledgements", 0) == 1


def _png_size_and_ink(png: bytes) -> tuple[int, int, float]:
    """(width, height, share of non-zero filtered pixel bytes): a blank page filters to almost all zeros."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    data, offset = b"", 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(data)
    return width, height, sum(1 for b in raw if b) / len(raw)


def test_the_page_renders_something_to_read(review, tmp_path):
    # GIVEN report.html
    shot = tmp_path / "report.png"
    # WHEN Chromium takes a screenshot of it
    _chromium(tmp_path, review.html, f"--screenshot={shot}", "--window-size=1280,1800")
    # THEN it is an image of the requested size with content on it, not a blank page
    width, height, ink = _png_size_and_ink(shot.read_bytes())
    assert (width, height) == (1280, 1800)
    assert ink > 0.01, ink  # a blank page: ~0.0002; this report: ~0.05


def test_the_page_prints(review, tmp_path):
    # GIVEN report.html
    pdf = tmp_path / "report.pdf"
    # WHEN Chromium prints it to PDF (the print stylesheet applies)
    _chromium(tmp_path, review.html, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    # THEN it is a PDF of several pages (each stage starts a page)
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", content)) >= len(review.report["stages"])
