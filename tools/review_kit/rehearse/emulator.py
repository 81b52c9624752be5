"""The AWS emulator of the rehearsal: moto server on loopback, and the types its CloudFormation lacks.

moto (pinned in pyproject.toml's dev group) runs in this process (ThreadedMotoServer on 127.0.0.1),
so the rehearsal can teach its CloudFormation the resource types it lacks. Those types are
modelled in EMULATED_TYPES below, explicitly: a modelled resource is recorded (its properties,
as CloudFormation resolved them) and given the Ref and attributes the real type has, so the
templates that use them deploy; it is never called deployed. The deploy action lists each one as
`emulated, not deployed`. A type that is neither supported by moto nor modelled here is skipped
by moto without an error; the deploy action's check of every resource catches that. The types
moto's CloudFormation lacks but its services hold are not modelled: moto_models.py creates them in
those services, so they are read back like any other resource.

moto's other quirks, and the patches that work around them: tools/review_kit/rehearse/moto_patches.py;
the patches of moto's access control that enforce IAM: tools/review_kit/rehearse/iam_enforcement.py.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.review_kit.rehearse import (
    account_profile,
    approvals,
    cfn_hooks,
    iam_enforcement,
    moto_models,
    pipeline_services,
)
from tools.review_kit.rehearse.account_profile import PROFILES, AccountProfile
from tools.review_kit.rehearse.moto_patches import patch_moto

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


# The types moto 5.2.5 has no service for that our templates use. Each entry is a model, not a
# deployment: the deploy action reports these resources as `emulated, not deployed`. The types moto's
# CloudFormation lacks but its services hold are created in those services (moto_models.py); the
# pipeline and its CodeBuild projects too (pipeline_services.py).
EMULATED_TYPES: dict[str, EmulatedType] = {
    "AWS::CDK::Metadata": EmulatedType(),
    "AWS::CodeBuild::ReportGroup": EmulatedType(
        name_property="Name",
        ref="arn",
        arn="arn:{partition}:codebuild:{region}:{account}:report-group/{name}",
        attributes=("Arn",),
    ),
    "AWS::GuardDuty::MalwareProtectionPlan": EmulatedType(
        ref="id",
        arn="arn:{partition}:guardduty:{region}:{account}:malware-protection-plan/{name}",
        attributes=("Arn", "MalwareProtectionPlanId"),
    ),
    "AWS::Logs::QueryDefinition": EmulatedType(ref="id", attributes=("QueryDefinitionId",)),
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


def install_emulated_types(types: Mapping[str, EmulatedType] = EMULATED_TYPES) -> None:
    """Register a moto CloudFormation model for each type moto lacks (idempotent)."""
    from moto.cloudformation import parsing

    parsing.get_model_map()  # moto's own models first: never shadow a type moto supports
    pipeline_services.install()  # the pipeline and its projects, created in moto's own services
    moto_models.install()  # the types moto's services hold, created in them
    cfn_hooks.register_models(
        "Emulated", {type_name: _model_type(type_name, spec) for type_name, spec in types.items()}
    )


def _model_type(type_name: str, spec: EmulatedType) -> cfn_hooks.ModelType:
    """`spec` as a record in REGISTRY: nothing is deployed."""

    def create(
        resource_name: str, properties: dict[str, Any], account_id: str, region: str, moto: Mapping[str, Any]
    ) -> _Instance:
        name = str(properties.get(spec.name_property) or "") if spec.name_property else ""
        if not name:
            name = resource_name if spec.ref == "name" else uuid.uuid4().hex[:10]
        resource = EmulatedResource(
            type_name,
            moto.get("LogicalId", ""),
            moto.get("StackId", ""),
            name,
            properties,
            region,
            account_id,
        )
        with REGISTRY.lock:
            REGISTRY.resources[(resource.stack_id, resource.logical_id)] = resource
        return _Instance(resource)

    def delete(resource_name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        with REGISTRY.lock:
            for resource in REGISTRY.resources.values():
                if resource.name == resource_name and resource.resource_type == type_name:
                    resource.deleted = True

    return cfn_hooks.ModelType(create, delete, spec.name_property, spec.attributes)


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


# -- The server and how clients reach it ----------------------------------------------------------


@dataclass
class Emulator:
    endpoint: str  # http://localhost:PORT (see the module docstring for why not 127.0.0.1)
    server: Any
    iam_enforced: bool = False  # probed: the server refused an unknown key and a caller with no policy

    def stop(self) -> None:
        iam_enforcement.switch_off()
        _OPERATOR.clear()
        self.server.stop()


# The rehearsal operator's credentials once IAM is enforced (iam_enforcement.py); else moto's fakes.
_OPERATOR: dict[str, str] = {}


def start(profile: AccountProfile = PROFILES["mature"], *, enforce_iam: bool = True) -> Emulator:
    """moto on loopback, patched, with `profile`'s Lambda quota and GuardDuty offer (account_profile.py),
    and, with `enforce_iam`, every call authorized against the caller's policies (iam_enforcement.py)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call access log
    from moto.moto_api._internal.models import moto_api_backend

    # AWS managed policies exist (the bootstrap's lookup role attaches ReadOnlyAccess; the operator
    # AdministratorAccess). moto loads them when its IAM backend is made: reset what an earlier user
    # of moto in this process (a test) made without them.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    moto_api_backend.reset()
    install_emulated_types()
    patch_moto()
    approvals.install()  # ListActionExecutions, which moto lacks: what ApprovedChangeSet reads
    account_profile.install(profile)
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    emulator = Emulator(f"http://localhost:{port}", server)
    if enforce_iam:
        _OPERATOR.update(iam_enforcement.switch_on(ACCOUNT))
        emulator.iam_enforced = iam_enforcement.is_on(emulator.endpoint)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(client_environment(emulator.endpoint))
    import boto3

    boto3.DEFAULT_SESSION = None  # one made earlier in the process keeps the credentials it resolved
    return emulator


def enforcing() -> bool:
    """Whether IAM is enforced on the running server (the operator's credentials exist)."""
    return bool(_OPERATOR)


def client_environment(endpoint: str) -> dict[str, str]:
    """Environment for any AWS client (boto3, the CDK CLI) to reach only the emulator, as the operator
    when IAM is enforced (an IAM user's key: no session token)."""
    credentials = dict(_OPERATOR) if _OPERATOR else FAKE_CREDENTIALS
    return {
        **credentials,
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
