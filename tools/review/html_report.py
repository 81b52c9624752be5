"""The review as one self-contained HTML page: inline CSS, no script, no external reference.

It opens from a downloaded build artifact with no network, prints (print CSS: no navigation,
rows kept whole, colours kept), and every number in it carries `data-count="<name>"` (and
`data-stack` for a stack's own), so a test can compare the rendered page with report.json.
"""

from __future__ import annotations

from html import escape
from typing import Any

from tools.review.diff import title as category_title
from tools.review.scanners import RAN

_CSS = """
:root { --bad: #b42318; --bad-bg: #fef3f2; --warn: #b54708; --warn-bg: #fffaeb; --ok: #067647;
  --ok-bg: #ecfdf3; --muted: #475467; --line: #d0d5dd; --head: #f2f4f7; --wild: #fde2e1; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #101828;
  margin: 0 auto; padding: 24px 32px 64px; max-width: 1400px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; border-bottom: 2px solid #101828; padding-bottom: 4px; }
h3 { font-size: 17px; margin: 28px 0 6px; } h4 { font-size: 15px; margin: 20px 0 6px; }
h5 { font-size: 14px; margin: 14px 0 4px; }
.meta, .muted, small { color: var(--muted); }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
td code { overflow-wrap: anywhere; }
td.nowrap code { overflow-wrap: normal; white-space: nowrap; }
nav.toc { margin: 12px 0 0; } nav.toc a { margin-right: 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px;
  margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; }
.card .num { display: block; font-size: 26px; font-weight: 700; }
.card.bad { border-color: var(--bad); background: var(--bad-bg); } .card.bad .num { color: var(--bad); }
.card.warn { border-color: var(--warn); background: var(--warn-bg); } .card.warn .num { color: var(--warn); }
.card.ok .num { color: var(--ok); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 5px 7px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.acks col.id { width: 22%; } table.acks col.on { width: 14%; } table.acks col.covers { width: 28%; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid currentColor; }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.muted { color: var(--muted); }
tr.wild-allow td { background: var(--wild); } tr.wild-deny td { background: #fff7f6; }
mark.wild { background: var(--bad); color: #fff; font-weight: 700; padding: 0 2px; border-radius: 3px; }
ul.covers { margin: 0; padding-left: 16px; }
.none { color: var(--muted); font-style: italic; margin: 4px 0 10px; }
.callout { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 8px 12px;
  margin: 10px 0; }
.callout.bad { border-color: var(--bad); background: var(--bad-bg); }
section.stack { border-top: 1px solid var(--line); }
@media print {
  body { font-size: 9.5pt; padding: 0; max-width: none; }
  nav.toc { display: none; }
  section.stage { break-before: page; }
  tr, .card { break-inside: avoid; }
  h2, h3, h4, h5 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

# (count name, label, tone when above zero)
_COUNT_LABELS = [
    ("findings.failed", "unacknowledged cdk-nag findings", "bad"),
    ("findings.warnings", "validation warnings", "warn"),
    ("acknowledgements", "acknowledged findings (each with a reason)", ""),
    ("checkov.failed", "checkov failed checks", "bad"),
    ("checkov.skipped", "checkov skips (each with a reason)", ""),
    ("checkov.passed", "checkov passed checks", "ok"),
    ("cfnLint.findings", "cfn-lint findings", "bad"),
    ("cfnLint.ignores", "cfn-lint ignores (each with a reason)", ""),
    ("iam.roles", "IAM roles", ""),
    ("iam.resourcePolicies", "resource policies and permissions", ""),
    ("iam.rows", "IAM permission rows", ""),
    ("iam.wildcardAllowRows", "Allow rows with a wildcard", "warn"),
    ("iam.wildcardRows", "rows with a wildcard (Allow or Deny)", ""),
    ("gates.failed", "security gates failed", "bad"),
    ("gates.notChecked", "security gates NOT CHECKED", "warn"),
    ("gates.passed", "security gates passed", "ok"),
    ("stacks", "stacks", ""),
]
_STACK_COLUMNS = [
    ("findings.failed", "failed"),
    ("findings.warnings", "warnings"),
    ("acknowledgements", "acks"),
    ("checkov.failed", "checkov failed"),
    ("checkov.skipped", "checkov skipped"),
    ("cfnLint.findings", "cfn-lint"),
    ("cfnLint.ignores", "cfn-lint ignored"),
    ("iam.roles", "roles"),
    ("iam.wildcardAllowRows", "wildcard Allow rows"),
]
_GATE_BADGE = {"passed": "ok", "failed": "bad", "not checked": "warn"}
_DIFF_CARDS = [
    ("diff.new", "new", "warn"),
    ("diff.changed", "reasons changed", "warn"),
    ("diff.removed", "removed", ""),
    ("diff.unchanged", "unchanged", ""),
]


def render(report: dict[str, Any]) -> str:
    source = report["source"]
    commit = source.get("commit", "unknown")
    meta = (
        f"commit {_code(commit)} · build {_code(source.get('build', ''))} · generated "
        f"{escape(report['generatedAt'])} · assembly {_code(report['assembly'])} · "
        f"{report['counts']['stacks']} stacks in {len(report['stages'])} stages"
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Security review {escape(commit[:12])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header><h1>Security review</h1><p class="meta">{meta}</p>{_toc(report)}</header>',
        _summary(report),
    ]
    if "diff" in report:
        parts.append(_changes(report["diff"]))
    parts.append(_gates(report["gates"]))
    for stage in report["stages"]:
        parts.append(f'<section class="stage" id="stage-{_anchor(stage)}"><h2>Stage {escape(stage)}</h2>')
        parts += [_stack(report, stack) for stack in report["stacks"] if stack["stage"] == stage]
        parts.append("</section>")
    parts += [_gate_findings(report["gates"]), _HOW_TO_READ, "</body></html>"]
    return "\n".join(parts)


# -- small builders ----------------------------------------------------------------------------


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def _wild(text: str) -> str:
    """Escaped, with every `*` marked: a reviewer's eye goes to wildcards first."""
    return escape(text).replace("*", '<mark class="wild">*</mark>')


def _codes(values: list[str]) -> str:
    return "<br>".join(f"<code>{_wild(v)}</code>" for v in values) or "-"


def _badge(tone: str, text: str) -> str:
    return f'<span class="badge {tone}">{escape(text)}</span>'


def _reason(reason: str) -> str:
    return escape(reason) if reason else _badge("bad", "NO REASON GIVEN")


def _row(css: str, *cells: str) -> str:
    return f'<tr class="{css}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _table(headers: list[str], rows: list[str], css: str = "", cols: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table class="{css}">{cols}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _card(key: str, value: int, label: str, css: str) -> str:
    return f'<div class="card {css}"><span class="num" data-count="{key}">{value}</span>{escape(label)}</div>'


# -- sections --------------------------------------------------------------------------------


def _toc(report: dict[str, Any]) -> str:
    links = [("summary", "Summary")]
    if "diff" in report:
        links.append(("changes", "Changes since baseline"))
    links.append(("gates", "Build gates"))
    links += [(f"stage-{_anchor(stage)}", f"Stage {stage}") for stage in report["stages"]]
    links.append(("how-to-read", "How to read this"))
    return '<nav class="toc">' + "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in links) + "</nav>"


def _summary(report: dict[str, Any]) -> str:
    counts = report["counts"]
    cards = []
    for key, label, tone in _COUNT_LABELS:
        value = counts.get(key, 0)
        # A "bad" count at zero is good news; other tones only colour a count above zero.
        css = tone if tone and value else ("ok" if tone == "bad" else "")
        cards.append(_card(key, value, label, css))
    notes = []
    if not report["validationReport"].startswith("read"):
        notes.append(f'<p class="callout bad">cdk-nag: {escape(report["validationReport"])}</p>')
    for tool, status in (("checkov", report["checkov"]["status"]), ("cfn-lint", report["cfnLint"]["status"])):
        if status != RAN:
            notes.append(f'<p class="callout bad">{tool} {escape(status)}</p>')
    rows = []
    for stack in report["stacks"]:
        name = escape(stack["stack"])
        cells = "".join(
            f'<td class="num" data-stack="{name}" data-count="{key}">{stack["counts"][key]}</td>'
            for key, _ in _STACK_COLUMNS
        )
        link = f'<a href="#stack-{_anchor(stack["stack"])}">{name}</a>'
        rows.append(f"<tr><td>{escape(stack['stage'])}</td><td>{link}</td>{cells}</tr>")
    headers = "".join(f'<th class="num">{escape(label)}</th>' for _, label in _STACK_COLUMNS)
    return (
        '<section id="summary"><h2>Summary</h2>'
        + "".join(notes)
        + f'<div class="cards">{"".join(cards)}</div>'
        + f"<table><thead><tr><th>stage</th><th>stack</th>{headers}</tr></thead>"
        + f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _changes(diff: dict[str, Any]) -> str:
    baseline = diff["baseline"]
    counts = diff["counts"]
    out = [
        '<section id="changes"><h2>Changes since baseline</h2>',
        f'<p class="meta">baseline {_code(baseline["path"])}, commit {_code(baseline["commit"])}, '
        f"generated {escape(baseline['generatedAt'])}</p>",
        '<div class="cards">',
        *(_card(key, counts[key], label, tone if counts[key] else "") for key, label, tone in _DIFF_CARDS),
        "</div>",
    ]
    for heading, group in (("New", "new"), ("Reason changed", "changed"), ("Removed", "removed")):
        for category, items in diff[group].items():
            if items:
                out.append(f"<h3>{heading}: {escape(category_title(category))} ({len(items)})</h3>")
                out.append(_diff_table(category, items, changed=group == "changed"))
    if not counts["diff.new"] + counts["diff.changed"] + counts["diff.removed"]:
        out.append('<p class="none">Nothing was added, changed or removed.</p>')
    unchanged = ", ".join(f"{category_title(c)}: {n}" for c, n in diff["unchanged"].items())
    out.append(f'<p class="muted">Unchanged: {escape(unchanged)}.</p></section>')
    return "\n".join(out)


def _diff_table(category: str, items: list[dict[str, Any]], *, changed: bool) -> str:
    rows = []
    for item in items:
        if category == "iamRows":
            what = (
                f"{escape(item['kind'])} <b>{escape(item['entity'])}</b>: {escape(item['effect'])} "
                f"{_codes(item['actions'])} on {_codes(item['resources'])}"
            )
        else:
            what = f"<code>{_wild(item['key'])}</code>"
        if changed:
            detail = (
                f"<b>before:</b> {escape(item['before'])}<br><b>now:</b> {escape(item.get('reason', ''))}"
            )
        else:
            detail = escape(item.get("reason") or item.get("description") or item.get("checkName") or "")
        rows.append(_row(f"diff-{category}", escape(f"{item['stage']} / {item['stack']}"), what, detail))
    return _table(["where", "what", "reason / detail"], rows)


def _gates(gates: dict[str, Any]) -> str:
    out = ['<section id="gates"><h2>Build gates</h2>']
    if gates["status"] != "ran":
        out.append(f'<p class="callout bad">{escape(gates["status"])}</p></section>')
        return "\n".join(out)
    mode = (
        "strict: a gate that could not check fails the build"
        if gates["strict"]
        else "not strict (outside the pipeline): a gate that could not check is reported NOT CHECKED"
    )
    out.append(f'<p class="meta">{escape(mode)}</p>')
    rows = []
    for gate in gates["results"]:
        artifacts = "".join(f"<br>{_code(a)}" for a in gate.get("artifacts", []))
        rows.append(
            _row(
                "gate",
                f"<b>{escape(gate['gate'])}</b><br><small>{escape(gate['title'])}</small>",
                _badge(_GATE_BADGE.get(gate["status"], "bad"), gate["status"].upper()),
                escape(gate["summary"]) + artifacts,
                f"<small>{escape(gate.get('tool', ''))}</small>",
            )
        )
    out.append(_table(["gate", "result", "summary", "tool"], rows))
    if any(gate["findings"] for gate in gates["results"]):
        out.append(
            '<p class="muted">What the gates found is <a href="#gate-findings">after the stages</a>.</p>'
        )
    out.append("</section>")
    return "\n".join(out)


def _gate_findings(gates: dict[str, Any]) -> str:
    """Every gate's findings (bandit's low ones too), after the stages: detail, not the headline."""
    if gates["status"] != "ran" or not any(gate["findings"] for gate in gates["results"]):
        return ""
    out = ['<section id="gate-findings"><h2>What the gates found</h2>']
    for gate in gates["results"]:
        if not gate["findings"]:
            continue
        out.append(f"<h4>{escape(gate['gate'])}: {len(gate['findings'])} finding(s)</h4>")
        rows = [
            f"<tr><td>{_badge(_severity_tone(f.get('severity', '')), f.get('severity') or '-')}</td>"
            f'<td>{_code(f["id"])}</td><td class="nowrap">{_code(f["where"])}</td>'
            f"<td>{escape(f['message'])}</td></tr>"
            for f in gate["findings"]
        ]
        out.append(_table(["severity", "id", "where", "message"], rows))
    out.append("</section>")
    return "\n".join(out)


def _severity_tone(severity: str) -> str:
    return {"HIGH": "bad", "MEDIUM": "warn"}.get(severity, "muted")


def _stack(report: dict[str, Any], stack: dict[str, Any]) -> str:
    name = stack["stack"]

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["stack"] == name]

    heading = (
        f"<h3>Stack {escape(name)} <small>{escape(stack['templateFile'])} · {stack['resources']} resources · "
        f"construct {escape(stack['constructPath'])}</small></h3>"
    )
    checkov, cfn_lint = report["checkov"], report["cfnLint"]
    return "\n".join(
        [
            f'<section class="stack" id="stack-{_anchor(name)}">{heading}',
            _controls(mine(report.get("controls", []))),
            _findings(mine(report["findings"])),
            _acknowledgements(mine(report["acknowledgements"])),
            _checkov(checkov["status"], stack, mine(checkov["failed"]), mine(checkov["skipped"])),
            _cfn_lint(cfn_lint["status"], mine(cfn_lint["findings"]), mine(cfn_lint["ignores"])),
            _iam(mine(report["iam"])),
            "</section>",
        ]
    )


def _findings(findings: list[dict[str, Any]]) -> str:
    failed = sum(1 for f in findings if f["severity"] == "error")
    head = f"<h4>cdk-nag findings that failed ({failed}) and warnings ({len(findings) - failed})</h4>"
    if not findings:
        return head + '<p class="none">None: every cdk-nag rule passed here or is acknowledged below.</p>'
    rows = []
    for f in findings:
        resource = _code(f["construct"])
        if f["logicalId"]:
            resource += f"<br><small>{escape(f['logicalId'])} ({escape(f['resourceType'])})</small>"
        tone = "bad" if f["severity"] == "error" else "warn"
        rows.append(
            _row(
                "finding",
                _badge(tone, f["severity"]),
                escape(f["pack"]),
                _code(f["rule"]),
                resource,
                escape(f["description"]),
            )
        )
    return head + _table(["severity", "pack", "rule", "resource", "description"], rows)


def _acknowledgements(acks: list[dict[str, Any]]) -> str:
    head = f"<h4>Acknowledged cdk-nag findings ({len(acks)})</h4>"
    if not acks:
        return head + '<p class="none">None.</p>'
    rows = []
    for a in acks:
        covers = "".join(
            f"<li>{_code(c['path'])} <small>{escape(c['type'])} {escape(c['logicalId'])}</small></li>"
            for c in a["covers"]
        )
        covers = covers or "<li><i>no resource below this construct</i></li>"
        rows.append(
            _row(
                "ack",
                f"<code>{_wild(a['findingId'])}</code>",
                _code(a["construct"]),
                f'<ul class="covers">{covers}</ul>',
                _reason(a["reason"]),
            )
        )
    cols = '<colgroup><col class="id"><col class="on"><col class="covers"><col></colgroup>'
    headers = ["finding id", "acknowledged on", "resources it covers", "reason"]
    return head + _table(headers, rows, css="acks", cols=cols)


def _checkov(
    status: str, stack: dict[str, Any], failed: list[dict[str, Any]], skipped: list[dict[str, Any]]
) -> str:
    if status != RAN:
        return f'<h4>checkov</h4><p class="callout bad">checkov {escape(status)}</p>'
    out = [f"<h4>checkov: {stack['checkovPassed']} passed, {len(failed)} failed, {len(skipped)} skipped</h4>"]
    if failed:
        rows = [
            _row(
                "checkov-failed",
                f"{_badge('bad', 'failed')} {_code(c['checkId'])}",
                _code(c["resource"]),
                escape(c["checkName"]),
            )
            for c in failed
        ]
        out.append(_table(["check", "resource", "what it checks"], rows))
    if skipped:
        rows = [
            _row(
                "checkov-skip",
                _code(c["checkId"]),
                _code(c["resource"]),
                escape(c["checkName"]),
                _reason(c["reason"]),
            )
            for c in skipped
        ]
        out.append(_table(["skipped check", "resource", "what it checks", "reason"], rows))
    return "\n".join(out)


def _cfn_lint(status: str, findings: list[dict[str, Any]], ignores: list[dict[str, Any]]) -> str:
    if status != RAN:
        return f'<h4>cfn-lint</h4><p class="callout bad">cfn-lint {escape(status)}</p>'
    out = [f"<h4>cfn-lint: {len(findings)} finding(s), {len(ignores)} ignored rule(s)</h4>"]
    if findings:
        rows = [
            _row(
                "cfn-lint-finding",
                f"{_badge('bad', m['level'])} {_code(m['rule'])}",
                f"{_code(m['location'])} line {m['line']}",
                escape(m["message"]),
            )
            for m in findings
        ]
        out.append(_table(["rule", "where", "message"], rows))
    if ignores:
        rows = [
            _row("cfn-lint-ignore", _code(i["rule"]), _code(i["resource"]), _reason(i["reason"]))
            for i in ignores
        ]
        out.append(_table(["ignored rule", "resource", "reason"], rows))
    return "\n".join(out)


def _iam(entities: list[dict[str, Any]]) -> str:
    roles = [e for e in entities if e["kind"] == "role"]
    policies = [e for e in entities if e["kind"] != "role"]
    out = [f"<h4>IAM: what each role may do ({len(roles)} roles)</h4>"]
    for role in roles:
        trust = "; ".join(role.get("trust", [])) or "nobody (no trust policy)"
        out.append(f"<h5>role {_code(role['principal'])}</h5>")
        out.append(f'<p class="muted">assumed by: {escape(trust)}</p>')
        out.append(_rows(role["rows"], principal_column=False))
    out.append(f"<h4>Resource policies: who may do what to a resource ({len(policies)})</h4>")
    for policy in policies:
        out.append(f"<h5>{escape(policy['kind'])} on {_code(policy['principal'])}</h5>")
        out.append(_rows(policy["rows"], principal_column=True))
    return "\n".join(out)


def _rows(rows: list[dict[str, Any]], *, principal_column: bool) -> str:
    if not rows:
        return '<p class="none">No permissions.</p>'
    out = []
    for row in rows:
        css = "iam-row"
        effect = escape(row["effect"])
        if row["wildcards"]:
            css += " wild-allow" if row["effect"] == "Allow" else " wild-deny"
            if row["effect"] == "Allow":
                effect += " " + _badge("bad", "wildcard")
        if row["managed"]:
            effect += " " + _badge("warn", "managed policy: not expanded")
        via = escape(row["via"]) + (f" · {escape(row['sid'])}" if row["sid"] else "")
        cells = [
            effect,
            _codes(row["actions"]),
            _codes(row["resources"]),
            f"<small>{escape(row['condition']) or '-'}</small>",
            f"<small>{via}</small>",
        ]
        if principal_column:
            cells.insert(0, f"<code>{_wild(row['principal'])}</code>")
        out.append(_row(css, *cells))
    headers = ["effect", "actions", "resources", "condition", "granted by"]
    return _table(["principal", *headers] if principal_column else headers, out)


_HOW_TO_READ = """<section id="how-to-read"><h2>How to read this</h2><ul>
<li><b>Failed findings</b> are cdk-nag rules that do not hold and that nobody acknowledged:
the build fails on them.</li>
<li><b>Acknowledged findings</b> are decisions: the finding id is exact (a wildcard resource is
named), the construct is where the acknowledgement sits, and <i>resources it covers</i> are the
CloudFormation resources below it that it silences. Judge each reason: does it say what
compensates?</li>
<li><b>checkov skips and cfn-lint ignores</b> are the same kind of decision, recorded in the
resource's template metadata with their reason.</li>
<li><b>IAM rows</b> are one policy statement each. <mark class="wild">*</mark> marks a wildcard;
an Allow row with one is highlighted. Names in &lt;angle brackets&gt; are resources of the same
stack (&lt;UploadBucket.Arn&gt;); ${AWS::AccountId} and friends are the deploying account's
values.</li>
<li><b>Build gates</b> ran on the repository (secrets, bandit, pip-audit, SBOMs); NOT CHECKED
means the result is unknown, never that it passed.</li></ul></section>"""


def _controls(items: list[dict[str, Any]]) -> str:
    """Data-protection controls (tools/review/controls.py); a weaker choice gets a warning badge."""
    if not items:
        return ""
    rows = [
        _row(
            "control",
            escape(c["control"]),
            _code(c["subject"]),
            escape(c["value"]),
            _badge("ok", "ok") if c["ok"] else _badge("warn", "weaker"),
        )
        for c in items
    ]
    return f"<h4>Data-protection controls ({len(items)})</h4>" + _table(["control", "on", "value", ""], rows)
