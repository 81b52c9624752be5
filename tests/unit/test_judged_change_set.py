"""JudgedChangeSet (stages/pipeline/judged_change_set_check.py): the change set is the template judged.

A fake CLI answers DescribeChangeSet and GetTemplate, keeping each call; the artifact is a directory
with the stack's template file. The same check against the emulator through the real CLI, as the
deployed step runs it: tests/rehearse/test_judged_change_set.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stages.pipeline import judged_change_set_check
from stages.pipeline.approved_change_set_check import AwsError
from stages.pipeline.judged_change_set_check import (
    CannotAsk,
    check,
    differences,
    judge,
    main,
    parameter_differences,
)

CHANGE_SET = "arn:aws:cloudformation:eu-west-1:222222222222:changeSet/PipelineChange/0f1e2d3c-4b5a-6978"
PATH = "assembly-UploadApiPipeline-Dev/UploadApiPipelineDevUploadApi53BB727C.template.json"
TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "BootstrapVersion": {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": "/cdk-bootstrap/uploaddev/version",
        }
    },
    "Resources": {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"VersioningConfiguration": {"Status": "Enabled"}},
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": []}},
    },
    "Outputs": {"ApiUrl": {"Value": "https://example"}},
}
ENV = {
    "STACK_NAME": "Dev-UploadApi",
    "CHANGE_SET_NAME": "PipelineChange",
    "TEMPLATE_PATH": PATH,
    "JUDGED_BY": "DevPermissionsCheck.Check",
}


def _described(**fields: Any) -> dict[str, Any]:
    return {
        "ChangeSetId": CHANGE_SET,
        "StackName": "Dev-UploadApi",
        "Status": "CREATE_COMPLETE",
        "ExecutionStatus": "AVAILABLE",
        "Parameters": [
            {"ParameterKey": "BootstrapVersion", "ParameterValue": "/cdk-bootstrap/uploaddev/version"}
        ],
        **fields,
    }


def _rewritten() -> dict[str, Any]:
    """What a later push's Synth could write: a role with a policy, the bucket gone, an output added."""
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Role"]["Properties"]["Policies"] = [{"PolicyName": "all"}]
    del template["Resources"]["Bucket"]
    template["Outputs"]["Extra"] = {"Value": "x"}
    return template


# -- the comparison -----------------------------------------------------------------------------------


def test_the_same_template_has_no_differences_whatever_the_key_order():
    reordered = json.loads(json.dumps(TEMPLATE, sort_keys=True))
    assert differences(TEMPLATE, reordered) == []


def test_each_differing_entry_is_named_by_section():
    assert differences(TEMPLATE, _rewritten()) == [
        "Resources.Bucket missing from the change set",
        "Resources.Role differs",
        "Outputs.Extra only in the change set",
    ]


def test_a_differing_section_without_named_entries_is_named_whole():
    changed = {**TEMPLATE, "Description": "another", "Transform": "AWS::Serverless-2016-10-31"}
    assert differences(TEMPLATE, changed) == [
        "Description only in the change set",
        "Transform only in the change set",
    ]
    assert differences(TEMPLATE, "Resources: {}") == ["the change set's template is not a JSON object"]


def test_parameters_other_than_the_defaults_are_named():
    described = _described(
        Parameters=[
            {"ParameterKey": "BootstrapVersion", "ParameterValue": "/elsewhere"},
            {"ParameterKey": "Extra", "ParameterValue": "x"},
        ]
    )
    assert parameter_differences(TEMPLATE, described) == [
        "parameter BootstrapVersion is not its default",
        "parameter Extra is not the template's",
    ]
    kept = _described(Parameters=[{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}])
    assert parameter_differences(TEMPLATE, kept) == ["parameter BootstrapVersion keeps its previous value"]
    assert parameter_differences(TEMPLATE, _described(Parameters=[])) == []


# -- the verdict --------------------------------------------------------------------------------------


def test_the_judged_template_passes_saying_what_matched():
    verdict = judge(
        TEMPLATE, _described(), copy.deepcopy(TEMPLATE), judged_by="DevPermissionsCheck.Check", path=PATH
    )
    assert verdict.passed
    assert verdict.line == (
        f"PASS: change set {CHANGE_SET} of Dev-UploadApi is the template DevPermissionsCheck.Check judged "
        f"({PATH}: 2 resources, parameters BootstrapVersion at their defaults); AVAILABLE: Deploy executes it"
    )


def test_a_rewritten_template_fails_in_one_line_naming_what_differs():
    verdict = judge(TEMPLATE, _described(), _rewritten(), judged_by="DevPermissionsCheck.Check", path=PATH)
    assert not verdict.passed
    assert "\n" not in verdict.line
    assert verdict.line.startswith(
        f"FAIL: change set {CHANGE_SET} of Dev-UploadApi is not the template DevPermissionsCheck.Check "
        f"judged ({PATH}): Resources.Bucket missing from the change set, Resources.Role differs, "
        "Outputs.Extra only in the change set;"
    )


def test_many_differences_are_counted_past_the_first_eight():
    many = copy.deepcopy(TEMPLATE)
    many["Resources"].update({f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(10)})
    verdict = judge(TEMPLATE, _described(), many, judged_by="J", path=PATH)
    assert "R7 only in the change set and 2 more;" in verdict.line


def test_an_empty_change_set_passes_and_one_not_ready_fails():
    empty = _described(
        Status="FAILED",
        ExecutionStatus="UNAVAILABLE",
        StatusReason="The submitted information didn't contain changes. Submit different information to "
        "create a change set.",
    )
    verdict = judge(TEMPLATE, empty, TEMPLATE, judged_by="J", path=PATH)
    assert verdict.passed
    assert verdict.line.endswith("empty: no change to the stack, Deploy executes nothing")
    executed = _described(ExecutionStatus="EXECUTE_COMPLETE")
    verdict = judge(TEMPLATE, executed, TEMPLATE, judged_by="J", path=PATH)
    assert not verdict.passed
    assert verdict.line.endswith("is the template J judged, but it is CREATE_COMPLETE/EXECUTE_COMPLETE")


# -- asking through the CLI ---------------------------------------------------------------------------


def _artifact(tmp_path: Path, template: Mapping[str, Any] = TEMPLATE) -> dict[str, str]:
    (tmp_path / PATH).parent.mkdir(parents=True)
    (tmp_path / PATH).write_text(json.dumps(template), encoding="utf-8")
    return {**ENV, "CODEBUILD_SRC_DIR": str(tmp_path)}


def _cli(template: Any, described: dict[str, Any] | None = None, **failing: Exception) -> Any:
    calls: list[tuple[list[str], Mapping[str, str]]] = []

    def run(arguments: list[str], env: Mapping[str, str]) -> str:
        calls.append((arguments, env))
        key = " ".join(arguments[:2])
        if key in failing:
            raise failing[key]
        if key == "sts assume-role":
            credentials = {"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "SessionToken": "token"}
            return json.dumps({"Credentials": credentials})
        if key == "cloudformation describe-change-set":
            return json.dumps(described or _described())
        if key == "cloudformation get-template":
            return json.dumps({"TemplateBody": template, "StagesAvailable": ["Original", "Processed"]})
        raise AssertionError(f"unexpected call {arguments}")

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_the_change_set_is_read_by_its_id_through_the_lookup_role(tmp_path):
    env = {**_artifact(tmp_path), "STAGE_ACCOUNT": "222222222222", "STAGE_REGION": "eu-west-1",
           "BOOTSTRAP_QUALIFIER": "uploaddev", "AWS_PROFILE": "operator"}  # fmt: skip
    cli = _cli(copy.deepcopy(TEMPLATE))
    assert check(env, cli).passed
    (assume, _), (describe, described_as), (get, got_as) = cli.calls
    assert assume[:2] == ["sts", "assume-role"]
    assert "arn:aws:iam::222222222222:role/cdk-uploaddev-lookup-role-222222222222-eu-west-1" in assume
    assert assume[-2:] == ["--role-session-name", "judged-change-set"]
    assert describe == [
        "cloudformation", "describe-change-set", "--stack-name", "Dev-UploadApi",
        "--change-set-name", "PipelineChange",
    ]  # fmt: skip
    # the template of the change set just described (its id), as submitted
    assert get == [
        "cloudformation", "get-template", "--stack-name", "Dev-UploadApi",
        "--change-set-name", CHANGE_SET, "--template-stage", "Original",
    ]  # fmt: skip
    for assumed in (described_as, got_as):
        assert assumed["AWS_SESSION_TOKEN"] == "token"
        assert "AWS_PROFILE" not in assumed


def test_a_template_body_the_cli_left_as_text_is_parsed(tmp_path):
    assert check(_artifact(tmp_path), _cli(json.dumps(TEMPLATE))).passed
    verdict = check(_artifact(tmp_path / "yaml"), _cli("Resources: {}"))
    assert not verdict.passed
    assert "the change set's template is not a JSON object" in verdict.line


def test_a_rewritten_change_set_exits_1(tmp_path, capsys):
    assert main(_artifact(tmp_path), _cli(_rewritten())) == 1
    assert capsys.readouterr().out.startswith("FAIL: ")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param({}, "set STACK_NAME, CHANGE_SET_NAME, TEMPLATE_PATH, JUDGED_BY", id="no variables"),
        pytest.param(
            {**ENV, "TEMPLATE_PATH": "../x.json"}, "is not a path inside the artifact", id="outside"
        ),
        pytest.param(
            {**ENV, "TEMPLATE_PATH": "/etc/x.json"}, "is not a path inside the artifact", id="absolute"
        ),
    ],
)
def test_what_it_cannot_start_on_exits_2_naming_it(env, says, capsys):
    assert main(env, _cli(TEMPLATE)) == 2
    assert says in capsys.readouterr().err


def test_a_missing_template_and_a_failing_call_cannot_ask(tmp_path):
    with pytest.raises(CannotAsk, match="judged-change-set: the artifact's template assembly-"):
        check({**ENV, "CODEBUILD_SRC_DIR": str(tmp_path)}, _cli(TEMPLATE))
    cli = _cli(TEMPLATE, **{"cloudformation get-template": AwsError("AccessDenied")})
    with pytest.raises(
        CannotAsk, match=r"^judged-change-set: GetTemplate of Dev-UploadApi/PipelineChange: AccessDenied$"
    ):
        check(_artifact(tmp_path), cli)


FAKE_AWS = """#!/bin/sh
case "$1 $2" in
  "sts assume-role")
    echo '{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T"}}';;
  "cloudformation describe-change-set") cat "$FAKE_ANSWERS/described.json" ;;
  "cloudformation get-template") cat "$FAKE_ANSWERS/template.json" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"""


def test_the_script_runs_on_python_3_9_beside_the_module_it_imports(tmp_path):
    """As the step runs it: both files written into one directory, python3 (here 3.9) on this one, with
    an AWS CLI on PATH (here a fake answering as the real one: the lookup role, then the change set)."""
    found = sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")) or [
        Path(p) for p in ("/usr/bin/python3.9", "/usr/local/bin/python3.9") if Path(p).is_file()
    ]
    if not found:
        pytest.skip("no Python 3.9 interpreter on this machine")
    check_dir, answers, bin_dir = tmp_path / "check", tmp_path / "answers", tmp_path / "bin"
    for directory in (check_dir, answers, bin_dir):
        directory.mkdir()
    for script in (judged_change_set_check.__file__, judged_change_set_check.shared.__file__):
        (check_dir / Path(script).name).write_bytes(Path(script).read_bytes())
    (bin_dir / "aws").write_text(FAKE_AWS, encoding="utf-8")
    (bin_dir / "aws").chmod(0o755)
    (answers / "described.json").write_text(json.dumps(_described()), encoding="utf-8")
    (answers / "template.json").write_text(json.dumps({"TemplateBody": TEMPLATE}), encoding="utf-8")
    env = {
        **_artifact(tmp_path / "artifact"),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_ANSWERS": str(answers),
        "CHANGE_SET_ROLE_ARN": "arn:aws:iam::222222222222:role/cdk-uploaddev-lookup-role",
    }
    done = subprocess.run(
        [str(found[0]), "judged_change_set_check.py"],
        cwd=check_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN 3.9 parses and runs both files, through the role to the verdict
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    assert done.stdout.startswith(f"PASS: change set {CHANGE_SET} of Dev-UploadApi is the template ")
