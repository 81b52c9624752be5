"""`--baseline`: what changed since a previous report, new findings and acknowledgements first."""

from __future__ import annotations

import copy
import json

import pytest

from tools.pipeline_checks.review import __main__ as review_cli
from tools.pipeline_checks.review import diff

from .conftest import write_review

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def changed(review, gates_summary, tmp_path_factory):
    """The real review against a baseline made from it: as if the last change added two
    acknowledgements and a finding, reworded a reason, and removed a checkov skip."""
    baseline = copy.deepcopy(review.report)
    added_acks = baseline["acknowledgements"][:2]
    del baseline["acknowledgements"][:2]
    added_finding = baseline["findings"].pop(0)
    reworded = baseline["acknowledgements"][0]
    reworded["reason"] = "an older, shorter reason"
    removed_skip = {
        **baseline["checkov"]["skipped"][0],
        "key": "CKV_AWS_999 @ gone",
        "checkId": "CKV_AWS_999",
    }
    baseline["checkov"]["skipped"].append(removed_skip)
    path = tmp_path_factory.mktemp("baseline") / "report.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    out = tmp_path_factory.mktemp("review-diff")
    # the scanners' JSON the first review wrote: the same synth, so the same results
    result = write_review(
        review.assembly, out, gates_summary, "--baseline", str(path), "--scans", str(review.out)
    )
    return result, {"acks": added_acks, "finding": added_finding, "reworded": reworded, "skip": removed_skip}


def test_the_diff_lists_new_changed_and_removed_items_by_key(changed):
    # GIVEN the review run with a baseline that lacks two acknowledgements and a finding
    result, planted = changed
    d = result.report["diff"]
    # WHEN the diff is read
    # THEN the new ones are new, the reworded reason is changed (with both texts), the skip removed
    assert [a["key"] for a in d["new"]["acknowledgements"]] == [a["key"] for a in planted["acks"]]
    assert [f["key"] for f in d["new"]["findings"]] == [planted["finding"]["key"]]
    (reason,) = d["changed"]["acknowledgements"]
    assert (reason["key"], reason["before"]) == (planted["reworded"]["key"], "an older, shorter reason")
    assert reason["reason"] != reason["before"]
    assert [s["key"] for s in d["removed"]["checkovSkipped"]] == [planted["skip"]["key"]]
    # AND the rest is counted as unchanged
    assert d["counts"] == {
        "diff.new": 3,
        "diff.changed": 1,
        "diff.removed": 1,
        "diff.unchanged": d["counts"]["diff.unchanged"],
    }
    assert d["unchanged"]["acknowledgements"] == len(result.report["acknowledgements"]) - 3


HEADINGS = {  # how each format marks a section heading
    "report.html": lambda title, level: f"<h{level}>{title}",
    "report.md": lambda title, level: f"{'#' * level} {title}",
}


@pytest.mark.parametrize("name", list(HEADINGS))
def test_new_findings_and_acknowledgements_come_first(changed, name):
    # GIVEN the rendered review with a diff
    result, _ = changed
    text, heading = result.text(name), HEADINGS[name]
    # WHEN the positions of the sections are compared
    order = [
        text.index(heading("Changes since baseline", 2)),
        text.index(heading("New: findings (cdk-nag, delivery path) (1)", 3)),
        text.index(heading("New: cdk-nag acknowledgements (2)", 3)),
        text.index(heading("Reason changed: cdk-nag acknowledgements (1)", 3)),
        text.index(heading("Removed: checkov skips (1)", 3)),
        text.index(heading("Build gates", 2)),
        text.index(heading("Stage Pipeline", 2)),
    ]
    # THEN new findings, then new acknowledgements, then changed reasons, then removals, before the rest
    assert order == sorted(order)


def test_an_unchanged_baseline_shows_nothing_new(review, gates_summary, tmp_path):
    # GIVEN the review's own report as the baseline
    baseline = tmp_path / "same.json"
    baseline.write_text(json.dumps(review.report), encoding="utf-8")
    # WHEN the review is run against it
    result = write_review(
        review.assembly,
        tmp_path / "out",
        gates_summary,
        "--baseline",
        str(baseline),
        "--scans",
        str(review.out),
    )
    # THEN nothing is new, changed or removed, and everything is unchanged
    counts = result.report["diff"]["counts"]
    assert (counts["diff.new"], counts["diff.changed"], counts["diff.removed"]) == (0, 0, 0)
    assert counts["diff.unchanged"] == sum(
        len(items(review.report)) for _, items, _ in diff.CATEGORIES.values()
    )
    assert "Nothing was added, changed or removed." in result.text("report.html")


def test_a_baseline_that_is_not_a_review_report_is_refused(review, gates_summary, tmp_path, capsys):
    # GIVEN a JSON file that is not a review report
    baseline = tmp_path / "other.json"
    baseline.write_text(json.dumps({"findings": []}), encoding="utf-8")
    # WHEN the review is run against it
    no_results = tmp_path / "none.json"
    no_results.write_text("[]", encoding="utf-8")
    args = ["--out", str(tmp_path / "out"), "--gates", str(gates_summary), "--baseline", str(baseline)]
    args += ["--checkov-json", str(no_results), "--cfn-lint-json", str(no_results)]
    code = review_cli.main([str(review.assembly), *args])
    # THEN it refuses (exit 2) and says why, rather than calling everything new
    assert code == 2
    assert "is not a review report" in capsys.readouterr().err
