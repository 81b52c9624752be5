"""`python -m tools.pipeline_checks.pipeline_iam check|update [cdk.out]`: see gate.py beside this."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.pipeline_checks.pipeline_iam.gate import (
    REVIEWED_FILE,
    UPDATE_COMMAND,
    compare,
    pipeline_permissions,
    read_reviewed,
    write_reviewed,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline_checks.pipeline_iam", description=__doc__)
    parser.add_argument("command", choices=("check", "update"))
    parser.add_argument("assembly", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--reviewed", type=Path, default=REVIEWED_FILE)
    args = parser.parse_args(argv)
    current = pipeline_permissions(args.assembly)
    if args.command == "update":
        write_reviewed(current, args.reviewed)
        print(f"pipeline IAM: wrote {len(current)} permissions to {args.reviewed}: review its diff")
        return 0
    broadened, narrowed = compare(current, read_reviewed(args.reviewed))
    for line in narrowed:
        print(f"pipeline IAM: no longer granted (narrowing, fine): {line}")
    for line in broadened:
        print(f"pipeline IAM: NOT REVIEWED: {line}", file=sys.stderr)
    if broadened:
        print(
            f"pipeline IAM: {len(broadened)} permission(s) of the pipeline stack are not in {args.reviewed}; "
            f"self-mutation would apply them unapproved. Review them, run `{UPDATE_COMMAND}` and commit "
            "the file.",
            file=sys.stderr,
        )
        return 1
    print(f"pipeline IAM: {len(current)} permissions, all reviewed ({args.reviewed.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
