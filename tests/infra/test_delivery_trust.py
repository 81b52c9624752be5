"""The delivery path's trust boundary (issue 10 #2, #3, #4, #6, #7; issue 11 #2), read in the templates
`cdk synth` writes and, where a template can say "denied", proven with the IAM
evaluator (tools/review_kit/iam).

The evaluator answers for one account: exactly the shared-account case (cdk.json's default) where
a grant written for one stage could reach the other. Template values are made concrete the way
CloudFormation and API Gateway would: pseudo parameters, each stage's own API id, role ARNs from
their names, and a resource policy's `execute-api:/...` shorthand expanded to the API's ARN.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stages.pipeline.patches.artifact_digest import check_command
from stages.pipeline.patches.node_tools import PIPELINE_CDK, PIPELINE_NPM_CI
from stages.pipeline.settings import check_stage_environments
from stages.settings import CONTEXT_KEY, SettingsError, StageSettings, load_stage_settings
from tests.repo import REPO_ROOT
from tools.review_kit.iam.evaluator import Request, evaluate

from .conftest import SynthesizedApp, app_context, as_text, loaded_settings, synth_stage

pytestmark = pytest.mark.synth

ACCOUNT = "111111111111"
REGION = "eu-west-1"
STAGES = {"Dev": "dev", "Prod": "prod"}
ADMINISTRATOR_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
CLIENT_ROLE = "arn:aws:iam::444444444444:role/order-service"


# -- making template values concrete ------------------------------------------------------------


def concrete(value: Any, template: dict[str, Any], api_id: str) -> Any:
    """A template value as deployed into ACCOUNT/REGION: Refs, GetAtts of roles and APIs, joins, subs."""
    if isinstance(value, list):
        return [concrete(v, template, api_id) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if function == "Ref":
            if argument in pseudo:
                return pseudo[argument]
            resource = template["Resources"][argument]
            return api_id if resource["Type"] == "AWS::ApiGateway::RestApi" else argument
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            resource = template["Resources"][logical_id]
            assert attribute == "Arn", argument
            name = resource["Properties"].get("RoleName", logical_id)
            arns = {
                "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*",
                "AWS::CodeBuild::Project": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{logical_id}",
                "AWS::CodeBuild::ReportGroup": (
                    f"arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/{logical_id}"
                ),
                "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id}",
                "AWS::S3::Bucket": f"arn:aws:s3:::{logical_id}",
                "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}",
                "AWS::CodePipeline::Pipeline": f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{logical_id}",
            }
            return arns[resource["Type"]]
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(concrete(p, template, api_id) for p in parts)
        if function == "Fn::Sub":
            text = argument
            for name, replacement in pseudo.items():
                text = text.replace(f"${{{name}}}", replacement)
            return text
    if isinstance(value, dict):
        return {k: concrete(v, template, api_id) for k, v in value.items()}
    return value


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _role_id(template: dict[str, Any], name_suffix: str) -> str:
    (role_id,) = [
        k
        for k, v in _resources(template, "AWS::IAM::Role").items()
        if str(v["Properties"].get("RoleName", "")).endswith(name_suffix)
    ]
    return role_id


def identity_policies(template: dict[str, Any], role_id: str, api_id: str = "") -> list[dict[str, Any]]:
    """Every policy document attached to the role (inline AWS::IAM::Policy resources), made concrete."""
    return [
        concrete(policy["Properties"]["PolicyDocument"], template, api_id)
        for policy in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]


def api_resource_policy(template: dict[str, Any], api_id: str) -> dict[str, Any]:
    """The API's resource policy with API Gateway's `execute-api:/stage/METHOD/path` expanded to this API."""
    ((_, api),) = _resources(template, "AWS::ApiGateway::RestApi").items()
    text = json.dumps(concrete(api["Properties"]["Policy"], template, api_id))
    return json.loads(text.replace('"execute-api:/', f'"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/'))


def invoke(api_id: str, stage: str, principal: str) -> Request:
    return Request(
        "execute-api:Invoke",
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/POST/upload",
        {"aws:PrincipalArn": principal, "aws:PrincipalAccount": principal.split(":")[4]},
        principal_arn=principal,
    )


def verifier_arn(stage_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{stage_id}-UploadApi-Verifier"


@pytest.fixture(scope="module")
def templates(pipeline_app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    """Each stage's upload stack template, as the pipeline deploys it (cdk.json: one shared account)."""
    return {stage_id: pipeline_app.stage_template(stage_id) for stage_id in STAGES}


# -- API stage names (issue 10 #2, issue 12) -----------------------------------------------------


@pytest.mark.parametrize(("stage_id", "stage"), STAGES.items())
def test_each_stages_api_stage_is_named_after_it(templates, stage_id, stage):
    # GIVEN the stage's upload stack
    ((stage_resource, api_stage),) = _resources(templates[stage_id], "AWS::ApiGateway::Stage").items()
    # WHEN its API stage and URL output are read (the URL names the stage by Ref: its StageName)
    url = as_text(templates[stage_id]["Outputs"]["UploadEndpoint"]["Value"])
    # THEN dev serves .../dev/upload and prod .../prod/upload
    assert api_stage["Properties"]["StageName"] == stage
    assert url.endswith(f".<AWS::URLSuffix>/<{stage_resource}>/upload")


# -- the verifier's role (issue 10 #2) ------------------------------------------------------------


@pytest.mark.parametrize(("stage_id", "stage"), STAGES.items())
def test_the_verifier_role_may_call_and_read_exactly_its_own_api_stage(templates, stage_id, stage):
    # GIVEN the stage's VerifierRole and its API
    template = templates[stage_id]
    role_id = _role_id(template, "-Verifier")
    (api_id,) = _resources(template, "AWS::ApiGateway::RestApi")
    # WHEN its statements are read
    statements = [s for p in identity_policies(template, role_id, "API") for s in p["Statement"]]
    # THEN it may invoke POST /upload of this API's own stage and GET that stage, with no wildcard
    assert sorted((s["Action"], s["Resource"]) for s in statements) == [
        ("apigateway:GET", f"arn:aws:apigateway:{REGION}::/restapis/API/stages/{stage}"),
        ("execute-api:Invoke", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:API/{stage}/POST/upload"),
    ]
    assert template["Resources"][role_id]["Properties"]["RoleName"] == f"{stage_id}-UploadApi-Verifier"
    assert api_id


@pytest.mark.parametrize(("stage_id", "stage"), STAGES.items())
def test_only_the_pipelines_verify_role_of_that_stage_may_assume_the_verifier_role(
    templates, stage_id, stage
):
    # GIVEN the stage's VerifierRole trust policy
    template = templates[stage_id]
    role = template["Resources"][_role_id(template, "-Verifier")]["Properties"]
    trust = concrete(role["AssumeRolePolicyDocument"], template, "")
    own = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-Verify-{stage}"
    other = f"arn:aws:iam::{ACCOUNT}:role/UploadApiPipeline-Verify-{'prod' if stage == 'dev' else 'dev'}"

    def assume(principal: str) -> bool:
        request = Request(
            "sts:AssumeRole", verifier_arn(stage_id), {"aws:PrincipalArn": principal}, principal
        )
        # The trust policy names the account root, which delegates to the caller's own policies
        # (IAM User Guide, "AWS JSON policy elements: Principal"): give every caller an identity
        # allow, so the trust policy's condition is what decides.
        return evaluate(request, [ADMINISTRATOR_ACCESS], resource_policy=trust).allowed

    # WHEN the pipeline's verify roles (and an administrator) try to assume it
    # THEN only this stage's verify role may (the other stage's, and any other principal, may not)
    assert assume(own)
    assert not assume(other)
    assert not assume(f"arn:aws:iam::{ACCOUNT}:role/Admin")


def test_in_one_account_the_dev_verifier_cannot_call_the_prod_api(templates):
    # GIVEN dev and prod in one account (cdk.json's default), each API with its own id
    dev, prod = templates["Dev"], templates["Prod"]
    dev_verifier = identity_policies(dev, _role_id(dev, "-Verifier"), "devapi0001")
    prod_policy = api_resource_policy(prod, "prodapi002")
    # WHEN the dev verifier calls prod's POST /upload (and its own)
    to_prod = evaluate(
        invoke("prodapi002", "prod", verifier_arn("Dev")), dev_verifier, resource_policy=prod_policy
    )
    to_dev = evaluate(
        invoke("devapi0001", "dev", verifier_arn("Dev")),
        dev_verifier,
        resource_policy=api_resource_policy(dev, "devapi0001"),
    )
    # THEN prod refuses it explicitly (its resource policy), and dev admits it
    assert not to_prod.allowed
    assert to_prod.reason.startswith("explicit deny: resource policy statement DenyEveryoneElse")
    assert to_dev.allowed


def test_in_one_account_the_dev_verifier_cannot_read_prods_stage(templates):
    # GIVEN the dev VerifierRole's policies
    dev = templates["Dev"]
    dev_verifier = identity_policies(dev, _role_id(dev, "-Verifier"), "devapi0001")
    # WHEN it reads prod's stage (another API id, another stage name)
    read = Request("apigateway:GET", f"arn:aws:apigateway:{REGION}::/restapis/prodapi002/stages/prod")
    # THEN nothing allows it
    assert not evaluate(read, dev_verifier).allowed


def test_the_pipelines_dev_verify_role_may_assume_only_the_dev_verifier_role(pipeline_app):
    # GIVEN the pipeline's VerifyDev CodeBuild role
    template = pipeline_app.template.to_json()
    policies = identity_policies(template, _role_id(template, "UploadApiPipeline-Verify-dev"))
    # WHEN it assumes each stage's VerifierRole, or calls an API directly
    # THEN only the dev VerifierRole is allowed; it holds no API permission of its own
    assert evaluate(Request("sts:AssumeRole", verifier_arn("Dev")), policies).allowed
    assert not evaluate(Request("sts:AssumeRole", verifier_arn("Prod")), policies).allowed
    assert not evaluate(invoke("prodapi002", "prod", verifier_arn("Dev")), policies).allowed


# -- who may call the API (issue 11 #2) -----------------------------------------------------------


@pytest.mark.parametrize(("stage_id", "stage"), STAGES.items())
def test_an_administrator_of_the_same_account_is_refused_by_the_resource_policy(templates, stage_id, stage):
    # GIVEN a principal of the API's own account with AdministratorAccess (execute-api:Invoke on *)
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    policy = api_resource_policy(templates[stage_id], "api0000001")
    # WHEN it calls POST /upload
    decision = evaluate(invoke("api0000001", stage, admin), [ADMINISTRATOR_ACCESS], resource_policy=policy)
    # THEN the resource policy's explicit deny refuses it
    assert not decision.allowed
    assert "DenyEveryoneElse" in decision.reason


@pytest.mark.parametrize("stage_id", STAGES)
def test_by_default_no_account_root_is_named_by_the_resource_policy(templates, stage_id):
    # GIVEN cdk.json's default (allowedCallers [])
    text = json.dumps(api_resource_policy(templates[stage_id], "api0000001"))
    # WHEN the resource policy is read
    # THEN it names no account root and admits exactly the verifier
    assert ":root" not in text
    allow = [s for s in json.loads(text)["Statement"] if s["Effect"] == "Allow"]
    assert [s["Condition"] for s in allow] == [{"ArnEquals": {"aws:PrincipalArn": [verifier_arn(stage_id)]}}]


def test_allowed_callers_are_admitted_and_everyone_else_still_refused():
    # GIVEN dev with a client role in allowedCallers
    built = synth_stage("dev", allowedCallers=[CLIENT_ROLE])
    template = built.template.to_json()
    policy = api_resource_policy(template, "api0000001")
    client_policy = [{"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}]
    # WHEN the client, the verifier and an administrator call POST /upload
    # THEN the client and the verifier are admitted, the administrator refused
    assert evaluate(invoke("api0000001", "dev", CLIENT_ROLE), client_policy, resource_policy=policy).allowed
    assert evaluate(invoke("api0000001", "dev", verifier_arn("Dev")), [], resource_policy=policy).allowed
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert not evaluate(
        invoke("api0000001", "dev", admin), [ADMINISTRATOR_ACCESS], resource_policy=policy
    ).allowed


def test_an_account_root_in_allowed_callers_admits_that_account_only():
    # GIVEN allowedCallers naming an account root on purpose
    built = synth_stage("dev", allowedCallers=["arn:aws:iam::444444444444:root"])
    policy = api_resource_policy(built.template.to_json(), "api0000001")
    anyone = [{"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}]
    # WHEN a principal of that account and one of another account call
    # THEN that account's principal is admitted, the other refused
    assert evaluate(
        invoke("api0000001", "dev", "arn:aws:iam::444444444444:role/any"), anyone, resource_policy=policy
    )
    assert not evaluate(
        invoke("api0000001", "dev", "arn:aws:iam::555555555555:role/any"), anyone, resource_policy=policy
    )


@pytest.mark.parametrize(
    "value",
    [["arn:aws:iam::444444444444:role/*"], ["order-service"], "arn:aws:iam::444444444444:role/x", [42]],
)
def test_a_wrong_allowed_callers_value_is_one_line_naming_the_setting(value):
    # GIVEN cdk.json with a wildcard, a bare name, a string, a number in allowedCallers
    context = app_context(stages={"prod": {"allowedCallers": value}})[CONTEXT_KEY]
    # WHEN the stage settings load
    with pytest.raises(SettingsError) as raised:
        load_stage_settings(context, "prod")
    # THEN one line names the setting and what it takes
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "cdk.json context uploadApi.stages.prod.allowedCallers must be a list of IAM role"
    )


def test_the_default_warns_how_to_add_callers(pipeline_app):
    # GIVEN cdk.json's default
    from aws_cdk.assertions import Annotations, Match

    # WHEN each upload stack's annotations are read
    # THEN each warns that only its verifier may call, and where to add callers
    for stage in (pipeline_app.stack.dev_stage, pipeline_app.stack.prod_stage):
        Annotations.from_stack(stage.stack).has_warning(
            "*",
            Match.string_like_regexp(
                rf"uploadApi\.stages\.{stage.stack.settings.stage}\.allowedCallers is empty"
            ),
        )


def test_allowed_callers_need_iam_auth():
    # GIVEN a public API (apiAuth none) with allowedCallers
    # WHEN synthesized THEN synth refuses it, naming the setting
    with pytest.raises(SettingsError, match=r"uploadApi\.stages\.dev\.allowedCallers needs apiAuth 'iam'"):
        synth_stage("dev", apiAuth="none", allowedCallers=[CLIENT_ROLE])


# -- approvals (issue 10 #3) ----------------------------------------------------------------------


@pytest.mark.parametrize("stage_id", STAGES)
def test_a_permission_broadening_check_runs_before_each_stage_deploys(pipeline_app, stage_id):
    # GIVEN the stage's actions
    actions = {a["Name"]: a for a in pipeline_app.actions(stage_id)}
    check, confirm = (
        actions[f"{stage_id}PermissionsCheck.Check"],
        actions[f"{stage_id}PermissionsCheck.Confirm"],
    )
    # WHEN their order is read
    # THEN cdk diff --security-only runs, then its confirmation, before the change set is even created
    assert check["RunOrder"] < confirm["RunOrder"] < actions["UploadApi.Prepare"]["RunOrder"]
    assert confirm["ActionTypeId"]["Provider"] == "Manual"


def test_the_permission_check_installs_the_pinned_cdk_cli(pipeline_app):
    # GIVEN the permission check's project (CDK writes `npm install -g aws-cdk`, npm's latest)
    from stages.pipeline.settings import pinned_cdk_cli_version

    (check,) = [a for a in pipeline_app.actions("Dev") if a["Name"] == "DevPermissionsCheck.Check"]
    spec = pipeline_app.buildspec(pipeline_app.project_id(check))
    # WHEN its install and build commands are read
    # THEN, after the artifact's digest check (patches/artifact_digest.py), it installs package-lock.json's
    # CLI (package.json's pin) on Node 22, as every step does, and the diff runs that CLI, never a
    # global `npm install -g`
    assert spec["phases"]["install"] == {
        "runtime-versions": {"nodejs": "22"},
        "commands": [check_command(), PIPELINE_NPM_CI],
    }
    build = spec["phases"]["build"]["commands"]
    assert not [c for c in build if "npm install" in c]
    assert any(c.startswith(f"if {PIPELINE_CDK} diff ") for c in build)
    assert json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"] == (
        pinned_cdk_cli_version()
    )


def test_the_permission_check_reads_through_lookup_roles_and_can_assume_no_deploy_role(pipeline_app):
    # GIVEN the permission check's project role (CDK lets it assume every role tagged as a deploy role,
    # which can create and execute change sets in each account that trusts the pipeline)
    template = pipeline_app.template.to_json()
    (role_id,) = [k for k in _resources(template, "AWS::IAM::Role") if "CDKSecurityCheckRole" in k]
    policies = identity_policies(template, role_id)

    def assume(kind: str) -> bool:
        role = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-{kind}-role-{ACCOUNT}-{REGION}"
        tags = {"iam:ResourceTag/aws-cdk:bootstrap-role": kind}
        return evaluate(Request("sts:AssumeRole", role, tags), policies).allowed

    # WHEN it assumes each kind of bootstrap role
    # THEN only the read-only lookup role is allowed
    assert assume("lookup")
    assert not assume("deploy")
    assert not assume("file-publishing")
    # AND its diff compares templates (a change set would need the deploy role)
    (check,) = [a for a in pipeline_app.actions("Dev") if a["Name"] == "DevPermissionsCheck.Check"]
    build = pipeline_app.buildspec(pipeline_app.project_id(check))["phases"]["build"]["commands"]
    (diff,) = [c for c in build if c.startswith(f"if {PIPELINE_CDK} diff ")]
    assert " --security-only --method=template --fail " in diff


def test_with_approvers_a_broadening_notifies_the_approval_topic(synth_pipeline):
    # GIVEN approverEmails set
    app = synth_pipeline(pipeline={"approverEmails": ["release-manager@example.com"]})
    (topic_id,) = app.of_type("AWS::SNS::Topic")
    # WHEN the permission checks' environments are read
    for stage_id in STAGES:
        (check,) = [a for a in app.actions(stage_id) if a["Name"] == f"{stage_id}PermissionsCheck.Check"]
        variables = {
            v["name"]: v["value"]
            for v in json.loads(
                as_text(check["Configuration"]["EnvironmentVariables"]).replace(f"<{topic_id}>", topic_id)
            )
        }
        # THEN each notifies the approval topic, and checks the artifact PipelineChangeGate judged
        assert variables["NOTIFICATION_ARN"] == topic_id
        assert variables["ARTIFACT_DIGEST"] == "#{PipelineChangeCheck.ARTIFACT_DIGEST}"


def test_the_auto_approver_can_approve_only_the_permission_checks_never_prod(pipeline_app):
    # GIVEN CDK Pipelines' auto-approve function's policies (the permission check invokes it with any
    # stage and action name it likes)
    template = pipeline_app.template.to_json()
    (role_id,) = [k for k in _resources(template, "AWS::IAM::Role") if "AutoApproveServiceRole" in k]
    policies = identity_policies(template, role_id)
    pipeline = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:UploadApiPipeline-Pipeline9850B417-ABC"
    tagged = {"aws:ResourceTag/SECURITY_CHECK": "ALLOW_APPROVE"}

    def approve(action: str) -> bool:
        return evaluate(
            Request("codepipeline:PutApprovalResult", f"{pipeline}/{action}", tagged), policies
        ).allowed

    # WHEN it reads the (tagged) pipeline's state, as it must to find an approval's token
    state = Request("codepipeline:GetPipelineState", pipeline, tagged)
    assert evaluate(state, policies).allowed
    # AND approves each approval action of this pipeline
    # THEN only the permission-check confirmations are allowed, PromoteToProd is not
    assert approve("Dev/DevPermissionsCheck.Confirm")
    assert approve("Prod/ProdPermissionsCheck.Confirm")
    assert not approve("Prod/UploadApi.PromoteToProd")


# -- the asset role (issue 10 #4) ------------------------------------------------------------------


def test_the_asset_role_may_start_only_the_asset_projects(pipeline_app):
    # GIVEN the asset-publishing role's policies and the pipeline's projects
    template = pipeline_app.template.to_json()
    (role_id,) = [k for k in _resources(template, "AWS::IAM::Role") if k.startswith("PipelineAssetsFileRole")]
    policies = identity_policies(template, role_id)
    projects = _resources(template, "AWS::CodeBuild::Project")

    def start(project_id: str) -> bool:
        arn = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{project_id}"
        return evaluate(Request("codebuild:StartBuild", arn), policies).allowed

    # WHEN it starts each project (a replacement buildspec runs as that project's role)
    allowed = {project_id for project_id in projects if start(project_id)}
    # THEN only the asset project may be started (never self-mutation, synth or a verifier)
    assert allowed == {k for k in projects if k.startswith("PipelineAssetsFileAsset")}


def test_the_asset_role_writes_only_its_own_logs_and_reports(pipeline_app):
    template = pipeline_app.template.to_json()
    (role_id,) = [k for k in _resources(template, "AWS::IAM::Role") if k.startswith("PipelineAssetsFileRole")]
    policies = identity_policies(template, role_id)
    (asset,) = [
        k for k in _resources(template, "AWS::CodeBuild::Project") if k.startswith("PipelineAssetsFileAsset")
    ]
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{{}}:log-stream:x"
    reports = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/{{}}"
    # GIVEN its own project and the synth project (whose reports approvers read)
    # WHEN it writes logs and reports of each
    # THEN only its own are allowed
    assert evaluate(Request("logs:PutLogEvents", logs.format(asset)), policies).allowed
    assert not evaluate(
        Request("logs:PutLogEvents", logs.format("PipelineBuildSynthCdkBuildProject")), policies
    ).allowed
    assert evaluate(
        Request("codebuild:BatchPutTestCases", reports.format(f"{asset}-UnitTests")), policies
    ).allowed
    assert not evaluate(
        Request("codebuild:BatchPutTestCases", reports.format("UnitTestReports89BD3595-x")), policies
    ).allowed


# -- read-only steps and the artifact key (issue 10 #7) -----------------------------------------------


def _artifact_key_actions(app: SynthesizedApp, role_id: str) -> set[str]:
    key = {"Fn::GetAtt": [app.pipeline["ArtifactStore"]["EncryptionKey"]["Id"]["Fn::GetAtt"][0], "Arn"]}
    return {
        action
        for statement in app.role_statements(role_id)
        if statement.get("Resource") == key
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


@pytest.mark.parametrize(
    "path", ["/UpdatePipeline/SelfMutation", "/VerifyDev", "/VerifyProd", "/CDKSecurityCheck"]
)
def test_read_only_steps_may_only_decrypt_with_the_artifact_key(pipeline_app, path):
    # GIVEN a step that only reads artifacts (self-mutation, the verifiers, the permission check)
    (project,) = [
        v
        for v in pipeline_app.of_type("AWS::CodeBuild::Project").values()
        if v["Metadata"]["aws:cdk:path"].endswith(f"{path}/Resource")
    ]
    role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    # WHEN its artifact-key actions are read
    # THEN they are Decrypt and DescribeKey: no Encrypt, ReEncrypt or GenerateDataKey
    assert _artifact_key_actions(pipeline_app, role_id) == {"kms:Decrypt", "kms:DescribeKey"}


def test_the_synth_step_still_writes_its_artifacts(pipeline_app):
    # GIVEN the synth project, which writes the cloud assembly and the reports
    (project,) = [
        v
        for v in pipeline_app.of_type("AWS::CodeBuild::Project").values()
        if "/Synth/CdkBuildProject" in v["Metadata"]["aws:cdk:path"]
    ]
    # WHEN its artifact-key actions are read THEN it keeps what writing SSE-KMS objects needs
    assert {"kms:Encrypt", "kms:GenerateDataKey*"} <= _artifact_key_actions(
        pipeline_app, project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    )


# -- accounts (issue 10 #6) ---------------------------------------------------------------------------


def test_one_account_without_a_reason_fails_naming_the_setting():
    # GIVEN every account null (one account) and no sharedAccountReason
    pipeline, stages = loaded_settings({"sharedAccountReason": None})
    # WHEN the environments are checked
    with pytest.raises(SettingsError) as raised:
        check_stage_environments(pipeline, stages)
    # THEN one line names the setting to fill in, or the two to set apart
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "cdk.json context uploadApi.pipeline.sharedAccountReason must say why dev and prod"
    )
    assert "uploadApi.stages.dev.account" in message


def test_the_same_explicit_account_for_both_stages_also_needs_the_reason():
    pipeline, stages = loaded_settings(
        {"sharedAccountReason": None, "region": REGION},
        {"dev": {"account": ACCOUNT, "region": REGION}, "prod": {"account": ACCOUNT, "region": REGION}},
    )
    with pytest.raises(
        SettingsError,
        match=r"sharedAccountReason must say why dev and prod share one account \(111111111111\)",
    ):
        check_stage_environments(pipeline, stages)


def test_two_accounts_need_no_reason():
    pipeline, stages = loaded_settings(
        {"sharedAccountReason": None, "account": "333333333333", "region": REGION},
        {
            "dev": {"account": ACCOUNT, "region": REGION},
            "prod": {"account": "222222222222", "region": REGION},
        },
    )
    check_stage_environments(pipeline, stages)


def test_a_stage_in_the_unknown_pipeline_account_next_to_an_explicit_one_needs_the_pipeline_account():
    pipeline, stages = loaded_settings(
        {"sharedAccountReason": None, "region": REGION},
        {"prod": {"account": "222222222222", "region": REGION}},
    )
    with pytest.raises(SettingsError, match=r"^cdk\.json context uploadApi\.pipeline\.account must be set"):
        check_stage_environments(pipeline, stages)


def test_a_reason_of_one_word_is_refused():
    with pytest.raises(SettingsError, match=r"uploadApi\.pipeline\.sharedAccountReason must say in words"):
        loaded_settings({"sharedAccountReason": "because"})


def test_a_fresh_clone_synthesizes_with_the_placeholder_reason_and_a_warning(pipeline_app):
    # GIVEN cdk.json as committed (every account null, the placeholder reason)
    from aws_cdk.assertions import Annotations, Match

    from stages.pipeline.settings import PLACEHOLDER_SHARED_ACCOUNT_REASON

    assert pipeline_app.stack.pipeline_settings.shared_account_reason == PLACEHOLDER_SHARED_ACCOUNT_REASON
    # WHEN synthesized (the fixture did) THEN the pipeline stack warns that dev and prod share one account
    Annotations.from_stack(pipeline_app.stack).has_warning(
        "*", Match.string_like_regexp(r"dev and prod deploy into one account .*\(the committed placeholder\)")
    )


def test_stage_settings_without_the_pipeline_still_load():
    # GIVEN a stage on its own (local mode, template tests) WHEN loaded THEN no account check applies
    assert StageSettings(stage="dev").allowed_callers == ()


# -- who may approve: tests/infra/test_approvals.py (the synthesized approver role) -----------------


THREE_ACCOUNTS = {
    "pipeline": {"account": "333333333333", "region": REGION},
    "stages": {
        "dev": {"account": "111111111111", "region": REGION},
        "prod": {"account": "222222222222", "region": REGION},
    },
}


@pytest.mark.parametrize(("stage_id", "stage"), STAGES.items())
def test_across_accounts_the_verifier_role_trusts_only_the_pipeline_accounts_verify_role(
    synth_pipeline, stage_id, stage
):
    # GIVEN dev, prod and the pipeline in three accounts
    app = synth_pipeline(**THREE_ACCOUNTS)
    template = app.stage_template(stage_id)
    role = template["Resources"][_role_id(template, "-Verifier")]["Properties"]
    # WHEN the VerifierRole's trust policy is read
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    # THEN the pipeline account may assume it only as that stage's verify CodeBuild role
    assert as_text(statement["Principal"]["AWS"]) == "arn:aws:iam::333333333333:root"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::333333333333:role/UploadApiPipeline-Verify-{stage}"}
    }
