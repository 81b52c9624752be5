"""stages/compliance.py: each reason written once, applied to cdk-nag, checkov and cfn-lint alike."""

from __future__ import annotations

from collections import Counter

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from stages import compliance
from stages.compliance import Reason, acknowledge

REASON = "a reason long enough to say what compensates for the rule here"


def _queue() -> tuple[cdk.Stack, sqs.Queue]:
    stack = cdk.Stack(cdk.App(), "Stack")
    return stack, sqs.Queue(stack, "Queue")


def _acknowledged(construct: cdk.Resource) -> dict[str, str]:
    entries = [e for e in construct.node.metadata if e.type == "aws:cdk:acknowledged-rules"]
    return {k.removeprefix("Annotation::"): v for e in entries for k, v in e.data.items()}


def test_one_reason_reaches_every_scanner_it_names_with_the_same_words():
    # GIVEN a reason for a cdk-nag finding, a checkov check and a cfn-lint rule
    _, queue = _queue()
    reason = Reason(REASON, nag=("AwsSolutions-SQS3",), checkov=("CKV_AWS_27",), cfn_lint=("W3005",))
    # WHEN it is applied to the queue
    acknowledge(queue, reason)
    # THEN each scanner finds it on the queue's resource, with the one text
    resource = queue.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    assert _acknowledged(queue) == {"AwsSolutions-SQS3": REASON}
    assert resource.get_metadata("checkov") == {"skip": [{"id": "CKV_AWS_27", "comment": REASON}]}
    assert resource.get_metadata("cfn-lint") == {
        "config": {"ignore_checks": ["W3005"]},
        "ignore_reasons": {"W3005": REASON},
    }


def test_only_limits_a_reason_to_the_scanners_named():
    # GIVEN a reason for cdk-nag and checkov, applied for cdk-nag only
    _, queue = _queue()
    acknowledge(queue, Reason(REASON, nag=("AwsSolutions-SQS3",), checkov=("CKV_AWS_27",)), only=("nag",))
    # THEN cdk-nag has it and checkov does not
    resource = queue.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    assert _acknowledged(queue) == {"AwsSolutions-SQS3": REASON}
    assert resource.get_metadata("checkov") is None


def test_fields_fill_the_text_and_the_finding_id_and_leave_other_braces_alone():
    # GIVEN a reason whose finding id and text have a field, and braces that are text
    _, queue = _queue()
    reason = Reason(
        "keys are uploads/{productId}/{uuid4}; the wildcard {objects} is exactly the key space written",
        nag=("AwsSolutions-IAM5[Resource::{objects}]",),
        fields=("objects",),
    )
    # WHEN the call site fills it
    acknowledge(queue, reason, objects="<Bucket.Arn>/uploads/*")
    # THEN both are filled, and the text's own braces stay
    assert _acknowledged(queue) == {
        "AwsSolutions-IAM5[Resource::<Bucket.Arn>/uploads/*]": "keys are uploads/{productId}/{uuid4}; the "
        "wildcard <Bucket.Arn>/uploads/* is exactly the key space written"
    }


@pytest.mark.parametrize("values", [{}, {"objects": "x", "extra": "y"}], ids=["missing", "extra"])
def test_a_call_site_fills_exactly_the_declared_fields(values):
    _, queue = _queue()
    reason = Reason(
        REASON + " {objects}", nag=("AwsSolutions-IAM5[Resource::{objects}]",), fields=("objects",)
    )
    with pytest.raises(ValueError, match="needs fields"):
        acknowledge(queue, reason, **values)


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [
        ({"text": "too short to say why", "nag": ("AwsSolutions-SQS3",)}, "says what compensates"),
        ({"text": REASON, "nag": ("AwsSolutions",)}, "not a cdk-nag finding id"),
        ({"text": REASON, "checkov": ("AwsSolutions-SQS3",)}, "not a checkov check id"),
        ({"text": REASON, "cfn_lint": ("CKV_AWS_27",)}, "not a cfn-lint rule id"),
        ({"text": REASON}, "acknowledges no rule"),
        ({"text": REASON, "nag": ("AwsSolutions-SQS3",), "fields": ("unused",)}, "is used nowhere"),
    ],
    ids=[
        "short reason",
        "bare nag pack",
        "nag id as checkov",
        "checkov id as cfn-lint",
        "no rule",
        "unused field",
    ],
)
def test_a_malformed_reason_is_refused(kwargs, refusal):
    _, queue = _queue()

    def apply() -> None:
        # A bare nag id is refused only when applied: cdk-nag matches the exact finding id it prints.
        acknowledge(queue, Reason(**kwargs))

    with pytest.raises(ValueError, match=refusal):
        apply()


def test_every_reason_in_the_table_is_written_once():
    # GIVEN the table
    texts = Counter(reason.text for reason in compliance.table().values())
    # THEN no two entries carry the same words (one entry may name several scanners' rules)
    assert compliance.table()
    assert [text for text, count in texts.items() if count > 1] == []
