"""A synthesized pipeline stack and its cloud assembly, in the shape PipelineChangeGate's check reads:
shared by the check's tests (test_pipeline_change_check.py, test_assembly_check.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stages.pipeline import assembly_check as rules

STACK = "UploadApiPipeline"
QUALIFIER = "hnb659fds"
BUCKET = rules.bootstrap_bucket(QUALIFIER)
# The deploy properties aws-cdk-lib writes for a stack of the pipeline's bootstrap.
BOOTSTRAP_PROPERTIES = {
    "terminationProtection": False,
    "assumeRoleArn": rules.bootstrap_role(QUALIFIER, "deploy"),
    "cloudFormationExecutionRoleArn": rules.bootstrap_role(QUALIFIER, "cfn-exec"),
    "requiresBootstrapStackVersion": 6,
    "bootstrapStackVersionSsmParameter": f"/cdk-bootstrap/{QUALIFIER}/version",
    "lookupRole": {
        "arn": rules.bootstrap_role(QUALIFIER, "lookup"),
        "requiresBootstrapStackVersion": 8,
        "bootstrapStackVersionSsmParameter": f"/cdk-bootstrap/{QUALIFIER}/version",
    },
}
FILE_ROLE = rules.bootstrap_role(QUALIFIER, "file-publishing")
# The function's code asset is keyed by its content's aws-cdk-lib fingerprint, as `cdk synth` keys
# the bundle: this one's of `handler.py` as write_prod_stage writes it (test_asset_content.py checks
# it with aws-cdk-lib's FileSystem.fingerprint).
CODE_ASSET = "b41aa51a655a065a50eb3236e399ff599220ba2ec34208c884749f2fac173f14"  # pragma: allowlist secret
HANDLER_SOURCE = "def handler(event, context): ...\n"
# The prod stage's assembly: the stack its Prepare action deploys, and the template file it reads.
PROD_STACK, PROD_ASSEMBLY = "Prod-UploadApi", "assembly-UploadApiPipeline-Prod"
PROD_TEMPLATE = "UploadApiPipelineProdUploadApi29B0775D.template.json"
APPROVAL = f"{STACK}Pipeline/PipelineChangeGate/PipelineChange.Confirm"
EXECUTION = "0f4c2d7e-1111-2222-3333-444455556666"
TOOLS = {
    "package.json": b'{"devDependencies": {"aws-cdk": "2.1.0"}}',
    "package-lock.json": b'{"lockfileVersion": 3}',
}


def action(name: str, provider: str, run_order: int, **configuration: Any) -> dict[str, Any]:
    category = {"Manual": "Approval", "CloudFormation": "Deploy"}.get(provider, "Build")
    return {
        "ActionTypeId": {"Category": category, "Owner": "AWS", "Provider": provider, "Version": "1"},
        "Configuration": configuration,
        "Name": name,
        "RunOrder": run_order,
    }


def pipeline_template() -> dict[str, Any]:
    """The shape of the synthesized pipeline stack: its pipeline, a role and policy, a project."""
    prod_actions = [
        action("ProdPermissionsCheck.Check", "CodeBuild", 1, ProjectName={"Ref": "SecurityCheck"}),
        action("ProdPermissionsCheck.Confirm", "Manual", 2),
        action(
            "UploadApi.Prepare",
            "CloudFormation",
            3,
            ActionMode="CHANGE_SET_REPLACE",
            StackName=PROD_STACK,
            TemplatePath=f"Synth_Output::{PROD_ASSEMBLY}/{PROD_TEMPLATE}",
            RoleArn=rules.bootstrap_role("uploadprod", "cfn-exec"),
        ),
        action("UploadApi.PromoteToProd", "Manual", 4, CustomData="Review change set PipelineChange"),
        action("UploadApi.Deploy", "CloudFormation", 5, ActionMode="CHANGE_SET_EXECUTE"),
    ]
    stages = [
        {"Name": "Build", "Actions": [action("Synth", "CodeBuild", 1, ProjectName={"Ref": "Synth"})]},
        {"Name": "UpdatePipeline", "Actions": [action("SelfMutate", "CodeBuild", 1)]},
        {"Name": "Prod", "Actions": prod_actions},
    ]
    return {
        "Resources": {
            "Pipeline": {
                "Type": "AWS::CodePipeline::Pipeline",
                "Properties": {"Stages": stages, "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]}},
                "Metadata": {"aws:cdk:path": "UploadApiPipeline/Pipeline/Pipeline/Resource"},
            },
            "PipelineRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": [{"Principal": {"Service": "x"}}]}},
            },
            "PipelineRoleDefaultPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [{"Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"}]
                    }
                },
            },
            "Synth": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Source": {"BuildSpec": '{"phases": {"build": {"commands": ["make synth"]}}}'}
                },
            },
            "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:deflate64:AAA"}},
        },
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}},
    }


def prod_actions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return template["Resources"]["Pipeline"]["Properties"]["Stages"][2]["Actions"]


def write_assembly(root: Path, template: dict[str, Any], tools: dict[str, bytes] | None = None) -> Path:
    """A cloud assembly as `make synth` writes it: manifest, template, its asset, the pipeline tools."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{STACK}.template.json").write_text(json.dumps(template), encoding="utf-8")
    # As `cdk synth` names it: the template's SHA-256, in the pipeline bootstrap's bucket.
    digest = hashlib.sha256((root / f"{STACK}.template.json").read_bytes()).hexdigest()
    key = f"{digest}.json"
    assets = {"files": {digest: {"source": {"path": f"{STACK}.template.json", "packaging": "file"},
                                    "destinations": {"current": {"bucketName": BUCKET,
                                                                 "objectKey": key,
                                                                 "assumeRoleArn": FILE_ROLE}}}}}  # fmt: skip
    (root / f"{STACK}.assets.json").write_text(json.dumps(assets), encoding="utf-8")
    manifest = {
        "artifacts": {
            f"{STACK}.assets": {"type": "cdk:asset-manifest", "properties": {"file": f"{STACK}.assets.json"}},
            STACK: {
                "type": "aws:cloudformation:stack",
                "properties": {
                    "templateFile": f"{STACK}.template.json",
                    "stackTemplateAssetObjectUrl": f"s3://{BUCKET}/{key}",
                    **BOOTSTRAP_PROPERTIES,
                    "additionalDependencies": [f"{STACK}.assets"],
                },
                "dependencies": [f"{STACK}.assets"],
                "displayName": STACK,
            },
        }
    }
    manifest["artifacts"][PROD_ASSEMBLY] = {
        "type": "cdk:cloud-assembly",
        "properties": {"directoryName": PROD_ASSEMBLY, "displayName": "UploadApiPipeline/Prod"},
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    stage = root / PROD_ASSEMBLY
    stage.mkdir(exist_ok=True)
    write_prod_stage(root)
    (root / rules.PIPELINE_TOOLS).mkdir(exist_ok=True)
    for name, content in (TOOLS if tools is None else tools).items():
        (root / rules.PIPELINE_TOOLS / name).write_bytes(content)
    return root


def write_prod_stage(root: Path) -> None:
    """The prod stage's assembly: its stack (the one `cdk diff UploadApiPipeline/Prod/*` selects), its
    template naming the function's code, and the asset manifest publishing both into prod's bucket."""
    stage = root / PROD_ASSEMBLY
    stage.mkdir(exist_ok=True)
    code = {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": f"{CODE_ASSET}.zip"}}}
    (stage / PROD_TEMPLATE).write_text(json.dumps({"Resources": {"Fn": code}}), encoding="utf-8")
    (root / f"asset.{CODE_ASSET}").mkdir(exist_ok=True)
    (root / f"asset.{CODE_ASSET}" / "handler.py").write_text(HANDLER_SOURCE, encoding="utf-8")
    template_key = hashlib.sha256((stage / PROD_TEMPLATE).read_bytes()).hexdigest() + ".json"
    destination = {
        "bucketName": rules.bootstrap_bucket("uploadprod"),
        "assumeRoleArn": rules.bootstrap_role("uploadprod", "file-publishing"),
    }
    files = {
        CODE_ASSET: {
            "source": {"path": f"../asset.{CODE_ASSET}", "packaging": "zip"},
            "destinations": {"current": {**destination, "objectKey": f"{CODE_ASSET}.zip"}},
        },
        template_key.removesuffix(".json"): {
            "source": {"path": PROD_TEMPLATE, "packaging": "file"},
            "destinations": {"current": {**destination, "objectKey": template_key}},
        },
    }
    (stage / "ProdUploadApi.assets.json").write_text(json.dumps({"files": files}), encoding="utf-8")
    stack = {
        "type": "aws:cloudformation:stack",
        "displayName": f"{STACK}/Prod/UploadApi",
        "properties": {"stackName": PROD_STACK, "templateFile": PROD_TEMPLATE},
    }
    assets = {"type": "cdk:asset-manifest", "properties": {"file": "ProdUploadApi.assets.json"}}
    artifacts = {"ProdUploadApi.assets": assets, "ProdUploadApi": stack}
    (stage / "manifest.json").write_text(json.dumps({"artifacts": artifacts}), encoding="utf-8")


def edit_manifest(root: Path, edit: Any) -> None:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest["artifacts"])
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
