"""Emulate the upload stack's data resources from its own synthesized template.

Local mode and the moto-backed tests create their bucket, table and keys from
the template `cdk synth` produces, so no value (key schema, versioning,
encryption, lifecycle, throttling, handler environment) has a second copy.
moto's CloudFormation cannot be used instead: it skips API Gateway stages,
models and validators, and its bucket-policy evaluation denies what it cannot
evaluate (a deny-unless-principal policy blocks everyone), so the bucket policy
is left out here and proven on the template by tests/infra.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tools.common import assembly, intrinsics
from tools.common.intrinsics import TemplateValue
from tools.common.paths import cdk_context

STACK_ID = "UploadApi"
ACCOUNT = "123456789012"  # moto's default account: what its ARNs say
STAGE_IDS = {"dev": "Dev", "prod": "Prod"}


@lru_cache(maxsize=4)
def _synth_template_text(stage: str) -> str:
    import aws_cdk as cdk  # imported late: starting jsii costs a second or two

    from stages.settings import CONTEXT_KEY, load_stage_settings
    from stages.upload_stage import UploadApiStage

    # No bundling: the emulated resources do not depend on the Lambda asset.
    context = cdk_context(**{"aws:cdk:bundling-stacks": []})
    with tempfile.TemporaryDirectory(prefix="upload-api-synth-") as outdir:
        app = cdk.App(context=context, outdir=outdir)
        stage_construct = UploadApiStage(
            app, STAGE_IDS[stage], settings=load_stage_settings(app.node.try_get_context(CONTEXT_KEY), stage)
        )
        assembly = app.synth()
        stack = assembly.get_stack_artifact(stage_construct.stack.artifact_id)
        return json.dumps({"stackName": stack.stack_name, "template": stack.template})


def synth_upload_template(stage: str = "dev") -> tuple[str, dict[str, Any]]:
    """(stack name, template) of the stage's upload stack, synthesized in-process."""
    data = json.loads(_synth_template_text(stage))
    return data["stackName"], data["template"]


class UploadTemplate(assembly.Template):
    """The upload stack's template, looked up by what local mode builds from it."""

    @property
    def upload_bucket(self) -> tuple[str, Mapping[str, Any]]:
        # The upload bucket is the KMS-encrypted one; the access-log bucket is SSE-S3.
        for logical_id, resource in self.of_type("AWS::S3::Bucket").items():
            rules = resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            if rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms":
                return logical_id, resource
        raise LookupError("no KMS-encrypted bucket in the template")

    @property
    def table(self) -> tuple[str, Mapping[str, Any]]:
        return self.one("AWS::DynamoDB::Table")

    @property
    def function(self) -> tuple[str, Mapping[str, Any]]:
        return self.one("AWS::Lambda::Function", Handler="upload_api.handler.lambda_handler")

    @property
    def throttling(self) -> tuple[float, int]:
        """(rate per second, burst) of the API stage's method settings."""
        _, stage = self.one("AWS::ApiGateway::Stage")
        settings = next(s for s in stage["Properties"]["MethodSettings"] if s.get("ResourcePath") == "/*")
        return float(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"])

    @property
    def request_schema(self) -> dict[str, Any]:
        _, model = self.one("AWS::ApiGateway::Model", ContentType="application/json")
        return model["Properties"]["Schema"]

    @property
    def gateway_responses(self) -> dict[str, dict[str, Any]]:
        """Each customized gateway response: {type: {"status", "headers", "template"}}.

        Header values are the static ones (quoted in the template: `'no-store'`).
        """
        responses = {}
        for resource in self.of_type("AWS::ApiGateway::GatewayResponse").values():
            props = resource["Properties"]
            prefix = "gatewayresponse.header."
            headers = {
                name[len(prefix) :]: value.strip("'")
                for name, value in props.get("ResponseParameters", {}).items()
                if name.startswith(prefix) and value.startswith("'")
            }
            responses[props["ResponseType"]] = {
                "status": int(props["StatusCode"]) if props.get("StatusCode") else None,
                "headers": headers,
                "template": props.get("ResponseTemplates", {}).get("application/json", ""),
            }
        return responses

    @property
    def stage_name(self) -> str:
        _, stage = self.one("AWS::ApiGateway::Stage")
        return stage["Properties"]["StageName"]


@dataclass
class EmulatedResources:
    bucket_name: str
    table_name: str
    key_arns: dict[str, str] = field(default_factory=dict)
    function_environment: dict[str, str] = field(default_factory=dict)


def create_emulated_resources(template: dict[str, Any], session: Any) -> EmulatedResources:
    """Create keys, the upload bucket and the table in the (moto) account `session` points at."""
    view = UploadTemplate(template)
    kms = session.client("kms")
    s3 = session.client("s3")
    dynamodb = session.client("dynamodb")

    key_arns: dict[str, str] = {}
    for logical_id, key in view.of_type("AWS::KMS::Key").items():
        props = key["Properties"]
        created = kms.create_key(Description=props.get("Description", logical_id))["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=created["KeyId"])
        key_arns[logical_id] = created["Arn"]

    bucket_id, bucket = view.upload_bucket
    table_id, table = view.table
    # No physical names in the stack: CloudFormation would generate them; so do we.
    names = {bucket_id: f"local-{bucket_id.lower()}", table_id: f"local-{table_id}"}
    where = intrinsics.Account(ACCOUNT, session.region_name or "us-east-1")
    key_attributes = {(logical_id, "Arn"): arn for logical_id, arn in key_arns.items()}
    policy = intrinsics.Deployed(where, names, view.types(), key_attributes)

    def resolve(value: TemplateValue) -> TemplateValue:
        return intrinsics.resolve_tree(value, policy)

    bucket_props = resolve(bucket["Properties"])
    s3.create_bucket(Bucket=names[bucket_id])
    s3.put_bucket_versioning(
        Bucket=names[bucket_id], VersioningConfiguration=bucket_props["VersioningConfiguration"]
    )
    s3.put_bucket_encryption(
        Bucket=names[bucket_id],
        ServerSideEncryptionConfiguration={"Rules": _encryption_rules(bucket_props)},
    )
    s3.put_public_access_block(
        Bucket=names[bucket_id], PublicAccessBlockConfiguration=bucket_props["PublicAccessBlockConfiguration"]
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=names[bucket_id], LifecycleConfiguration={"Rules": _lifecycle_rules(bucket_props)}
    )

    table_props = resolve(table["Properties"])
    dynamodb.create_table(
        TableName=names[table_id],
        KeySchema=table_props["KeySchema"],
        AttributeDefinitions=table_props["AttributeDefinitions"],
        BillingMode=table_props["BillingMode"],
        SSESpecification={
            "Enabled": table_props["SSESpecification"]["SSEEnabled"],
            "SSEType": table_props["SSESpecification"]["SSEType"],
            "KMSMasterKeyId": table_props["SSESpecification"]["KMSMasterKeyId"],
        },
        DeletionProtectionEnabled=table_props.get("DeletionProtectionEnabled", False),
    )

    _, function = view.function
    environment = {k: str(resolve(v)) for k, v in function["Properties"]["Environment"]["Variables"].items()}
    return EmulatedResources(
        bucket_name=names[bucket_id],
        table_name=names[table_id],
        key_arns=key_arns,
        function_environment=environment,
    )


def _encryption_rules(bucket_props: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation says ServerSideEncryptionByDefault; the S3 API says Apply...ByDefault."""
    rules = []
    for rule in bucket_props["BucketEncryption"]["ServerSideEncryptionConfiguration"]:
        api_rule: dict[str, Any] = {
            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]
        }
        if "BucketKeyEnabled" in rule:
            api_rule["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
        rules.append(api_rule)
    return rules


def _lifecycle_rules(bucket_props: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's lifecycle rule shape, in the S3 API's spelling."""
    rules = []
    for rule in bucket_props.get("LifecycleConfiguration", {}).get("Rules", []):
        api_rule: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": ""}}
        if "NoncurrentVersionExpiration" in rule:
            api_rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            }
        if "AbortIncompleteMultipartUpload" in rule:
            api_rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            }
        if "ExpirationInDays" in rule:
            api_rule["Expiration"] = {"Days": rule["ExpirationInDays"]}
        rules.append(api_rule)
    return rules
