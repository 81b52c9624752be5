"""The account-level boundary the stacks are deployed inside: the IAM policies in bootstrap/.

`cdk bootstrap` takes them as files: the execution policy CloudFormation deploys every stack
with (`--cloudformation-execution-policies`), and the permissions boundary every role the app
creates must carry (`--custom-permissions-boundary`). None of them is in a template, yet they
are what a template that reaches CloudFormation can do at most, so the review reads them too:
every *.json in the folder that is a policy document, each with a title, its statements as rows
(the same rows as a role's) and cloudsplaining's risk classes. A file it cannot read or that is
not a policy is listed as such, never dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.pipeline_checks.review import iam, risks

# What the files this repository keeps are for; any other policy file gets a title from its name.
TITLES = {
    "cfn-execution-policy": "CloudFormation execution policy: what a stack deployment may do "
    "(cdk bootstrap --cloudformation-execution-policies)",
    "permissions-boundary": "Permissions boundary: the most any role the app creates may do "
    "(cdk bootstrap --custom-permissions-boundary)",
}


def title(path: Path) -> str:
    return TITLES.get(path.stem, path.stem.replace("-", " ").replace("_", " ").capitalize())


def load(directory: Path) -> dict[str, Any]:
    """{status, directory, policies: [{file, title, rows, risks}], unreadable: [{file, problem}]}."""
    shown = _display(directory)
    if not directory.is_dir():
        status = f"not read: no folder {shown}"
        return {"status": status, "directory": shown, "policies": [], "unreadable": []}
    policies, unreadable = [], []
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            unreadable.append({"file": path.name, "problem": f"cannot read: {error}"})
            continue
        if not isinstance(document, dict) or "Statement" not in document:
            unreadable.append({"file": path.name, "problem": "not an IAM policy document (no Statement)"})
            continue
        policies.append(_policy(path, document))
    return {"status": "read", "directory": shown, "policies": policies, "unreadable": unreadable}


def _display(directory: Path) -> str:
    """Relative to the working directory when below it (`bootstrap`): the report is read elsewhere."""
    try:
        return directory.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(directory)


def _policy(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    where = f"bootstrap/{path.name}"
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    return {
        "file": path.name,
        "title": title(path),
        "rows": iam.document_rows(
            document, name_of=str, where=where, principal=where, via=path.name, entity=where
        ),
        "risks": risks.classify(risks.rendered_statement(s, str) for s in statements if isinstance(s, dict)),
    }
