"""The review as Markdown: the same content as the HTML page, for a pull request or a terminal."""

from __future__ import annotations

from typing import Any

from tools.pipeline_checks.review.diff import title as category_title
from tools.pipeline_checks.review.scanners import RAN


def render(report: dict[str, Any]) -> str:
    counts = report["counts"]
    source = report["source"]
    out = [
        "# Security review",
        "",
        f"commit `{source.get('commit', '')}` · build `{source.get('build', '')}` · generated "
        f"{report['generatedAt']} · assembly `{report['assembly']}`",
        "",
        "## Summary",
        "",
        "| what | count |",
        "|---|---:|",
    ]
    out += [f"| {key} | {value} |" for key, value in counts.items()]
    if not report["validationReport"].startswith("read"):
        out += ["", f"**cdk-nag: {report['validationReport']}**"]
    for tool, status in (("checkov", report["checkov"]["status"]), ("cfn-lint", report["cfnLint"]["status"])):
        if status != RAN:
            out += ["", f"**{tool} {status}**"]
    out += [
        "",
        "| stage | stack | failed | warnings | acks | checkov failed | checkov skipped | cfn-lint | "
        "cfn-lint ignored | wildcard Allow rows | risky classes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for stack in report["stacks"]:
        numbers = " | ".join(str(stack["counts"][key]) for key in _STACK_COLUMNS)
        out.append(f"| {stack['stage']} | {stack['stack']} | {numbers} |")
    if "diff" in report:
        out += _changes(report["diff"])
    out += _gates(report["gates"])
    out += _claims(report.get("claims", {"status": "not read", "claims": []}))
    out += _boundary(report["boundary"])
    out += _delivery(report.get("delivery", {"status": "not read", "flags": []}))
    out += _risks(report["risks"])
    out += _trust(report["iam"])
    out += _reasons(report)
    for stage in report["stages"]:
        out += ["", f"## Stage {stage}"]
        for stack in [s for s in report["stacks"] if s["stage"] == stage]:
            out += _stack(report, stack)
    return "\n".join(out) + "\n"


_STACK_COLUMNS = [
    "findings.failed",
    "findings.warnings",
    "acknowledgements",
    "checkov.failed",
    "checkov.skipped",
    "cfnLint.findings",
    "cfnLint.ignores",
    "iam.wildcardAllowRows",
    "risks.findings",
]
_OWN_CLAIM = '**says "own", grants a wildcard over others\' resources:**'
_BOUNDARY_GIVEN = "with `--custom-permissions-boundary BOUNDARY`"


def _boundary(boundary: dict[str, Any]) -> list[str]:
    out = ["", "## Deployment boundary", ""]
    out.append(
        f"The IAM policies in `{boundary['directory'] or 'bootstrap/'}` that `cdk bootstrap` installs."
    )
    if boundary["status"] != "read":
        out += ["", f"**bootstrap policies {boundary['status']}**"]
    for policy in boundary["policies"]:
        out += ["", f"### {policy['title']}", "", f"`bootstrap/{policy['file']}`", ""]
        out += _statement_table(policy["rows"])
        for risk in policy["risks"]:
            out += [
                "",
                f"cloudsplaining: **{risk['title']}** ({len(risk['items'])}): " + _items(risk["items"]),
            ]
    out += ["", *[f"**`{u['file']}`: {u['problem']}**" for u in boundary["unreadable"]]]
    return out


def _delivery(delivery: dict[str, Any]) -> list[str]:
    out = ["", "## Delivery path", ""]
    if delivery["status"] != "read":
        return [*out, f"**delivery path {delivery['status']}**"]
    out += [
        f"From `{delivery['stack']}`'s template, the bootstrap template, cdk.json and the gate table.",
        "",
    ]
    out += ["### Flags", ""]
    out += [
        f"- **{f['severity']}** `{f['rule']}` at `{_cell(f['construct'])}`: {f['description']}"
        for f in delivery["flags"]
    ] or ["None."]
    out += [
        "",
        "### Stages and actions",
        "",
        "| stage | order | action | kind | category / provider | in → out |",
    ]
    out.append("|---|---:|---|---|---|---|")
    for stage in delivery["pipeline"]:
        for a in stage["actions"]:
            flow = f"{', '.join(a['inputs']) or '-'} → {', '.join(a['outputs']) or '-'}"
            out.append(
                f"| {stage['name']} | {a['runOrder']} | `{_cell(a['name'])}` | **{a['kind']}** | "
                f"{a['category']} / {a['provider']} | {_cell(flow)} |"
            )
    out += ["", "### CodeBuild projects"]
    for p in delivery["projects"]:
        inputs = ", ".join(f"`{i['artifact']}` (from {i['from']})" for i in p["inputs"]) or "none"
        assumes = ", ".join(f"{g['kind']} ({g['reach']})" for g in p["assumes"]) or "no bootstrap role"
        out += ["", f"#### `{_cell(p['project'])}`", ""]
        out += [f"- run by: {', '.join(p['actions']) or 'no action'}; buildspec: {p['buildspec']}"]
        targets = ", ".join(f"`{_cell(t)}`" for t in p["assumeTargets"]) or "nothing"
        out += [f"- input: {inputs}", f"- role `{_cell(p['role'])}`: sts:AssumeRole on {targets}"]
        out += [f"  - bootstrap roles among them: {assumes}"]
        for phase in p["phases"]:
            out.append(f"- {phase['phase']}: " + "; ".join(f"`{_cell(c)}`" for c in phase["commands"]))
        for i in p["installs"]:
            out.append(f"  - install **{i['verdict']}**: `{_cell(i['command'])}` (via {_cell(i['via'])})")
    out += _delivery_trust(delivery)
    gates = delivery["gates"]
    out += ["", "### What each gate sees", "", f"From `{gates['source']}` ({gates['status']})."]
    if gates["rows"]:
        out += ["", "| gate | in this pipeline | sees | does not see |", "|---|---|---|---|"]
        out += [
            f"| `{_cell(g['gate'])}` | {_cell('; '.join(g['actions'])) or '**not in this pipeline**'} | "
            f"{_cell(g['sees'])} | {_cell(g['doesNotSee'])} |"
            for g in gates["rows"]
        ]
    return out


def _delivery_trust(delivery: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### Roles that may assume a bootstrap role",
        "",
        "| role | bootstrap role | reach | trusted by name |",
    ]
    out.append("|---|---|---|---|")
    for a in delivery["assumes"]:
        for g in a["grants"]:
            trusted = "yes" if g["trustedByName"] else "**no**"
            out.append(
                f"| `{_cell(a['role'])}` | {g['kind']} | {g['reach']}: `{_cell(g['resource'])}` | {trusted} |"
            )
    out += ["", "### Bootstrap roles and their trust", ""]
    out.append("In a stage account bootstrapped with `--trust` the pipeline's account:")
    for b in delivery["bootstrap"]:
        named = ", ".join(f"`{n}`" for n in b["namesPipelineRoles"]) or "none"
        out += ["", f"#### {b['kind']}: `{b['name']}`", "", f"Pipeline roles it names: {named}.", ""]
        out += [f"Permissions boundary ({_BOUNDARY_GIVEN}): `{b.get('boundary', 'not read')}`.", ""]
        out += ["| effect | principal | actions | condition |", "|---|---|---|---|"]
        out += [
            f"| {r['effect']} | `{_cell(r['principal'])}` | {', '.join(r['actions'])} | "
            f"{_cell(r['condition']) or '-'} |"
            for r in b["trustRows"]
        ]
    topology = delivery["topology"]
    out += ["", "### Accounts", "", f"From `{topology['source']}` ({topology['status']})."]
    if topology["accounts"]:
        out += ["", "| account of | account | region | the pipeline's account |", "|---|---|---|---|"]
        out += [
            f"| {a['name']} | {_cell(a['account'])} | {a['region']} | "
            f"{'yes' if a['inPipelineAccount'] else 'no'} |"
            for a in topology["accounts"]
        ]
        shared = (
            "**dev and prod share one account**" if topology["shared"] else "dev and prod in two accounts"
        )
        reason = f": {topology['sharedReason']}" if topology.get("sharedReason") else ""
        out += ["", shared + _cell(reason)]
        out += ["", f"API Gateway's account-level logging role: {_cell(topology['apiGatewayAccountRole'])}."]
    out += ["", "As synthesized:", "", "| stage | stack | account | region | the pipeline's account |"]
    out.append("|---|---|---|---|---|")
    out += [
        f"| {e['stage']} | {e['stack']} | {e['account']} | {e['region']} | "
        f"{'yes' if e['inPipelineAccount'] else 'no'} |"
        for e in delivery["environments"]
    ]
    return out


def _risks(risks: list[dict[str, Any]]) -> list[str]:
    out = ["", "## Risky permissions (cloudsplaining)", ""]
    if not risks:
        return [*out, "None."]
    out += ["| where | principal | risk | what allows it |", "|---|---|---|---|"]
    out += [
        f"| {r['stage']} / {r['stack']} | {r['kind']} `{_cell(r['principal'])}` | {r['title']} | "
        f"{_cell(_items(r['items']))} |"
        for r in risks
    ]
    return out


def _trust(entities: list[dict[str, Any]]) -> list[str]:
    out = ["", "## Who may assume each role", "", "| where | role | trust |", "|---|---|---|"]
    out += [
        f"| {e['stage']} / {e['stack']} | `{_cell(e['principal'])}` | "
        f"{_cell('; '.join(e.get('trust', [])) or 'nobody (no trust policy)')} |"
        for e in entities
        if e["kind"] == "role"
    ]
    return out


def _reasons(report: dict[str, Any]) -> list[str]:
    groups = report["acknowledgementReasons"]
    out = ["", "## Acknowledgements by reason", ""]
    out += [f"{len(groups)} distinct reasons for {len(report['acknowledgements'])} acknowledgements.", ""]
    if not groups:
        return [*out, "None."]
    out += ["| count | reason | findings |", "|---:|---|---|"]
    for group in groups:
        flag = f"<br>{_OWN_CLAIM} {group['ownClaimsFlagged']}" if group["ownClaimsFlagged"] else ""
        findings = "<br>".join(
            f"{a['stage']} `{_cell(a['construct'])}` `{_cell(a['findingId'])}`"
            for a in group["acknowledgements"]
        )
        out.append(f"| {group['count']} | {_cell(group['reason'])}{flag} | {findings} |")
    return out


def _items(items: list[str], shown: int = 12) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(f"`{i}`" for i in items[:shown]) + more


def _statement_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| effect | actions | resources | condition | sid |", "|---|---|---|---|---|"]
    for row in rows:
        flag = " **WILDCARD**" if row["wildcards"] and row["effect"] == "Allow" else ""
        actions = "<br>".join(f"`{_cell(a)}`" for a in row["actions"])
        resources = "<br>".join(f"`{_cell(r)}`" for r in row["resources"])
        out.append(
            f"| {row['effect']}{flag} | {actions} | {resources} | {_cell(row['condition']) or '-'} | "
            f"{_cell(row['sid'])} |"
        )
    return out


def _changes(diff: dict[str, Any]) -> list[str]:
    baseline = diff["baseline"]
    out = [
        "",
        "## Changes since baseline",
        "",
        f"baseline `{baseline['path']}`, commit `{baseline['commit']}`, generated {baseline['generatedAt']}: "
        + ", ".join(f"{k.removeprefix('diff.')} {v}" for k, v in diff["counts"].items()),
    ]
    for heading, group in (("New", "new"), ("Reason changed", "changed"), ("Removed", "removed")):
        for category, items in diff[group].items():
            if not items:
                continue
            out += ["", f"### {heading}: {category_title(category)} ({len(items)})", ""]
            for item in items:
                detail = item.get("reason") or item.get("description") or item.get("checkName") or ""
                if group == "changed":
                    detail = f"before: {item['before']} / now: {item.get('reason', '')}"
                out.append(
                    f"- {item['stage']} / {item['stack']}: `{_cell(item['key'])}`"
                    + (f": {detail}" if detail else "")
                )
    unchanged = ", ".join(f"{category_title(c)}: {n}" for c, n in diff["unchanged"].items())
    return [*out, "", f"Unchanged: {unchanged}."]


def _gates(gates: dict[str, Any]) -> list[str]:
    out = ["", "## Build gates", ""]
    if gates["status"] != "ran":
        return [*out, f"**{gates['status']}**"]
    out += ["| gate | result | summary | tool |", "|---|---|---|---|"]
    out += [
        f"| {g['gate']} | **{g['status'].upper()}** | {_cell(g['summary'])} | {_cell(g.get('tool', ''))} |"
        for g in gates["results"]
    ]
    for gate in gates["results"]:
        if gate["findings"]:
            out += ["", f"{gate['gate']}: {len(gate['findings'])} finding(s)", ""]
            out += [
                f"- {f.get('severity') or '-'} `{f['id']}` at `{f['where']}`: {f['message']}"
                for f in gate["findings"]
            ]
    return out


def _claims(claims: dict[str, Any]) -> list[str]:
    out = ["", "## Trust claims (README) and the tests that check them", ""]
    if claims["status"] != "read":
        out += [f"**{claims['status']}**", ""]
    out += ["| claim | verdict | tests (passed / failed / skipped cases) |", "|---|---|---|"]
    for claim in claims["claims"]:
        tests = "<br>".join(
            f"`{t['test']}` {t.get('passed', 0)}/{t.get('failed', 0)}/{t.get('skipped', 0)}"
            for t in claim["tests"]
        )
        verdict = claim["verdict"] + (f": {claim['why']}" if claim["why"] else "")
        out.append(f"| {_cell(claim['readme'])} | **{_cell(verdict)}** | {tests} |")
    return out


def _stack(report: dict[str, Any], stack: dict[str, Any]) -> list[str]:
    name = stack["stack"]

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if i["stack"] == name]

    out = ["", f"### Stack {name}", "", f"`{stack['templateFile']}`, {stack['resources']} resources", ""]
    out += _controls(mine(report.get("controls", [])))
    findings = mine(report["findings"])
    out.append(f"#### Findings: cdk-nag, delivery path ({len(findings)})")
    out += [""] + (
        [
            f"- **{f['severity']}** {f['pack']} `{f['rule']}` at `{f['construct']}` {f['logicalId']}: "
            + f["description"]
            for f in findings
        ]
        or ["None."]
    )
    acks = mine(report["acknowledgements"])
    out += ["", f"#### Acknowledged cdk-nag findings ({len(acks)})", ""]
    if acks:
        out += ["| finding id | acknowledged on | resources it covers | reason |", "|---|---|---|---|"]
        out += [
            f"| `{_cell(a['findingId'])}` | `{_cell(a['construct'])}` | "
            + "<br>".join(f"`{_cell(c['path'])}` ({c['type']})" for c in a["covers"])
            + f" | {_cell(a['reason'])}"
            + (
                f"<br>{_OWN_CLAIM} `{_cell(', '.join(a['ownClaimWildcards']))}`"
                if a["ownClaimWildcards"]
                else ""
            )
            + " |"
            for a in acks
        ]
    else:
        out.append("None.")
    failed, skipped = mine(report["checkov"]["failed"]), mine(report["checkov"]["skipped"])
    out += [
        "",
        f"#### checkov: {stack['checkovPassed']} passed, {len(failed)} failed, {len(skipped)} skipped",
        "",
    ]
    out += [f"- **FAILED** `{c['checkId']}` on `{c['resource']}`: {c['checkName']}" for c in failed]
    out += [
        f"- skipped `{c['checkId']}` on `{c['resource']}` ({c['checkName']}): "
        + (c["reason"] or "NO REASON GIVEN")
        for c in skipped
    ]
    lint, ignores = mine(report["cfnLint"]["findings"]), mine(report["cfnLint"]["ignores"])
    out += ["", f"#### cfn-lint: {len(lint)} finding(s), {len(ignores)} ignored", ""]
    out += [f"- **{m['level']}** `{m['rule']}` at `{m['location']}`: {m['message']}" for m in lint]
    out += [
        f"- ignored `{i['rule']}` on `{i['resource']}`: {i['reason'] or 'NO REASON GIVEN'}" for i in ignores
    ]
    for entity in mine(report["iam"]):
        for risk in entity.get("risks", []):
            out += [
                "",
                f"cloudsplaining, role `{entity['principal']}`: **{risk['title']}**: "
                + _items(risk["items"]),
            ]
    out += [
        "",
        "#### IAM",
        "",
        "| principal | on | effect | actions | resources | condition | granted by |",
        "|---|---|---|---|---|---|---|",
    ]
    for entity in mine(report["iam"]):
        on = "" if entity["kind"] == "role" else f"{entity['kind']} {entity['principal']}"
        for row in entity["rows"]:
            # A wildcard in a Deny takes more away; it grants nothing, so only Allow rows are flagged.
            flag = " **WILDCARD**" if row["wildcards"] and row["effect"] == "Allow" else ""
            actions = "<br>".join(f"`{_cell(a)}`" for a in row["actions"])
            resources = "<br>".join(f"`{_cell(r)}`" for r in row["resources"])
            out.append(
                f"| `{_cell(row['principal'])}` | {_cell(on)} | {row['effect']}{flag} | {actions} | "
                f"{resources} | {_cell(row['condition']) or '-'} | {_cell(row['via'])} |"
            )
    return out


def _cell(text: str) -> str:
    """Table-safe: a `|` would end the cell, a newline the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _controls(items: list[dict[str, Any]]) -> list[str]:
    """Data-protection controls (review/controls.py): what the template holds, weaker choices marked."""
    if not items:
        return []
    out = [
        f"#### Data-protection controls ({len(items)})",
        "",
        "| control | on | value | |",
        "|---|---|---|---|",
    ]
    for c in items:
        verdict = "ok" if c["ok"] else "**weaker**"
        out.append(f"| {_cell(c['control'])} | `{_cell(c['subject'])}` | {_cell(c['value'])} | {verdict} |")
    return [*out, ""]
