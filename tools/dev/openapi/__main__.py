"""Write (or, with --check, compare) docs/openapi.json, then validate it as OpenAPI 3.

python -m tools.dev.openapi            # make openapi
python -m tools.dev.openapi --check    # exit 1 if the checked-in document is not what the schema gives
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openapi_spec_validator import validate

from tools.dev.openapi.document import DOCUMENT_PATH, REPO_ROOT, build_document, render


def shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dev.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCUMENT_PATH, help="where the document goes")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render(build_document())
    validate(json.loads(text))  # raises, naming the fault, if it is not valid OpenAPI 3
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(
                f"{shown(args.out)} is out of date with the request schema: run `make openapi`",
                file=sys.stderr,
            )
            return 1
        print(f"{shown(args.out)}: up to date, valid OpenAPI {build_document()['openapi']}")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {shown(args.out)}: valid OpenAPI {build_document()['openapi']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
