"""The review shows the whole boundary: bootstrap policies, trust, cloudsplaining's risk classes,
acknowledgements by reason, "own" claims checked against the grant, and an HTML page that escapes
whatever the repository puts in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from tools.common import assembly
from tools.pipeline_checks.review import __main__ as review_cli
from tools.pipeline_checks.review import boundary, html_report, iam, nag

from .conftest import resource

ROOT = Path(__file__).resolve().parents[2]
ACK = "aws:cdk:acknowledged-rules"


def _ack(path: str, finding_id: str, reason: str) -> dict[str, Any]:
    return {f"/App/Stack/{path}": [{"type": ACK, "data": {f"Annotation::{finding_id}": reason}}]}


def _review(root: Path, tmp_path: Path, bootstrap: Path | None = None) -> tuple[dict[str, Any], str, str]:
    """The review on a hand-made assembly; the scanners' output is given (own tests)."""
    (tmp_path / "checkov.json").write_text("{}", encoding="utf-8")
    (tmp_path / "cfn-lint.json").write_text("[]", encoding="utf-8")
    out = tmp_path / "out"
    args = [str(root), "--out", str(out), "--gates", str(tmp_path / "no-gates.json")]
    args += [
        "--checkov-json",
        str(tmp_path / "checkov.json"),
        "--cfn-lint-json",
        str(tmp_path / "cfn-lint.json"),
    ]
    args += ["--bootstrap", str(bootstrap or tmp_path / "no-bootstrap")]
    assert review_cli.main(args) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, (out / "report.html").read_text(encoding="utf-8"), (out / "report.md").read_text("utf-8")


def _policy_role(document: dict[str, Any]) -> dict[str, Any]:
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]}  # fmt: skip
    return {
        "Role": resource("AWS::IAM::Role", "Role/Resource", {"AssumeRolePolicyDocument": trust}),
        "Policy": resource(
            "AWS::IAM::Policy",
            "Role/DefaultPolicy/Resource",
            {"PolicyDocument": document, "Roles": [{"Ref": "Role"}]},
        ),
    }


# -- the bootstrap policies ------------------------------------------------------------------------


def test_every_policy_in_the_bootstrap_folder_is_read_with_a_title(tmp_path):
    # GIVEN a bootstrap folder with the execution policy, a policy of another name, and two other files
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    for name in ("cfn-execution-policy.json", "permissions-boundary.json", "extra_guard-rails.json"):
        (tmp_path / name).write_text(json.dumps({"Statement": [statement]}), encoding="utf-8")
    (tmp_path / "settings.json").write_text('{"not": "a policy"}', encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    # WHEN the folder is loaded
    loaded = boundary.load(tmp_path)
    # THEN each policy is there with a title (the known ones say what cdk bootstrap does with them)
    titles = {p["file"]: p["title"] for p in loaded["policies"]}
    assert titles["cfn-execution-policy.json"].startswith("CloudFormation execution policy")
    assert "--custom-permissions-boundary" in titles["permissions-boundary.json"]
    assert titles["extra_guard-rails.json"] == "Extra guard rails"
    assert all(len(p["rows"]) == 1 for p in loaded["policies"])
    # AND what is not a readable policy is listed, not dropped
    assert {u["file"] for u in loaded["unreadable"]} == {"settings.json", "broken.json"}


def test_the_report_shows_the_committed_execution_policy_statement_by_statement(review):
    # GIVEN bootstrap/cfn-execution-policy.json as committed
    document = json.loads((ROOT / "bootstrap" / "cfn-execution-policy.json").read_text(encoding="utf-8"))
    # WHEN the report's boundary section is read
    (policy,) = [p for p in review.report["boundary"]["policies"] if p["file"] == "cfn-execution-policy.json"]
    # THEN every statement is a row, and the page shows each under the policy's title
    assert [r["sid"] for r in policy["rows"]] == [s.get("Sid", "") for s in document["Statement"]]
    page = review.text("report.html")
    assert policy["title"] in page
    assert page.count('<tr class="boundary-row') == review.report["counts"]["boundary.rows"]
    # AND its risk classes are cloudsplaining's own answer for the file, not a list of ours
    escalation = {r["check"]: r["items"] for r in policy["risks"]}.get("privilegeEscalation", [])
    expected = PolicyDocument(document).allows_privilege_escalation
    assert [item.split(":", 1)[0] for item in escalation] == sorted(e["type"] for e in expected)


# -- risky permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "check", "item"),
    [
        pytest.param(
            [
                {
                    "Effect": "Allow",
                    "Action": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
                    "Resource": "*",
                }
            ],
            "privilegeEscalation",
            "PassExistingRoleToNewLambdaThenInvoke: iam:passrole, lambda:createfunction, "
            "lambda:invokefunction",
            id="pass a role to a new function, unconstrained",
        ),
        pytest.param(
            [
                {
                    "Effect": "Allow",
                    "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
                    "Resource": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/App-*"},
                }
            ],
            "privilegeEscalationScoped",
            "PutRolePolicy: iam:putrolepolicy",
            id="write a policy on the app's roles: scoped, still an escalation",
        ),
        pytest.param(
            [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            "dataExfiltration",
            "s3:GetObject",
            id="read any object",
        ),
        pytest.param(
            [{"Effect": "Allow", "Action": "codebuild:StartBuild", "Resource": "*"}],
            "infrastructureModification",
            "codebuild:StartBuild",
            id="start any build",
        ),
    ],
)
def test_risky_permissions_are_classified_by_cloudsplaining(make_assembly, statements, check, item):
    # GIVEN a role whose policy allows a risky combination
    root = make_assembly(_policy_role({"Statement": statements}))
    # WHEN the stack's permissions are read
    (stack,) = assembly.load(root).stacks
    (role,) = [e for e in iam.permissions(stack) if e["kind"] == "role"]
    # THEN cloudsplaining's class names it
    assert item in {r["check"]: r["items"] for r in role["risks"]}.get(check, [])


def test_a_role_scoped_to_its_own_resources_and_denies_raise_no_risk(make_assembly):
    # GIVEN a role that reads its own bucket's objects and is denied everything on others
    bucket_objects = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]}
    root = make_assembly(
        _policy_role(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:PutObject"],
                        "Resource": bucket_objects,
                    },
                    {"Effect": "Deny", "Action": "*", "NotResource": bucket_objects},
                ]
            }
        )
    )
    # WHEN the stack's permissions are read
    (stack,) = assembly.load(root).stacks
    (role,) = [e for e in iam.permissions(stack) if e["kind"] == "role"]
    # THEN cloudsplaining finds nothing risky
    assert role["risks"] == []


# -- wildcards: Allow only -------------------------------------------------------------------------


def test_wildcards_are_flagged_on_allow_statements_only(make_assembly, tmp_path):
    # GIVEN a bucket policy that denies everyone everything over plain HTTP, and allows one reader
    document = {
        "Statement": [
            {"Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
             "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "ReaderMayRead", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:Get*",
             "Resource": "arn:aws:s3:::b/*"},
        ]
    }  # fmt: skip
    root = make_assembly(
        {
            "Policy": resource(
                "AWS::S3::BucketPolicy", "Policy/Resource", {"Bucket": "b", "PolicyDocument": document}
            )
        }
    )
    # WHEN the review is rendered
    report, page, markdown = _review(root, tmp_path)
    # THEN the Allow row is flagged in both formats, the Deny row (a wildcard that grants nothing) in neither
    (allow_md,) = [line for line in markdown.splitlines() if "`s3:Get*`" in line]
    (deny_md,) = [line for line in markdown.splitlines() if "`s3:*`" in line]
    assert "WILDCARD" in allow_md
    assert "WILDCARD" not in deny_md
    rows = re.findall(r"<tr class=\"iam-row[^\"]*\">.*?</tr>", page, re.DOTALL)
    (allow_html,) = [r for r in rows if "ReaderMayRead" in r]
    (deny_html,) = [r for r in rows if "DenyPlainHttp" in r]
    assert "wild-allow" in allow_html
    assert '<mark class="wild">' in allow_html
    assert "wild" not in deny_html
    assert report["counts"]["iam.wildcardAllowRows"] == 1


# -- acknowledgements ------------------------------------------------------------------------------


def test_acknowledgements_are_grouped_by_reason_with_their_count(review):
    # GIVEN the review of the app
    acks, groups = review.report["acknowledgements"], review.report["acknowledgementReasons"]
    # WHEN the groups are compared with the acknowledgements
    # THEN there is one group per distinct reason, counting exactly its acknowledgements, most used first
    assert sorted(g["reason"] for g in groups) == sorted({a["reason"] for a in acks})
    for group in groups:
        assert (
            group["count"]
            == len(group["acknowledgements"])
            == sum(a["reason"] == group["reason"] for a in acks)
        )
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    assert review.text("report.html").count('<tr class="reason-group') == len(groups)


def test_a_reason_speaking_of_own_resources_over_a_wildcard_reaching_others_is_flagged(make_assembly):
    # GIVEN three acknowledgements on a role's policy: two say "own" (one over everyone's log
    # groups, one over its bucket's objects), and one says "own" on an action granted on "*"
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    logs = "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/*"
    metadata: dict[str, Any] = {}
    for finding, reason in [
        (f"AwsSolutions-IAM5[{logs}]", "Writes its own log streams only."),
        ("AwsSolutions-IAM5[Resource::<Bucket1234.Arn>/*]", "Reads its own bucket's objects."),
        ("AwsSolutions-IAM5[Action::s3:Get*]", "Read-only calls on its own bucket."),
    ]:
        key = "/App/Stack/Role/DefaultPolicy/Resource"
        metadata.setdefault(key, [{"type": ACK, "data": {}}])[0]["data"][f"Annotation::{finding}"] = reason
    root = make_assembly(_policy_role(policy), metadata=metadata)
    # WHEN the acknowledgements are read
    flagged = {a["reason"]: a["ownClaimWildcards"] for a in nag.acknowledgements(assembly.load(root))}
    # THEN the words and the grant are compared: everyone's log groups and "*" are flagged, the bucket is not
    assert flagged == {
        "Writes its own log streams only.": [logs.removeprefix("Resource::")],
        "Reads its own bucket's objects.": [],
        "Read-only calls on its own bucket.": ["*"],
    }


# -- order and escaping ----------------------------------------------------------------------------


def test_the_upload_stacks_come_before_the_pipeline_in_every_format(review):
    # GIVEN the rendered review of the app
    for name, heading in (("report.html", "<h2>Stage {}</h2>"), ("report.md", "## Stage {}\n")):
        text = review.text(name)
        # WHEN the stage sections' positions are compared
        positions = [text.index(heading.format(stage)) for stage in ("Dev", "Prod", "Pipeline")]
        # THEN Dev, then Prod, then the pipeline
        assert positions == sorted(positions), name


def test_every_role_is_in_the_trust_section(review):
    # GIVEN the roles of the app
    roles = [e for e in review.report["iam"] if e["kind"] == "role"]
    # WHEN the trust section's rows are counted
    page = review.text("report.html")
    # THEN each trust statement of each role is a row (a role without one still gets its row)
    assert page.count('<tr class="trust-row') == sum(max(1, len(r["trustRows"])) for r in roles) > 0


PLANTED = '<script>alert("reason")</script>"><img src=x onerror=alert(1)>'
PATH = 'Bad"><img src=x onerror=alert(2)>'


def test_what_the_repository_puts_in_the_page_comes_out_escaped(make_assembly, tmp_path):
    # GIVEN an acknowledgement whose reason and construct path carry markup, on a role whose
    # trust names a principal with markup, and a bootstrap policy whose Sid does too
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": '"><img src=x onerror=alert(3)>'},
                            "Action": "sts:AssumeRole"}]}  # fmt: skip
    root = make_assembly(
        {"Role": resource("AWS::IAM::Role", f"{PATH}/Resource", {"AssumeRolePolicyDocument": trust})},
        metadata=_ack(PATH, "AwsSolutions-IAM5[Resource::*]", PLANTED),
    )
    bootstrap = tmp_path / "bootstrap"
    bootstrap.mkdir()
    statement = {"Sid": "<script>alert(4)</script>", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    (bootstrap / "x.json").write_text(json.dumps({"Statement": [statement]}), encoding="utf-8")
    # WHEN the review is rendered
    report, page, _ = _review(root, tmp_path, bootstrap)
    # THEN no planted tag reaches the page as markup: each is there as text, escaped
    assert report["acknowledgements"][0]["reason"] == PLANTED
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert (
        "&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
        in page
    )
    assert "Bad&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "onerror=alert(3)" in page
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in page


def test_every_template_is_rendered_with_autoescaping():
    # GIVEN the report's Jinja2 environment and its templates (package data in
    # tools/pipeline_checks/review/templates)
    environment = html_report.ENVIRONMENT
    names = environment.list_templates()
    # WHEN each is asked whether it escapes
    # THEN autoescaping is on for every one, the page's pieces included
    assert {"report.html.j2", "stack.html.j2", "macros.html.j2", "how-to-read.html.j2"} <= set(names)
    assert all(environment.autoescape is True or environment.autoescape(name) for name in names)
