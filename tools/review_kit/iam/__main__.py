"""IAM checks of a synthesized app against AWS's own data, offline.

    python -m tools.review_kit.iam coverage cdk.out POLICY.json [POLICY.json ...] [--boundary FILE]
        [--stack NAME]
    python -m tools.review_kit.iam validity cdk.out [bootstrap/*.json ...]

coverage: every call CloudFormation makes for every stack's resources is allowed by the
execution policy (within the boundary the execution role gets from `cdk bootstrap
--custom-permissions-boundary`); `--stack` checks only the stacks of that name (each stack
deploys through its own bootstrap's policies, bootstrap/generated/<set>/). validity: every
action in every policy exists and names resources of the types the service authorization
reference gives for it. Exit 1 on a finding, 2 when there is no cloud assembly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.common import assembly
from tools.review_kit.iam.arns import Env
from tools.review_kit.iam.coverage import Gap, missing_permissions
from tools.review_kit.iam.validity import Finding, check_policy, check_template

PLACEHOLDER_ACCOUNT = "111111111111"
PLACEHOLDER_REGION = "us-east-1"


def describe_gaps(gaps: Sequence[Gap]) -> str:
    """Gaps grouped by resource type: the type, then each action the policy does not allow."""
    by_type: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for gap in gaps:
        by_type[gap.resource_type][gap.action].add(f"{gap.logical_id} {gap.resource}")
    lines = []
    for resource_type, actions in sorted(by_type.items()):
        lines.append(f"  {resource_type}: {', '.join(sorted(actions))}")
        for action, where in sorted(actions.items()):
            lines.extend(f"    {action} on {item}" for item in sorted(where)[:3])
    return "\n".join(lines)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def coverage(args: argparse.Namespace) -> int:
    app = assembly.load(args.assembly)
    policy, boundary = [_read(p) for p in args.policy], _read(args.boundary) if args.boundary else None
    failed = False
    for stack in app.stacks:
        if args.stack and stack.stack_name not in args.stack:
            continue
        gaps = missing_permissions(
            stack.template,
            policy,
            stack_name=stack.stack_name,
            account=args.account,
            region=args.region,
            boundary=boundary,
        )
        if gaps:
            failed = True
            print(f"{stack.stack_name}: {len(gaps)} call(s) the execution policy does not allow")
            print(describe_gaps(gaps))
        else:
            count = len(stack.template["Resources"])
            print(f"{stack.stack_name}: every handler call allowed ({count} resources)")
    return 1 if failed else 0


def describe_findings(findings: Sequence[Finding]) -> str:
    return "\n".join(f"  {f.where}: {f.action} on {f.resource or '-'}: {f.problem}" for f in findings)


def validity(args: argparse.Namespace) -> int:
    app = assembly.load(args.assembly)
    findings: list[Finding] = []
    for stack in app.stacks:
        findings += check_template(stack.template, Env(stack.stack_name, args.account, args.region))
    for path in args.policies:
        findings += check_policy(str(path), _read(path))
    if findings:
        print(f"{len(findings)} statement(s) name actions or resources IAM will not match:")
        print(describe_findings(findings))
        return 1
    print(
        f"every action exists and names resources of its types ({len(app.stacks)} stacks, "
        f"{len(args.policies)} policy files)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.review_kit.iam",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cover = commands.add_parser("coverage", help="does the execution policy allow every deploy call?")
    cover.add_argument("assembly", type=Path)
    cover.add_argument("policy", type=Path, nargs="+", help="the execution role's policies")
    cover.add_argument("--boundary", type=Path, help="the execution role's permissions boundary policy")
    cover.add_argument("--stack", action="append", help="only this stack (repeatable; default: every stack)")
    valid = commands.add_parser("validity", help="do the policies' actions exist and fit their resources?")
    valid.add_argument("assembly", type=Path)
    valid.add_argument("policies", type=Path, nargs="*", help="policy files, e.g. bootstrap/*.json")
    for command in (cover, valid):
        command.add_argument("--account", default=PLACEHOLDER_ACCOUNT)
        command.add_argument("--region", default=PLACEHOLDER_REGION)
    args = parser.parse_args(argv)
    try:
        return coverage(args) if args.command == "coverage" else validity(args)
    except assembly.AssemblyError as error:
        print(f"tools.review_kit.iam: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
