"""moto's quirks the rehearsal works around, patched here (moto 5.2.5, in this process).

Each where it is used:
- the CDK CLI must reach S3 as `localhost`: moto reads `127.0.0.1` in a virtual-host style URL as
  a bucket name (AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION, cli_environment()).
- DescribeChangeSet/DeleteChangeSet of a name that does not exist are mishandled:
  existing_change_set() asks ListChangeSets instead.
- a stack can reach CREATE_COMPLETE after a resource's creation answered 500: the deploy action
  never trusts the stack status alone, it checks each resource through its service's API.
- a resource another one Refs is created when first referenced, before its own DependsOn (an
  API Gateway Deployment before its Method: "The REST API doesn't contain any methods").
  patch_moto() creates a resource's DependsOn first.
- AWS::Lambda::Alias has no CloudFormation model, though moto's Lambda API has aliases (and the
  alias-qualified Lambda permission needs one): patch_moto() adds a model that creates it through
  that API, so it is deployed and read back like any other resource.
- AWS::KMS::Key keeps the template's KeyPolicy as an object where its API keeps a JSON string:
  every later call on the key (DescribeKey, Encrypt) answers 500. patch_moto() stores the string.
- AWS::ApiGateway::Deployment has no physical id (Ref): patch_moto() makes it the deployment id.
- executing a change set never recomputes the stack's outputs (a CREATE change set's stack keeps
  the empty outputs of the template it was reviewed with): patch_moto() rebuilds them from the
  change set's template, as CloudFormation reports them after an execution.
- AWS::S3::Bucket applies only encryption and tags from the template; versioning is ignored (and
  the verifier checks that an upload gets a version id): patch_moto() applies VersioningConfiguration.
  The other bucket properties moto ignores are applied by moto_properties.py (below).
- IAM rejects a policy with a policy variable in an ARN's account field
  (`arn:*:iam::${aws:PrincipalAccount}:role/...`, which AWS accepts): it splits the ARN on the
  variable's colon. patch_moto() validates a copy with the variables replaced by sample values.
- AWS::IAM::Role ignores ManagedPolicyArns (the CDK bootstrap's execution role gets no policy):
  patch_moto() attaches them, failing as IAM would for a policy that does not exist.
- AWS::KMS::Key passes the template's Tags (Key/Value) where its API expects TagKey/TagValue
  (500): patch_moto() converts them.
- AWS::Logs::LogGroup drops KmsKeyId (moto's API reads `kmsKeyId`; CloudFormation passes `KmsKeyId`):
  patch_moto() sets it, so DescribeLogGroups answers the key the template names (fidelity.py).
- AWS::Logs::LogGroup's Fn::GetAtt Arn lacks the `:*` CloudFormation documents (a policy granting
  log streams under it then names the group alone): patch_moto() answers it as CloudFormation does.
- AWS::DynamoDB::Table reads SSESpecification in the API's shape (`Enabled`) where CloudFormation
  writes `SSEEnabled`, so the table's KMS key is dropped, and ignores
  PointInTimeRecoverySpecification: patch_moto() applies both.
- AWS::Lambda::Version has no Ref (CloudFormation's is the version ARN) and no Fn::GetAtt
  (`Version`, used by the alias): a GetAtt answers 500. patch_moto() gives it both.
- GetTemplate ignores ChangeSetName (it answers the stack's template, not the change set's, which
  JudgedChangeSet compares with the artifact's): patch_moto() answers the template the named change set
  (a name of that stack, or an id) was created with, as submitted (TemplateStage Original), and
  ChangeSetNotFound for one the stack does not have.
- the properties moto's CloudFormation drops on the types it creates (S3 buckets, Lambda
  functions, the REST API, the SNS topic, the table's TTL): patch_moto() installs
  moto_properties.py, which applies them through moto's backends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tools.review_kit.rehearse import cfn_hooks


def patch_moto() -> None:
    """DependsOn before a lazily created resource; AWS::Lambda::Version's Ref and Fn::GetAtt."""
    from moto.awslambda import models
    from moto.cloudformation import parsing

    resource_map: Any = parsing.ResourceMap
    if not getattr(resource_map, "_rehearsal_patched", False):
        original_getitem = resource_map.__getitem__

        def getitem(self: Any, key: str) -> Any:
            resource_json = getattr(self, "_resource_json_map", {}).get(key)
            if key not in self._parsed_resources and isinstance(resource_json, dict):
                depends_on = resource_json.get("DependsOn", [])
                for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
                    if dependency not in self._parsed_resources:
                        getitem(self, dependency)
            return original_getitem(self, key)

        resource_map.__getitem__ = getitem
        resource_map._rehearsal_patched = True

    version_class: Any = models.LambdaVersion
    if getattr(version_class, "_rehearsal_patched", False):
        return

    def create(
        resource_name: str, properties: dict[str, Any], account_id: str, region: str, _: Mapping[str, Any]
    ) -> Any:
        function = models.lambda_backends[account_id][region].publish_version(properties["FunctionName"])
        if function is None:
            raise ValueError(f"cannot publish a version of {properties['FunctionName']}")
        version = version_class({"Version": function.version})
        version.version_arn = function.function_arn  # qualified with the version number
        return version

    def attribute(self: Any, name: str) -> str:
        return {"Version": str(self.version), "FunctionArn": self.version_arn.rsplit(":", 1)[0]}[name]

    version_class.create_from_cloudformation_json = cfn_hooks.moto_create(create)
    version_class.physical_resource_id = property(lambda self: self.version_arn)
    version_class.has_cfn_attr = classmethod(lambda cls, name: name in ("Version", "FunctionArn"))
    version_class.get_cfn_attribute = attribute
    version_class._rehearsal_patched = True
    _add_alias_model(models)
    _patch_kms_key_policy()
    _patch_change_set_outputs()
    _patch_get_template_of_a_change_set()
    _patch_bucket_versioning()
    _patch_policy_variables_in_arns()
    _patch_role_managed_policies()
    _patch_log_group_kms_key()
    _patch_log_group_arn_attribute()
    _patch_table_encryption_and_recovery()
    from moto.apigateway import models as apigateway

    apigateway.Deployment.physical_resource_id = property(lambda self: self.id)  # type: ignore[attr-defined]
    from tools.review_kit.rehearse import moto_properties

    moto_properties.install()  # the properties moto's CloudFormation drops (moto_properties.py)


def _patch_change_set_outputs() -> None:
    from moto.cloudformation import models as cloudformation
    from moto.cloudformation.parsing import OutputMap

    change_set_class: Any = cloudformation.ChangeSet
    if getattr(change_set_class, "_rehearsal_patched", False):
        return
    original_apply = change_set_class.apply

    def apply(self: Any) -> None:
        original_apply(self)
        self.stack.template_dict = self.template_dict
        self.stack.template = self.template
        self.stack.output_map = OutputMap(self.stack.resource_map, self.template_dict, self.stack.stack_id)

    change_set_class.apply = apply
    change_set_class._rehearsal_patched = True


def _patch_get_template_of_a_change_set() -> None:
    from moto.cloudformation import responses
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.core.responses import ActionResult

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"

    response_class: Any = responses.CloudFormationResponse
    if getattr(response_class, "_rehearsal_patched", False):
        return
    original = response_class.get_template

    def get_template(self: Any) -> Any:
        name = self._get_param("ChangeSetName")
        if not name:
            return original(self)
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        change_sets = self.cloudformation_backend.change_sets
        found = [
            change_set
            for change_set_id, change_set in change_sets.items()
            if change_set.stack_id == stack.stack_id and name in (change_set_id, change_set.change_set_name)
        ]
        if not found:
            raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")
        return ActionResult({"TemplateBody": found[-1].template, "StagesAvailable": ["Original"]})

    response_class.get_template = get_template
    response_class._rehearsal_patched = True


def _patch_policy_variables_in_arns() -> None:
    from moto.iam import policy_validation

    from tools.review_kit.rehearse.emulator import ACCOUNT

    validator: Any = policy_validation.IAMPolicyDocumentValidator
    if getattr(validator, "_rehearsal_patched", False):
        return
    original_init = validator.__init__

    def init(self: Any, policy_document: str, *args: Any, **kwargs: Any) -> None:
        sample = re.sub(r"\$\{aws:PrincipalAccount\}", ACCOUNT, policy_document)
        sample = re.sub(r"\$\{aws:[A-Za-z]+\}", "sample", sample)
        original_init(self, sample, *args, **kwargs)

    validator.__init__ = init
    validator._rehearsal_patched = True


def _patch_role_managed_policies() -> None:
    from moto.iam import models as iam

    def attach(role: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
        backend = iam.iam_backends[account_id]["aws"]
        for policy_arn in properties.get("ManagedPolicyArns", []):
            backend.attach_role_policy(policy_arn, role.name)

    cfn_hooks.around_create(iam.Role, attach)


def _patch_log_group_kms_key() -> None:
    from moto.logs import models as logs

    def encrypt(group: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
        key = properties.get("KmsKeyId")
        if key:
            group.kms_key_id = key

    cfn_hooks.around_create(logs.LogGroup, encrypt)


def _patch_log_group_arn_attribute() -> None:
    from moto.logs import models as logs

    log_group: Any = logs.LogGroup
    original = log_group.get_cfn_attribute
    if getattr(original, "_rehearsal_patched", False):
        return

    def attribute(self: Any, name: str) -> str:
        return f"{self.arn}:*" if name == "Arn" else str(original(self, name))

    attribute._rehearsal_patched = True  # type: ignore[attr-defined]
    log_group.get_cfn_attribute = attribute


def _patch_table_encryption_and_recovery() -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    def as_written(table: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
        sse = properties.get("SSESpecification") or {}
        if sse.get("SSEEnabled"):
            table.sse_specification = {"Enabled": True, "SSEType": sse.get("SSEType", "KMS")}
            if sse.get("KMSMasterKeyId"):
                table.sse_specification["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
        recovery = properties.get("PointInTimeRecoverySpecification") or {}
        if recovery.get("PointInTimeRecoveryEnabled"):
            backend = dynamodb_backends[account_id][table.region_name]
            backend.update_continuous_backups(table.name, {"PointInTimeRecoveryEnabled": True})

    cfn_hooks.around_create(Table, as_written)


def _patch_bucket_versioning() -> None:
    from moto.s3 import models as s3

    def version(bucket: Any, properties: Mapping[str, Any], account_id: str, region: str) -> None:
        versioning = properties.get("VersioningConfiguration") or {}
        if versioning.get("Status"):
            bucket.versioning_status = versioning["Status"]

    cfn_hooks.around_create(s3.FakeBucket, version)


def _patch_kms_key_policy() -> None:
    import json

    from moto.kms import models as kms

    def as_kms_reads_them(cloudformation_json: dict[str, Any]) -> None:
        properties = cloudformation_json["Properties"]
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        properties["Tags"] = [
            {"TagKey": tag["Key"], "TagValue": tag["Value"]} if "Key" in tag else tag
            for tag in properties.get("Tags", [])
        ]

    cfn_hooks.around_create(kms.Key, before=as_kms_reads_them)


def _add_alias_model(models: Any) -> None:
    class _Alias:
        def __init__(self, arn: str, name: str) -> None:
            self.arn, self.name = arn, name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        def get_cfn_attribute(self, attribute: str) -> str:
            return self.arn

        def is_created(self) -> bool:
            return True

    def create(
        resource_name: str, properties: dict[str, Any], account_id: str, region: str, _: Mapping[str, Any]
    ) -> _Alias:
        alias = models.lambda_backends[account_id][region].create_alias(
            properties["Name"],
            properties["FunctionName"],
            str(properties["FunctionVersion"]),
            properties.get("Description", ""),
            properties.get("RoutingConfig"),
        )
        return _Alias(alias.arn, alias.name)

    alias = cfn_hooks.ModelType(create, None, "Name", ("AliasArn",))
    cfn_hooks.register_models("Rehearsal", {"AWS::Lambda::Alias": alias})
