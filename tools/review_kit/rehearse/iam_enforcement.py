"""IAM enforced in the emulator: every call is authorized against the caller's real policies.

moto authenticates a request once its `settings.INITIAL_NO_AUTH_ACTION_COUNT` is reached (0 here,
from the start): the SigV4 signature must match an access key it issued (an IAM user's, or an STS
session's), and the caller's identity policies are collected (inline and attached). moto's own
decision is too rough for real policies (an Allow whose condition fails counts as an explicit Deny;
a resource it cannot name is `*`, which no ARN pattern matches; no permissions boundary; a trust
policy naming the account root admits no role session), so the decision is made by the project's
evaluator (tools/review_kit/iam/evaluator.py), with what moto authenticated:

- the caller: an IAM user (the rehearsal's operator, the person who runs `cdk bootstrap`) or an
  assumed-role session; its identity policies and, for a role, its permissions boundary;
- the resource: moto's, for S3, IAM, STS and SQS; SSM parameters and CloudFormation stacks named
  here from the request; any other call is evaluated on its action alone (its statements' Resource
  taken to match), and the summary lists each such action (LEDGER.without_resource);
- the resource's policy: a role's trust policy for sts:AssumeRole (which must itself allow), the
  bucket's policy for S3 (an AWS::S3::BucketPolicy is created in moto's S3: moto_models.py).
  moto's own check of a bucket policy on object calls ignores every condition but StringEquals
  (a Deny conditioned on aws:SecureTransport false would refuse every call) and knows no
  principal: install() makes it neutral, the evaluator having decided with the policy. install()
  also names the S3 bucket calls moto misnames with their IAM actions (HeadBucket is
  s3:ListBucket; GetBucketEncryption s3:GetEncryptionConfiguration; ...), which a bucket policy's
  Deny of s3:ListBucket tells apart;
- the request context: aws:RequestedRegion, aws:SecureTransport (true: the clients use HTTPS on
  AWS), for S3 s3:TlsVersion (1.3, as the clients negotiate on AWS), the principal's keys; for
  sts:AssumeRole the role's tags as iam:ResourceTag/*. A condition key none of these give is
  absent, as on AWS for a request without it, and listed (LEDGER.absent_condition_keys).

A service that assumes a role (CodeBuild a project's, Lambda a function's) is not a caller moto can
authenticate: service_session() checks that the role's trust policy names that service and issues
the session through moto's STS directly.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.review_kit.iam import evaluator

OPERATOR = "rehearsal-operator"  # the IAM user the rehearsal itself calls as (bootstrap, read-backs)

# What moto cannot enforce, whatever the policies say; written into the summary as notEnforced.
NOT_ENFORCED = (
    "CloudFormation acting as the execution role: moto's CloudFormation creates resources in its "
    "backends, not through the API, so the cfn-exec role's policies and boundary are not consulted "
    "(Prepare checks them statically: tools/review_kit/iam/coverage.py)",
    "iam:PassRole: moto never asks for it (CreateChangeSet with RoleARN, CreateFunction, ...)",
    "resource policies other than role trust policies and S3 bucket policies: KMS key policies, SNS "
    "topic and SQS queue policies (applied and read back, not evaluated), Lambda permissions",
    "service control policies and session policies (none in this account)",
    "the pipeline's own role assuming each action's role: CodePipeline is modelled; CodeBuild and "
    "CloudFormation actions start from their roles",
    "the Synth action: it calls no AWS API (its tests mock AWS in-process)",
)


@dataclass
class Ledger:
    """What enforcement decided during a run (thread-safe: the server answers on its threads)."""

    allowed: int = 0
    denied: list[str] = field(default_factory=list)  # "principal action resource: reason"
    without_resource: set[str] = field(default_factory=set)  # actions evaluated on the action alone
    absent_condition_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, allowed: bool, line: str) -> None:
        with self.lock:
            if allowed:
                self.allowed += 1
            else:
                self.denied.append(line)


LEDGER = Ledger()
_STATE: dict[str, Any] = {}


def _document(policy: Any) -> dict[str, Any]:
    """A moto policy (inline JSON text, a user's inline dict, a managed Policy) as a document."""
    if isinstance(policy, str) or (isinstance(policy, Mapping) and "Statement" in policy):
        text: Any = policy  # a document: JSON text, or as CloudFormation gave it (a mapping)
    elif isinstance(policy, Mapping):
        text = policy["policy_document"]
    else:
        text = next(v for v in policy.versions if v.is_default).document
    return _without_no_value(json.loads(urllib.parse.unquote(text)) if isinstance(text, str) else text)


def _without_no_value(document: Mapping[str, Any]) -> dict[str, Any]:
    """moto's CloudFormation keeps an `Fn::If` branch of AWS::NoValue as null (the CDK bootstrap's
    trust policies have them); IAM drops such a statement, and so does this."""
    statements = document.get("Statement", [])
    if isinstance(statements, list):
        return {**document, "Statement": [s for s in statements if s is not None]}
    return dict(document)


def _first(data: Mapping[str, Any], body: Any, key: str) -> str | None:
    value = data.get(key)
    if value is None and isinstance(body, (bytes, str)) and body:
        try:
            value = json.loads(body).get(key)
        except (ValueError, AttributeError):
            value = None
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _iam_action(request: Any) -> tuple[str, str | None]:
    """API Gateway's management API is authorized per HTTP method on the path (apigateway:GET on
    arn:aws:apigateway:region::/account), not per operation name as moto reports it."""
    service = request._action.split(":", 1)[0]
    if service == "apigateway":
        path = urllib.parse.urlparse(request._path).path
        return f"apigateway:{request._method.upper()}", f"arn:aws:apigateway:{request._region}::{path}"
    return request._action, None


def _named_resource(request: Any) -> str | None:
    """The ARN of the SSM parameter, CloudFormation stack, DynamoDB table or Lambda function the
    request names (moto gives `*` for them)."""
    service, action = request._action.split(":", 1)
    where = f"{request._region}:{request.account_id}"
    if service == "dynamodb":
        table = _first(request._data, request._body, "TableName")
        return f"arn:aws:dynamodb:{where}:table/{table}" if table else None
    if service == "lambda":
        found = re.search(r"/functions/([^/?]+)", urllib.parse.unquote(request._path))
        if not found:
            return None
        name = found.group(1)
        return name if name.startswith("arn:") else f"arn:aws:lambda:{where}:function:{name}"
    if service == "ssm" and action in ("GetParameter", "GetParameters", "PutParameter"):
        name = _first(request._data, request._body, "Name") or _first(request._data, request._body, "Names")
        return f"arn:aws:ssm:{where}:parameter/{name.lstrip('/')}" if name else None
    if service == "cloudformation":
        stack = _first(request._data, request._body, "StackName")
        if not stack:
            return None
        if stack.startswith("arn:"):
            return stack
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[request.account_id][request._region]
        existing = next((s for s in backend.stacks.values() if s.name == stack), None)
        return existing.stack_id if existing else f"arn:aws:cloudformation:{where}:stack/{stack}/new"
    return None


def _action_only(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with every statement's Resource taken to match (a call moto names no resource of)."""
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, Mapping) else statements
    widened = []
    for statement in statements:
        copy = {k: v for k, v in statement.items() if k not in ("Resource", "NotResource")}
        copy["Resource"] = "*"
        widened.append(copy)
    return {**document, "Statement": widened}


def _role(request: Any, arn: str) -> Any:
    from moto.iam.exceptions import NotFoundException

    try:
        return request.backend.get_role_by_arn(arn)
    except NotFoundException:
        return None


def _bucket_policy(request: Any, resource: str) -> dict[str, Any] | None:
    """The policy of the bucket an S3 resource ARN names, if it has one."""
    if not resource.startswith("arn:aws:s3:::"):
        return None
    from moto.s3.models import s3_backends

    bucket = s3_backends[request.account_id]["aws"].buckets.get(resource[13:].split("/", 1)[0])
    policy = getattr(bucket, "policy", None)
    return _document(policy.decode() if isinstance(policy, bytes) else policy) if policy else None


def _tags(role: Any) -> dict[str, str]:
    tags = role.tags or {}
    if isinstance(tags, Mapping):
        return {str(k): str(v.get("Value", v) if isinstance(v, Mapping) else v) for k, v in tags.items()}
    return {str(t["Key"]): str(t["Value"]) for t in tags}


def _boundary(request: Any) -> dict[str, Any] | None:
    role_name = getattr(request._access_key, "_owner_role_name", None)
    if role_name is None:
        return None
    role = request.backend.get_role(role_name)
    arn = role.permissions_boundary_arn
    return _document(request.backend.get_policy(arn)) if arn else None


def _absent_keys(documents: list[dict[str, Any]], context: Mapping[str, Any]) -> set[str]:
    known = {k.lower() for k in context} | {"aws:principalarn", "aws:principalaccount"}
    keys = set()
    for document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            for block in (statement.get("Condition") or {}).values():
                keys |= {k for k in block if k.lower() not in known}
    return keys


def check_action_permitted(request: Any, resource: str) -> None:
    """Replaces moto's IAMRequestBase.check_action_permitted: the project's evaluator decides."""
    action, api_resource = _iam_action(request)
    if action == "sts:GetCallerIdentity":  # always allowed on AWS, even under an explicit Deny
        return
    principal = request._access_key.arn
    policies = [_document(p) for p in request._access_key.collect_policies()]
    boundary = _boundary(request)
    if resource == "*":
        resource = api_resource or _named_resource(request) or "*"
    context: dict[str, evaluator.ContextValue] = {
        "aws:RequestedRegion": request._region,
        "aws:SecureTransport": True,
    }
    if action.startswith("s3:"):  # one account: every bucket is the caller's account's
        context["s3:ResourceAccount"] = context["aws:ResourceAccount"] = request.account_id
        context["s3:TlsVersion"] = "1.3"
    observed = not principal.endswith(f":user/{OPERATOR}")  # the operator is AdministratorAccess
    trust = _bucket_policy(request, resource) if action.startswith("s3:") else None
    role = _role(request, resource) if action.startswith("sts:AssumeRole") else None
    if role is not None:
        trust = _document(role.assume_role_policy_document)
        context.update({f"iam:ResourceTag/{k}": v for k, v in _tags(role).items()})
    if resource == "*":
        if observed:
            with LEDGER.lock:
                LEDGER.without_resource.add(action)
        policies = [_action_only(p) for p in policies]
        boundary = _action_only(boundary) if boundary else None
    absent = _absent_keys(
        [*policies, *([boundary] if boundary else []), *([trust] if trust else [])], context
    )
    if absent and observed:
        with LEDGER.lock:
            LEDGER.absent_condition_keys |= absent
    decision = evaluator.evaluate(
        evaluator.Request(action, resource, context, principal),
        policies,
        boundary=boundary,
        resource_policy=trust,
    )
    LEDGER.record(decision.allowed, f"{principal} {action} {resource}: {decision.reason}")
    if not decision.allowed:
        request._raise_access_denied()


def install() -> None:
    """Put the evaluator in moto's place (idempotent); enforcement itself is switched by switch_on().

    Also mends moto's signature check for a request without a body (Lambda's GET calls): moto signs
    its parsed parameters instead (for Lambda, the headers), so every such call failed as
    SignatureDoesNotMatch; the client signed an empty payload, and so does the check now.
    """
    from moto.iam import access_control

    base: Any = access_control.IAMRequestBase
    if getattr(base, "_rehearsal_patched", False):
        return
    base.check_action_permitted = check_action_permitted
    create_aws_request = base._create_aws_request

    def aws_request_as_signed(self: Any) -> Any:
        request = create_aws_request(self)
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            request.data = b""
        return request

    base._create_aws_request = aws_request_as_signed
    base._rehearsal_patched = True
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    bucket: Any = FakeBucket
    bucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL
    _s3_actions_as_iam_names_them()


# S3 bucket calls whose IAM action moto names otherwise (Service Authorization Reference, Amazon S3:
# HeadBucket needs s3:ListBucket; Get/PutBucketEncryption s3:Get/PutEncryptionConfiguration; the
# public access block and ownership controls their own actions). moto reads the request's query
# key `publicAccessBlock` as `public_access_block` and knows neither `encryption` nor
# `ownershipControls`: such a GET was authorized as s3:ListBucket, a PUT as s3:CreateBucket.
_S3_BUCKET_ACTIONS = {
    "HEAD": {"DEFAULT": "ListBucket"},
    "GET": {
        "encryption": "GetEncryptionConfiguration",
        "publicAccessBlock": "GetBucketPublicAccessBlock",
        "ownershipControls": "GetBucketOwnershipControls",
    },
    "PUT": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
    "DELETE": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
}


def _s3_actions_as_iam_names_them() -> None:
    from moto.s3 import responses

    for method, actions in _S3_BUCKET_ACTIONS.items():
        responses.ACTION_MAP["BUCKET"][method].update(actions)


def switch_on(account: str) -> dict[str, str]:
    """Create the operator (AdministratorAccess) and enforce from the next request; its credentials."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.models import iam_backends

    install()
    backend = iam_backends[account]["aws"]
    if OPERATOR not in {u.name for u in backend.list_users("/", None, None)}:
        backend.create_user(region_name="us-east-1", user_name=OPERATOR, path="/", tags=[])
        backend.attach_user_policy("arn:aws:iam::aws:policy/AdministratorAccess", OPERATOR)
        key = backend.create_access_key(OPERATOR)
        _STATE["operator"] = {
            "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        }
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return dict(_STATE["operator"])


def switch_off() -> None:
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def is_on(endpoint: str) -> bool:
    """Whether the server refuses what it should: a key it never issued, then a caller with no policy."""
    import boto3
    from botocore.exceptions import ClientError

    def refused(session: Any) -> bool:
        try:
            session.client("iam", endpoint_url=endpoint).list_roles()
        except ClientError as error:
            return error.response["Error"]["Code"] in ("InvalidClientTokenId", "AccessDenied")
        return False

    unknown = boto3.Session(
        aws_access_key_id="AKIANOTISSUED0000000",  # pragma: allowlist secret - a key moto never issued
        aws_secret_access_key="not-issued",  # noqa: S106  # pragma: allowlist secret - a key moto never issued
        region_name="us-east-1",
    )
    operator = boto3.Session(**_lower(_STATE["operator"]), region_name="us-east-1")
    iam = operator.client("iam", endpoint_url=endpoint)
    name = "rehearsal-enforcement-probe"
    if name not in {u["UserName"] for u in iam.list_users()["Users"]}:
        iam.create_user(UserName=name)
        _STATE["probe"] = iam.create_access_key(UserName=name)["AccessKey"]
    probe = _STATE["probe"]
    nobody = boto3.Session(
        aws_access_key_id=probe["AccessKeyId"],
        aws_secret_access_key=probe["SecretAccessKey"],
        region_name="us-east-1",
    )
    denied_before = len(LEDGER.denied)
    answer = refused(unknown) and refused(nobody)
    with LEDGER.lock:
        del LEDGER.denied[denied_before:]  # the probe's own refusals are not the run's
    return answer


def _lower(environment: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in environment.items() if k.startswith("AWS_")}


def service_session(role_arn: str, service: str, session_name: str) -> dict[str, str]:
    """`service` assumes `role_arn` as AWS would, if the role's trust policy lets it: the credentials."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    account = role_arn.split(":")[4]
    role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    statements = _document(role.assume_role_policy_document).get("Statement", [])
    trusted = any(
        s.get("Effect") == "Allow"
        and evaluator.action_matches(str(s.get("Action")), "sts:AssumeRole")
        and service in _as_list((s.get("Principal") or {}).get("Service"))
        for s in ([statements] if isinstance(statements, Mapping) else statements)
    )
    if not trusted:
        raise PermissionError(f"{service} cannot assume {role_arn}: its trust policy does not name it")
    assumed = sts_backends[account]["aws"].assume_role(
        region_name="us-east-1",
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    return {
        "AWS_ACCESS_KEY_ID": assumed.access_key_id,
        "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
        "AWS_SESSION_TOKEN": assumed.session_token,
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def summary() -> dict[str, Any]:
    with LEDGER.lock:
        return {
            "callsAllowed": LEDGER.allowed,
            "callsDenied": list(LEDGER.denied),
            "notEnforced": [
                *NOT_ENFORCED,
                *(
                    f"resource ARN not checked (moto names none; statements matched on the action): {a}"
                    for a in sorted(LEDGER.without_resource)
                ),
                *(
                    f"condition key not in the emulated request context (evaluated as absent): {k}"
                    for k in sorted(LEDGER.absent_condition_keys)
                ),
            ],
        }
