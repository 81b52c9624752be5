"""The upload stack's key policies, as templates: no account-root kms:*, and the name prefix they rely on.

What each principal may do with the keys is asked of the IAM evaluator in tests/iam/test_data_access.py.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload.encryption import ADMIN_ACTIONS, DESTRUCTIVE_KEY_ACTIONS
from stages.upload.stack import UploadApiStack

from .conftest import context_with

pytestmark = pytest.mark.synth

# Every KMS action that uses a key or hands its use to someone (a grant).
KEY_USE = {
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:Sign",
    "kms:Verify",
    "kms:DeriveSharedSecret",
    "kms:CreateGrant",
}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_no_key_of_the_upload_stack_gives_the_account_root_everything(synth, name):
    stage = synth(name)
    keys = stage.of_type("AWS::KMS::Key")
    assert len(keys) == 4
    for key_id, key in keys.items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] == "Allow" and "AWS" in statement.get("Principal", {}):
                # THEN every statement for the account names who, by ARN, and none allows kms:*
                assert "kms:*" not in actions, (key_id, statement)
                assert "aws:PrincipalArn" in statement["Condition"]["ArnEquals"], (key_id, statement)


def test_administration_excludes_every_use_of_a_key():
    assert not set(ADMIN_ACTIONS) & KEY_USE
    assert not any("*" in action for action in ADMIN_ACTIONS)
    assert set(DESTRUCTIVE_KEY_ACTIONS) <= set(ADMIN_ACTIONS)


def _stack(stack_name: str) -> UploadApiStack:
    app = cdk.App(context=context_with("dev"))
    settings = load_stage_settings(app.node.try_get_context(CONTEXT_KEY), "dev")
    return UploadApiStack(app, "Stack", settings=settings, stack_name=stack_name)


def test_a_stack_name_cloudformation_could_cut_in_the_bucket_name_is_warned_about():
    long_name = "Upload-Api-For-The-Payments-Team-Prod"
    Annotations.from_stack(_stack(long_name)).has_warning("*", Match.string_like_regexp("longer than 29"))


def test_the_pipelines_stack_names_are_short_enough(dev):
    assert len(dev.stack.stack_name) <= 29
    Annotations.from_stack(dev.stack).has_no_warning("*", Match.string_like_regexp("longer than 29"))
