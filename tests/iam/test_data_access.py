"""The upload bucket's policy and the data keys' policies, judged by the IAM evaluator.

Each test asks one question a reviewer would: can an account administrator read the files?
can break-glass delete a version? is PutObject with another key refused? The templates are the
synthesized upload stack (break-glass, key administrator and, where named, a malware scanner
role given), their intrinsics resolved to the names CloudFormation will give (tools/review_kit/iam/arns.py).

S3: a same-account request is allowed when the caller's policy (or the bucket policy) allows it
and no statement denies it; the evaluator does exactly that.

KMS differs: a key policy is the only gate. If no key-policy statement allows the caller, no IAM
policy can (KMS Developer Guide, "Key policies"); where a statement names the account, the
caller's IAM policy must allow too. So the key questions are asked of the key policy with a caller
whose IAM policy allows everything (AdministratorAccess): "denied" is then the key policy's answer
whatever IAM says; "allowed" means the key policy lets the caller's own policy decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam

from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload.stack import UploadApiStack
from tests.infra.conftest import context_with
from tools.review_kit.iam.arns import Env, Template
from tools.review_kit.iam.evaluator import Request, evaluate
from tools.review_kit.iam.validity import resolve_document

pytestmark = pytest.mark.synth

ACCOUNT = "111111111111"
REGION = "eu-west-1"
STACK = "Dev-UploadApi"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/BreakGlass"
SSO_BREAK_GLASS = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{REGION}/"
    "AWSReservedSSO_BreakGlass_0123456789abcdef"  # pragma: allowlist secret (a made-up SSO role suffix)
)
KEY_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/SecurityKeyAdmin"
ACCOUNT_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Administrator"
# Dev's own bootstrap (cdk.json uploadApi.stages.dev.bootstrapQualifier, docs/bootstrap.md).
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-uploaddev-cfn-exec-role-{ACCOUNT}-{REGION}"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-9999-9999-9999-999999999999"
# AdministratorAccess, as the account's administrators (and a break-glass role) hold it.
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
SETTINGS = {"breakGlassRoleArns": [BREAK_GLASS, SSO_BREAK_GLASS], "keyAdministratorArns": [KEY_ADMIN]}


class _StackWithScanner(UploadApiStack):
    """The upload stack with a stand-in for GuardDuty's role, passed where the real one will be."""

    def _restrict_bucket_to(self, role, break_glass_role_arns, scanner_role=None):  # type: ignore[no-untyped-def]
        scanner = iam.Role(
            self,
            "TestMalwareScannerRole",
            assumed_by=iam.ServicePrincipal("malware-protection-plan.guardduty.amazonaws.com"),
        )
        super()._restrict_bucket_to(role, break_glass_role_arns, scanner)


@dataclass(frozen=True)
class Policies:
    template: Template
    raw: Mapping[str, Any]

    def _of(self, logical_id: str, key: str) -> dict[str, Any]:
        return resolve_document(self.template, self.raw["Resources"][logical_id]["Properties"][key])

    def _id(self, resource_type: str, where: str) -> str:
        (found,) = [
            k for k, v in self.raw["Resources"].items() if v["Type"] == resource_type and k.startswith(where)
        ]
        return found

    @property
    def bucket(self) -> str:
        return self.template.arns(self._id("AWS::S3::Bucket", "UploadBucket"))[0]

    @property
    def bucket_policy(self) -> dict[str, Any]:
        (policy_id,) = [
            k
            for k, v in self.raw["Resources"].items()
            if v["Type"] == "AWS::S3::BucketPolicy"
            and v["Properties"]["Bucket"] == {"Ref": self._id("AWS::S3::Bucket", "UploadBucket")}
        ]
        return self._of(policy_id, "PolicyDocument")

    def key_policy(self, name: str) -> dict[str, Any]:
        return self._of(self._id("AWS::KMS::Key", name), "KeyPolicy")

    def key_arn(self, name: str) -> str:
        return self.template.get_att(self._id("AWS::KMS::Key", name), "Arn")

    def role_arn(self, name: str) -> str:
        return self.template.get_att(self._id("AWS::IAM::Role", name), "Arn")

    @property
    def function_policy(self) -> dict[str, Any]:
        return self._of(self._id("AWS::IAM::Policy", "UploadFunctionPolicy"), "PolicyDocument")

    @property
    def table_name(self) -> str:
        return self.template.name(self._id("AWS::DynamoDB::Table", "ProductTable"))


def _synth(with_scanner: bool) -> Policies:
    app = cdk.App(context=context_with("dev", **SETTINGS))
    settings = load_stage_settings(app.node.try_get_context(CONTEXT_KEY), "dev")
    stage = cdk.Stage(app, "Dev", env=cdk.Environment(account=ACCOUNT, region=REGION))
    stack_class = _StackWithScanner if with_scanner else UploadApiStack
    stack = stack_class(stage, "UploadApi", settings=settings)
    raw = assertions.Template.from_stack(stack).to_json()
    return Policies(Template(raw, Env(STACK, ACCOUNT, REGION)), raw)


@pytest.fixture(scope="module")
def plain() -> Policies:
    return _synth(with_scanner=False)


@pytest.fixture(scope="module")
def scanned() -> Policies:
    return _synth(with_scanner=True)


def _context(principal: str, *, mfa: bool | None = None, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "aws:PrincipalArn": principal,
        "aws:SecureTransport": True,
        "s3:TlsVersion": "1.3",
    }
    if mfa is not None:
        context["aws:MultiFactorAuthPresent"] = mfa
    context.update(extra)
    return context


def s3_call(
    p: Policies,
    action: str,
    principal: str,
    *,
    identity: Mapping[str, Any] = ALLOW_ALL,
    on="object",
    **context: Any,
):  # type: ignore[no-untyped-def]
    resource = f"{p.bucket}/uploads/p-1/0f1e/lamp.txt" if on == "object" else p.bucket
    mfa = context.pop("mfa", None)
    request = Request(action, resource, _context(principal, mfa=mfa, **context), principal)
    return evaluate(request, [identity], resource_policy=p.bucket_policy)


def kms_call(p: Policies, key: str, action: str, principal: str, *, mfa: bool | None = None, **context: Any):  # type: ignore[no-untyped-def]
    request = Request(action, p.key_arn(key), _context(principal, mfa=mfa, **context), principal)
    return evaluate(request, [ALLOW_ALL], resource_policy=p.key_policy(key))


def via_s3(p: Policies) -> dict[str, str]:
    return {"kms:ViaService": f"s3.{REGION}.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": p.bucket}


# -- the bucket ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "on"),
    [
        ("s3:GetObject", "object"),
        ("s3:PutObject", "object"),
        ("s3:DeleteObjectVersion", "object"),
        ("s3:ListBucket", "bucket"),
        ("s3:DeleteBucketPolicy", "bucket"),
        ("s3:PutBucketPolicy", "bucket"),
        ("s3:PutLifecycleConfiguration", "bucket"),
        ("s3:PutBucketVersioning", "bucket"),
        ("s3:PutEncryptionConfiguration", "bucket"),
        ("s3:PutReplicationConfiguration", "bucket"),
        ("s3:DeleteBucket", "bucket"),
        # Inventory reports and event notifications copy object names (and can send them) elsewhere;
        # CORS opens the bucket to browsers of other origins; acceleration changes its endpoints.
        ("s3:PutInventoryConfiguration", "bucket"),
        ("s3:PutBucketNotification", "bucket"),
        ("s3:PutBucketCORS", "bucket"),
        ("s3:PutAccelerateConfiguration", "bucket"),
    ],
)
def test_an_account_administrator_can_neither_read_nor_unprotect_the_bucket(plain, action, on):
    # GIVEN a role of the account with AdministratorAccess, with MFA
    # WHEN it calls the action on the upload bucket or one of its objects
    decision = s3_call(plain, action, ACCOUNT_ADMIN, on=on, mfa=True)
    # THEN the bucket policy denies it
    assert not decision.allowed, decision.reason
    assert decision.reason.startswith("explicit deny"), decision.reason


@pytest.mark.parametrize(
    "action",
    ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"],
)
def test_only_the_deploy_role_changes_the_bucket(plain, action):
    # GIVEN CloudFormation's execution role (its own policy allows it)
    # WHEN it changes the bucket's configuration, as a deploy does
    # THEN the bucket policy lets it, and nobody else (previous test)
    assert s3_call(plain, action, DEPLOY_ROLE, on="bucket").allowed


def test_the_scanner_may_set_the_notification_guardduty_needs_but_no_other_bucket_change(scanned):
    # GIVEN GuardDuty's scanner role, which turns on the bucket's EventBridge notifications
    # THEN it may change notifications, and no other bucket setting
    assert s3_call(
        scanned, "s3:PutBucketNotification", scanned.role_arn("TestMalwareScannerRole"), on="bucket"
    ).allowed
    for action in ("s3:PutBucketPolicy", "s3:PutInventoryConfiguration", "s3:PutBucketCORS"):
        assert not s3_call(
            scanned, action, scanned.role_arn("TestMalwareScannerRole"), on="bucket"
        ).allowed, action


def test_the_deploy_role_lists_but_never_reads_objects(plain):
    assert s3_call(plain, "s3:ListBucket", DEPLOY_ROLE, on="bucket").allowed
    assert not s3_call(plain, "s3:GetObject", DEPLOY_ROLE).allowed


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        pytest.param({}, True, id="no header: the bucket default, this key"),
        pytest.param({"s3:x-amz-server-side-encryption": "aws:kms"}, True, id="aws:kms, no key id"),
        pytest.param(
            {
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": "KEY",
            },
            True,
            id="this key",
        ),
        pytest.param(
            {
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KEY,
            },
            False,
            id="another key",
        ),
        pytest.param({"s3:x-amz-server-side-encryption": "AES256"}, False, id="SSE-S3"),
        pytest.param({"s3:x-amz-server-side-encryption": "aws:kms:dsse"}, False, id="DSSE-KMS"),
    ],
)
def test_put_object_is_pinned_to_the_buckets_key(plain, headers, allowed):
    # GIVEN the upload function's own policy
    key_header = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    if headers.get(key_header) == "KEY":
        headers = {**headers, key_header: plain.key_arn("BucketKey")}
    # WHEN it puts an object with these encryption headers
    decision = s3_call(
        plain, "s3:PutObject", plain.role_arn("UploadFunctionRole"), identity=plain.function_policy, **headers
    )
    # THEN only the bucket's own key (named or by default) is accepted
    assert decision.allowed is allowed, decision.reason


def test_the_function_cannot_read_what_it_wrote(plain):
    assert not s3_call(
        plain, "s3:GetObject", plain.role_arn("UploadFunctionRole"), identity=plain.function_policy
    )


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:GetObjectVersion"])
def test_break_glass_with_mfa_reads(plain, action):
    # GIVEN a break-glass role whose session was started with MFA
    # WHEN it reads an object
    # THEN it may
    assert s3_call(plain, action, BREAK_GLASS, mfa=True).allowed
    assert s3_call(plain, "s3:ListBucketVersions", BREAK_GLASS, on="bucket", mfa=True).allowed


@pytest.mark.parametrize(
    "action",
    [
        "s3:DeleteObjectVersion",
        "s3:DeleteObject",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectAcl",
        "s3:RestoreObject",
    ],
)
def test_break_glass_cannot_change_or_delete_objects_even_with_mfa(plain, action):
    decision = s3_call(plain, action, BREAK_GLASS, mfa=True)
    assert not decision.allowed
    assert "BreakGlassOnlyReadsObjects" in decision.reason


@pytest.mark.parametrize("mfa", [False, None], ids=["mfa false", "mfa key absent"])
def test_break_glass_without_mfa_reads_nothing(plain, mfa):
    decision = s3_call(plain, "s3:GetObject", BREAK_GLASS, mfa=mfa)
    assert not decision.allowed
    assert "DenyBreakGlassWithoutMfa" in decision.reason


def test_an_identity_center_break_glass_role_is_not_asked_for_an_mfa_key_sts_never_sets(plain):
    # GIVEN an IAM Identity Center role (MFA enforced at sign-in; its sessions carry no MFA key)
    # WHEN it reads an object
    # THEN it may, and it still cannot delete a version
    assert s3_call(plain, "s3:GetObject", SSO_BREAK_GLASS).allowed
    assert not s3_call(plain, "s3:DeleteObjectVersion", SSO_BREAK_GLASS).allowed


# -- the bucket, with a malware scanner ------------------------------------------------------------


@pytest.mark.parametrize("tag", [None, "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED"])
def test_nobody_reads_an_object_not_scanned_clean(scanned, tag):
    # GIVEN the scanner's role is admitted and an object not tagged NO_THREATS_FOUND
    context = {} if tag is None else {"s3:ExistingObjectTag/GuardDutyMalwareScanStatus": tag}
    # WHEN break-glass (with MFA) reads it
    decision = s3_call(scanned, "s3:GetObject", BREAK_GLASS, mfa=True, **context)
    # THEN it is denied
    assert not decision.allowed
    assert "DenyReadingObjectsNotScannedClean" in decision.reason


def test_an_object_scanned_clean_is_readable_by_break_glass(scanned):
    clean = {"s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "NO_THREATS_FOUND"}
    assert s3_call(scanned, "s3:GetObject", BREAK_GLASS, mfa=True, **clean).allowed
    assert s3_call(scanned, "s3:GetObjectVersion", BREAK_GLASS, mfa=True, **clean).allowed


def test_without_a_scanner_there_is_no_tag_gate(plain):
    assert s3_call(plain, "s3:GetObject", BREAK_GLASS, mfa=True).allowed


@pytest.mark.parametrize(
    "action",
    [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:GetObjectTagging",
    ],
)
def test_the_scanner_reads_and_tags_unscanned_objects(scanned, action):
    scanner = scanned.role_arn("TestMalwareScannerRole")
    assert s3_call(scanned, action, scanner).allowed


@pytest.mark.parametrize("principal", ["function", BREAK_GLASS])
def test_only_the_scanner_writes_the_scan_tag(scanned, principal):
    # GIVEN a principal whose own policy would allow tagging (AdministratorAccess)
    arn = scanned.role_arn("UploadFunctionRole") if principal == "function" else principal
    # WHEN it tags an object clean itself
    decision = s3_call(scanned, "s3:PutObjectTagging", arn, mfa=True)
    # THEN it is denied: only GuardDuty may mark a file clean
    assert not decision.allowed


# -- the keys --------------------------------------------------------------------------------------

KEYS = ("BucketKey", "TableKey", "LogsKey", "ObservabilityAlarmTopicKey")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    "action",
    [
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:CreateGrant",
        "kms:ScheduleKeyDeletion",
        "kms:PutKeyPolicy",
        "kms:DisableKey",
    ],
)
def test_an_account_administrator_cannot_use_or_destroy_a_key(plain, key, action):
    # GIVEN an administrator of the account, not named by the key policy
    # WHEN it calls the action on the key (directly, or through S3)
    decision = kms_call(plain, key, action, ACCOUNT_ADMIN, mfa=True, **via_s3(plain))
    # THEN the key policy gives it nothing, so no IAM policy can
    assert not decision.allowed, decision.reason


@pytest.mark.parametrize("key", KEYS)
def test_a_key_administrator_manages_but_never_uses_or_destroys(plain, key):
    for action in ("kms:EnableKeyRotation", "kms:TagResource", "kms:DescribeKey", "kms:UpdateKeyDescription"):
        assert kms_call(plain, key, action, KEY_ADMIN).allowed, action
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"):
        assert not kms_call(plain, key, action, KEY_ADMIN, **via_s3(plain)).allowed, action
    # Revoking the services' grants, removing the tags the execution policy scopes keys by, and
    # turning rotation off are destructive too: only the deploy role and break-glass may.
    for action in (
        "kms:ScheduleKeyDeletion",
        "kms:DisableKey",
        "kms:PutKeyPolicy",
        "kms:RevokeGrant",
        "kms:UntagResource",
        "kms:DisableKeyRotation",
    ):
        decision = kms_call(plain, key, action, KEY_ADMIN)
        assert not decision.allowed, action
        assert decision.reason.startswith("explicit deny"), action


@pytest.mark.parametrize("key", KEYS)
def test_the_deploy_role_can_do_everything_cloudformation_does_to_a_key(plain, key, kms_handler_actions):
    # GIVEN every key-level permission CloudFormation's AWS::KMS::Key handlers list
    for action in kms_handler_actions:
        # THEN the key policy lets the deploy role (its execution policy allows kms:*) call it
        assert kms_call(plain, key, action, DEPLOY_ROLE).allowed, action
    assert not kms_call(plain, "BucketKey", "kms:Decrypt", DEPLOY_ROLE, **via_s3(plain)).allowed


def test_the_function_encrypts_only_through_s3_for_this_stacks_bucket(plain):
    function = plain.role_arn("UploadFunctionRole")
    assert kms_call(plain, "BucketKey", "kms:GenerateDataKey", function, **via_s3(plain)).allowed
    object_context = {**via_s3(plain), "kms:EncryptionContext:aws:s3:arn": f"{plain.bucket}/uploads/x"}
    assert kms_call(plain, "BucketKey", "kms:GenerateDataKey", function, **object_context).allowed
    assert not kms_call(plain, "BucketKey", "kms:GenerateDataKey", function).allowed
    other_bucket = {**via_s3(plain), "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::someone-elses-bucket"}
    assert not kms_call(plain, "BucketKey", "kms:GenerateDataKey", function, **other_bucket).allowed
    assert not kms_call(plain, "BucketKey", "kms:Decrypt", function, **via_s3(plain)).allowed


def test_the_function_uses_the_table_key_only_through_dynamodb_for_this_stacks_table(plain):
    function = plain.role_arn("UploadFunctionRole")
    table = {
        "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:dynamodb:tableName": plain.table_name,
        "kms:EncryptionContext:aws:dynamodb:subscriberId": ACCOUNT,
    }
    assert kms_call(plain, "TableKey", "kms:GenerateDataKey", function, **table).allowed
    assert kms_call(plain, "TableKey", "kms:Decrypt", function, **table).allowed
    other = {**table, "kms:EncryptionContext:aws:dynamodb:tableName": "Prod-UploadApi-ProductTable-X"}
    assert not kms_call(plain, "TableKey", "kms:Decrypt", function, **other).allowed
    assert not kms_call(plain, "TableKey", "kms:Decrypt", function).allowed


def test_the_deploy_role_sets_up_table_encryption_only_through_dynamodb(plain):
    via = {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}
    assert kms_call(plain, "TableKey", "kms:CreateGrant", DEPLOY_ROLE, **via).allowed
    assert not kms_call(plain, "TableKey", "kms:CreateGrant", DEPLOY_ROLE).allowed


def test_break_glass_decrypts_files_and_recovers_keys_only_with_mfa(plain):
    assert kms_call(plain, "BucketKey", "kms:Decrypt", BREAK_GLASS, mfa=True, **via_s3(plain)).allowed
    assert kms_call(plain, "BucketKey", "kms:PutKeyPolicy", BREAK_GLASS, mfa=True).allowed
    assert not kms_call(plain, "BucketKey", "kms:Decrypt", BREAK_GLASS, mfa=False, **via_s3(plain)).allowed
    assert not kms_call(plain, "BucketKey", "kms:PutKeyPolicy", BREAK_GLASS).allowed
    assert not kms_call(plain, "BucketKey", "kms:ScheduleKeyDeletion", BREAK_GLASS, mfa=True).allowed


def test_the_scanner_decrypts_and_encrypts_through_s3_only(scanned):
    scanner = scanned.role_arn("TestMalwareScannerRole")
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert kms_call(scanned, "BucketKey", action, scanner, **via_s3(scanned)).allowed, action
        assert not kms_call(scanned, "BucketKey", action, scanner).allowed, action


def test_without_a_scanner_no_scanner_statement_exists(plain):
    sids = {s.get("Sid") for s in plain.key_policy("BucketKey")["Statement"]}
    assert "MalwareScannerUsesKeyViaS3" not in sids
    assert not {"DenyReadingObjectsNotScannedClean", "DenyScanTagChangesExceptScanner"} & {
        s.get("Sid") for s in plain.bucket_policy["Statement"]
    }
