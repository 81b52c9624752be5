"""The AWS emulator of the rehearsal: moto server on loopback, and every patch of it, here only.

moto (pinned in pyproject.toml's dev group) runs in this process (ThreadedMotoServer on 127.0.0.1),
so the rehearsal can teach its CloudFormation the resource types it lacks. Those types are
modelled in EMULATED_TYPES below, explicitly: a modelled resource is recorded (its properties,
as CloudFormation resolved them) and given the Ref and attributes the real type has, so the
templates that use them deploy; it is never called deployed. The deploy action lists each one as
`emulated, not deployed`. A type that is neither supported by moto nor modelled here is skipped
by moto without an error; the deploy action's check of every resource catches that.

Other quirks of moto 5.2.5 the rehearsal works around, each where it is used:
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
  The other bucket properties moto ignores are held on the template by tests/infra.
- IAM rejects a policy with a policy variable in an ARN's account field
  (`arn:*:iam::${aws:PrincipalAccount}:role/...`, which AWS accepts): it splits the ARN on the
  variable's colon. patch_moto() validates a copy with the variables replaced by sample values.
- AWS::IAM::Role ignores ManagedPolicyArns (the CDK bootstrap's execution role gets no policy):
  patch_moto() attaches them, failing as IAM would for a policy that does not exist.
- AWS::KMS::Key passes the template's Tags (Key/Value) where its API expects TagKey/TagValue
  (500): patch_moto() converts them.
- AWS::Lambda::Version has no Ref (CloudFormation's is the version ARN) and no Fn::GetAtt
  (`Version`, used by the alias): a GetAtt answers 500. patch_moto() gives it both.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret - moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class EmulatedType:
    """How a type moto lacks answers Ref and Fn::GetAtt, from its resolved properties."""

    name_property: str = ""  # the property that names it, if any (else a generated name)
    ref: str = "name"  # "name", "arn" or "id": what Ref returns
    arn: str = ""  # ARN pattern: {partition} {region} {account} {name} and resolved properties
    attributes: tuple[str, ...] = ()


# The types moto 5.2.5's CloudFormation lacks that our templates use. Each entry is a model, not a
# deployment: the deploy action reports these resources as `emulated, not deployed`.
EMULATED_TYPES: dict[str, EmulatedType] = {
    "AWS::CDK::Metadata": EmulatedType(),
    "AWS::ApiGateway::Account": EmulatedType(ref="id"),
    "AWS::ApiGateway::GatewayResponse": EmulatedType(ref="id"),
    "AWS::ApiGateway::Model": EmulatedType(name_property="Name"),
    "AWS::ApiGateway::RequestValidator": EmulatedType(ref="id", attributes=("RequestValidatorId",)),
    "AWS::ApiGateway::Stage": EmulatedType(name_property="StageName"),
    "AWS::CloudWatch::Alarm": EmulatedType(
        name_property="AlarmName",
        arn="arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
        attributes=("Arn",),
    ),
    "AWS::CodeBuild::Project": EmulatedType(
        name_property="Name",
        arn="arn:{partition}:codebuild:{region}:{account}:project/{name}",
        attributes=("Arn",),
    ),
    "AWS::CodeBuild::ReportGroup": EmulatedType(
        name_property="Name",
        ref="arn",
        arn="arn:{partition}:codebuild:{region}:{account}:report-group/{name}",
        attributes=("Arn",),
    ),
    "AWS::CodeDeploy::Application": EmulatedType(name_property="ApplicationName"),
    "AWS::CodeDeploy::DeploymentGroup": EmulatedType(name_property="DeploymentGroupName"),
    "AWS::CodePipeline::Pipeline": EmulatedType(name_property="Name", attributes=("Version",)),
    "AWS::GuardDuty::MalwareProtectionPlan": EmulatedType(
        ref="id",
        arn="arn:{partition}:guardduty:{region}:{account}:malware-protection-plan/{name}",
        attributes=("Arn", "MalwareProtectionPlanId"),
    ),
    "AWS::Lambda::EventInvokeConfig": EmulatedType(ref="id"),
    "AWS::Logs::MetricFilter": EmulatedType(name_property="FilterName"),
    "AWS::Logs::QueryDefinition": EmulatedType(ref="id", attributes=("QueryDefinitionId",)),
    "AWS::S3::BucketPolicy": EmulatedType(ref="id"),
    "AWS::SNS::TopicPolicy": EmulatedType(ref="id", attributes=("Id",)),
    "AWS::SQS::QueuePolicy": EmulatedType(ref="id", attributes=("Id",)),
}


@dataclass
class EmulatedResource:
    resource_type: str
    logical_id: str
    stack_id: str
    name: str
    properties: dict[str, Any]
    region: str
    account: str
    deleted: bool = False

    def arn(self) -> str:
        spec = EMULATED_TYPES[self.resource_type]
        values = {k: v for k, v in self.properties.items() if isinstance(v, str)}
        return spec.arn.format(
            partition="aws", region=self.region, account=self.account, name=self.name, **values
        )

    @property
    def ref(self) -> str:
        spec = EMULATED_TYPES[self.resource_type]
        return {"name": self.name, "arn": self.arn() if spec.arn else self.name, "id": self.name}[spec.ref]


@dataclass
class Registry:
    """Every emulated resource created, by (stack id, logical id)."""

    resources: dict[tuple[str, str], EmulatedResource] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, stack_id: str, logical_id: str) -> EmulatedResource | None:
        with self.lock:
            found = self.resources.get((stack_id, logical_id))
        return None if found is None or found.deleted else found


REGISTRY = Registry()
_INSTALLED: set[str] = set()


def install_emulated_types(types: Mapping[str, EmulatedType] = EMULATED_TYPES) -> None:
    """Register a moto CloudFormation model for each type moto lacks (idempotent)."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    parsing.get_model_map()  # moto's own models first: never shadow a type moto supports
    for type_name, spec in types.items():
        if type_name in _INSTALLED or type_name in parsing.get_model_map():
            continue
        _INSTALLED.add(type_name)
        _make_model(CloudFormationModel, type_name, spec)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def _make_model(base: type, type_name: str, spec: EmulatedType) -> type:
    """A direct CloudFormationModel subclass (moto lists models with __subclasses__)."""

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Instance:
        properties = dict(cloudformation_json.get("Properties") or {})
        name = str(properties.get(spec.name_property) or "") if spec.name_property else ""
        if not name:
            name = resource_name if spec.ref == "name" else uuid.uuid4().hex[:10]
        resource = EmulatedResource(
            type_name,
            kwargs.get("LogicalId", ""),
            kwargs.get("StackId", ""),
            name,
            properties,
            region_name,
            account_id,
        )
        with REGISTRY.lock:
            REGISTRY.resources[(resource.stack_id, resource.logical_id)] = resource
        return _Instance(resource)

    def delete(
        cls: type, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        with REGISTRY.lock:
            for resource in REGISTRY.resources.values():
                if resource.name == resource_name and resource.resource_type == type_name:
                    resource.deleted = True

    namespace = {
        "cloudformation_type": staticmethod(lambda: type_name),
        "cloudformation_name_type": staticmethod(lambda: spec.name_property),
        "has_cfn_attr": classmethod(lambda cls, attr: attr in spec.attributes),
        "create_from_cloudformation_json": classmethod(create),
        "delete_from_cloudformation_json": classmethod(delete),
    }
    return type(f"Emulated{type_name.replace('::', '')}", (base,), namespace)


class _Instance:
    """What moto's resource map holds for an emulated resource: Ref and Fn::GetAtt answers."""

    def __init__(self, resource: EmulatedResource) -> None:
        self.resource = resource

    @property
    def physical_resource_id(self) -> str:
        return self.resource.ref

    def get_cfn_attribute(self, attribute: str) -> str:
        if attribute in ("Arn", "AliasArn"):
            return self.resource.arn()
        return self.resource.name

    def is_created(self) -> bool:
        return True


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
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        backend = models.lambda_backends[account_id][region_name]
        function = backend.publish_version(cloudformation_json["Properties"]["FunctionName"])
        if function is None:
            raise ValueError(
                f"cannot publish a version of {cloudformation_json['Properties']['FunctionName']}"
            )
        version = version_class({"Version": function.version})
        version.version_arn = function.function_arn  # qualified with the version number
        return version

    def attribute(self: Any, name: str) -> str:
        return {"Version": str(self.version), "FunctionArn": self.version_arn.rsplit(":", 1)[0]}[name]

    version_class.create_from_cloudformation_json = classmethod(create)
    version_class.physical_resource_id = property(lambda self: self.version_arn)
    version_class.has_cfn_attr = classmethod(lambda cls, name: name in ("Version", "FunctionArn"))
    version_class.get_cfn_attribute = attribute
    version_class._rehearsal_patched = True
    _add_alias_model(models)
    _patch_kms_key_policy()
    _patch_change_set_outputs()
    _patch_bucket_versioning()
    _patch_policy_variables_in_arns()
    _patch_role_managed_policies()
    from moto.apigateway import models as apigateway

    apigateway.Deployment.physical_resource_id = property(lambda self: self.id)  # type: ignore[attr-defined]


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


def _patch_policy_variables_in_arns() -> None:
    import re

    from moto.iam import policy_validation

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


def _wrap_cloudformation_create(
    model_class: Any,
    *,
    before: Callable[[dict[str, Any]], None] | None = None,
    after: Callable[[Any, dict[str, Any], str], None] | None = None,
) -> None:
    """Wrap a moto model's CloudFormation create, once: `before` mends the resource's JSON as moto
    reads it, `after` (created model, resource JSON, account id) sets what moto left out."""
    if getattr(model_class, "_rehearsal_patched", False):
        return
    original = model_class.create_from_cloudformation_json.__func__

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        if before is not None:
            before(cloudformation_json)
        created = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if after is not None:
            after(created, cloudformation_json, account_id)
        return created

    model_class.create_from_cloudformation_json = classmethod(create)
    model_class._rehearsal_patched = True


def _patch_role_managed_policies() -> None:
    from moto.iam import models as iam

    def attach(role: Any, cloudformation_json: dict[str, Any], account_id: str) -> None:
        backend = iam.iam_backends[account_id]["aws"]
        for policy_arn in (cloudformation_json.get("Properties") or {}).get("ManagedPolicyArns", []):
            backend.attach_role_policy(policy_arn, role.name)

    _wrap_cloudformation_create(iam.Role, after=attach)


def _patch_bucket_versioning() -> None:
    from moto.s3 import models as s3

    def version(bucket: Any, cloudformation_json: dict[str, Any], account_id: str) -> None:
        versioning = (cloudformation_json.get("Properties") or {}).get("VersioningConfiguration") or {}
        if versioning.get("Status"):
            bucket.versioning_status = versioning["Status"]

    _wrap_cloudformation_create(s3.FakeBucket, after=version)


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

    _wrap_cloudformation_create(kms.Key, before=as_kms_reads_them)


def _add_alias_model(models: Any) -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    if "AWS::Lambda::Alias" in parsing.get_model_map():
        return

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
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Alias:
        properties = cloudformation_json["Properties"]
        alias = models.lambda_backends[account_id][region_name].create_alias(
            properties["Name"],
            properties["FunctionName"],
            str(properties["FunctionVersion"]),
            properties.get("Description", ""),
            properties.get("RoutingConfig"),
        )
        return _Alias(alias.arn, alias.name)

    type(
        "RehearsalLambdaAlias",
        (CloudFormationModel,),
        {
            "cloudformation_type": staticmethod(lambda: "AWS::Lambda::Alias"),
            "cloudformation_name_type": staticmethod(lambda: "Name"),
            "has_cfn_attr": classmethod(lambda cls, name: name == "AliasArn"),
            "create_from_cloudformation_json": classmethod(create),
        },
    )
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


# -- The server and how clients reach it ----------------------------------------------------------


@dataclass
class Emulator:
    endpoint: str  # http://localhost:PORT (see the module docstring for why not 127.0.0.1)
    server: Any

    def stop(self) -> None:
        self.server.stop()


def start() -> Emulator:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
    # AWS managed policies exist (the bootstrap's lookup role attaches ReadOnlyAccess).
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    install_emulated_types()
    patch_moto()
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    emulator = Emulator(f"http://localhost:{port}", server)
    os.environ.update(client_environment(emulator.endpoint))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    return emulator


def client_environment(endpoint: str) -> dict[str, str]:
    """Environment for any AWS client (boto3, the CDK CLI) to reach only the emulator."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CDK_DISABLE_VERSION_CHECK": "1",  # the CLI would look for a newer version on the internet
    }


def existing_change_set(client: Any, stack_name: str, change_set_name: str) -> bool:
    """Whether the stack has that change set; ListChangeSets, as moto mishandles DescribeChangeSet."""
    try:
        summaries = client.list_change_sets(StackName=stack_name).get("Summaries", [])
    except client.exceptions.ClientError:
        return False  # no such stack yet
    return any(s.get("ChangeSetName") == change_set_name for s in summaries)
