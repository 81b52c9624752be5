"""tools.review_kit.iam.evaluator against the cases AWS documents (IAM User Guide).

"Policy evaluation logic", "Condition operators", "Conditions with multiple context keys or
values", "Permissions boundaries for IAM entities" and "IAM JSON policy elements" (Action,
NotAction, Resource, NotResource, Principal, policy variables). Each test names its rule.
"""

from __future__ import annotations

import pytest

from tools.review_kit.iam.evaluator import Request, UnsupportedPolicy, evaluate

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
BUCKET = "arn:aws:s3:::app-bucket"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(action, resource, policies, context=None, **kwargs):
    return evaluate(Request(action, resource, context or {}, principal_arn=ROLE), policies, **kwargs)


# -- the decision: default deny, explicit deny wins ----------------------------------------------


def test_nothing_allows_so_the_request_is_implicitly_denied():
    decision = decide("s3:GetObject", f"{BUCKET}/k", [])
    assert not decision.allowed
    assert decision.reason.startswith("implicit deny")


def test_an_explicit_deny_beats_an_allow_in_another_policy():
    decision = decide(
        "s3:GetObject",
        f"{BUCKET}/k",
        [policy(allow("s3:*")), policy({**deny("s3:GetObject"), "Sid": "NoReads"})],
    )
    assert not decision.allowed
    assert decision.reason == "explicit deny: identity policy[1] statement NoReads"


def test_the_allowing_statement_is_named():
    decision = decide("s3:GetObject", f"{BUCKET}/k", [policy({**allow("s3:GetObject"), "Sid": "Reads"})])
    assert decision.allowed
    assert decision.reason == "allowed by identity policy[0] statement Reads"


# -- Action / NotAction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("s3:GetObject", "s3:getobject", True),  # action names are case-insensitive
        ("S3:Get*", "s3:GetObjectAcl", True),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get?bject", "s3:GetXXbject", False),
        ("*", "kms:Decrypt", True),
        ("iam:*Role", "iam:CreateRole", True),
        ("iam:*Role", "iam:CreateRolePolicy", False),
        ("s3:Get*", "s3express:GetObject", False),
    ],
)
def test_action_wildcards(pattern, action, expected):
    assert decide(action, "*", [policy(allow(pattern))]).allowed is expected


def test_not_action_with_allow_allows_everything_else():
    statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert decide("s3:GetObject", BUCKET, [policy(statement)]).allowed
    assert not decide("iam:CreateRole", ROLE, [policy(statement)]).allowed


def test_not_action_with_deny_denies_everything_else():
    policies = [policy(allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})]
    assert decide("s3:PutObject", BUCKET, policies).allowed
    assert not decide("kms:Decrypt", "*", policies).allowed


# -- Resource / NotResource ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("arn:aws:s3:::app-*", "arn:aws:s3:::app-bucket", True),
        ("arn:aws:s3:::App-*", "arn:aws:s3:::app-bucket", False),  # resources are case-sensitive
        ("arn:aws:s3:::app-bucket/*", "arn:aws:s3:::app-bucket/a/b/c", True),  # * crosses "/"
        ("arn:aws:s3:::app-bucket/*", "arn:aws:s3:::app-bucket", False),
        ("arn:aws:lambda:*:*:function:Dev-*", "arn:aws:lambda:eu-west-1:1:function:Dev-Fn:live", True),
        ("arn:aws:iam::*:role/Dev-*", "arn:aws:iam::1:role/Prod-Dev-x", False),
        # a wildcard in one of the first five segments stays in its segment
        ("arn:aws:dynamodb:*:table/x", "arn:aws:dynamodb:us-east-1:1:table/x", False),
        (
            "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/Dev-*",
            "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/Dev-F:*",
            True,
        ),
    ],
)
def test_resource_wildcards(pattern, resource, expected):
    assert decide("s3:GetObject", resource, [policy(allow("s3:GetObject", pattern))]).allowed is expected


def test_not_resource():
    statement = {"Effect": "Deny", "Action": "s3:*", "NotResource": [BUCKET, f"{BUCKET}/*"]}
    policies = [policy(allow("s3:*"), statement)]
    assert decide("s3:GetObject", f"{BUCKET}/k", policies).allowed
    assert not decide("s3:GetObject", "arn:aws:s3:::other/k", policies).allowed


# -- conditions -----------------------------------------------------------------------------------


def cond(operator, key, values, action="iam:CreateRole"):
    return policy(allow(action, Condition={operator: {key: values}}))


@pytest.mark.parametrize(
    ("operator", "values", "context", "expected"),
    [
        ("StringEquals", "a", {"k": "a"}, True),
        ("StringEquals", "a", {"k": "A"}, False),  # case-sensitive
        ("StringEquals", ["a", "b"], {"k": "b"}, True),  # values OR
        ("StringEquals", "a", {}, False),  # missing key: false
        ("StringNotEquals", "a", {"k": "b"}, True),
        ("StringNotEquals", ["a", "b"], {"k": "b"}, False),  # negated values NOR
        ("StringNotEquals", "a", {}, True),  # missing key with a negated operator: true
        ("StringEqualsIgnoreCase", "a", {"k": "A"}, True),
        ("StringLike", "Dev-*", {"k": "Dev-x"}, True),
        ("StringLike", "Dev-?", {"k": "Dev-xy"}, False),
        ("StringNotLike", "Dev-*", {"k": "Prod-x"}, True),
        ("StringNotLike", "Dev-*", {}, True),
        ("StringEqualsIfExists", "a", {}, True),  # IfExists: missing key is true
        ("StringEqualsIfExists", "a", {"k": "b"}, False),
        ("ArnLike", "arn:aws:iam::*:policy/B", {"k": "arn:aws:iam::1:policy/B"}, True),
        ("ArnEquals", "arn:aws:iam::1:policy/B", {"k": "arn:aws:iam::1:policy/C"}, False),
        ("ArnNotLike", "arn:aws:iam::*:policy/B", {"k": "arn:aws:iam::1:policy/C"}, True),
        ("ArnNotLike", "arn:aws:iam::*:policy/B", {}, True),
        ("Bool", "true", {"k": True}, True),
        ("Bool", "true", {"k": "false"}, False),
        ("Bool", "false", {}, False),
        ("BoolIfExists", "false", {}, True),
        ("NumericLessThan", "10", {"k": "9"}, True),
        ("NumericGreaterThanEquals", "10", {"k": "9"}, False),
        ("IpAddress", "10.0.0.0/8", {"k": "10.1.2.3"}, True),
        ("NotIpAddress", "10.0.0.0/8", {"k": "10.1.2.3"}, False),
    ],
)
def test_condition_operators(operator, values, context, expected):
    assert decide("iam:CreateRole", ROLE, [cond(operator, "k", values)], context).allowed is expected


def test_condition_key_names_are_case_insensitive():
    policies = [cond("StringEquals", "aws:RequestTag/App", "upload")]
    assert decide("iam:CreateRole", ROLE, policies, {"aws:requesttag/app": "upload"}).allowed


@pytest.mark.parametrize(
    ("null", "context", "expected"),
    [("true", {}, True), ("true", {"k": "v"}, False), ("false", {"k": "v"}, True), ("false", {}, False)],
)
def test_null_tests_whether_the_key_is_absent(null, context, expected):
    assert decide("iam:CreateRole", ROLE, [cond("Null", "k", null)], context).allowed is expected


@pytest.mark.parametrize(
    ("operator", "context", "expected"),
    [
        ("ForAllValues:StringEquals", {"aws:TagKeys": ["App", "Stage"]}, True),
        ("ForAllValues:StringEquals", {"aws:TagKeys": ["App", "Owner"]}, False),
        ("ForAllValues:StringEquals", {}, True),  # no key: ForAllValues is true
        ("ForAllValues:StringEquals", {"aws:TagKeys": []}, True),
        ("ForAnyValue:StringEquals", {"aws:TagKeys": ["Owner", "Stage"]}, True),
        ("ForAnyValue:StringEquals", {"aws:TagKeys": ["Owner"]}, False),
        ("ForAnyValue:StringEquals", {}, False),  # no key: ForAnyValue is false
        ("ForAllValues:StringNotEquals", {"aws:TagKeys": ["Owner"]}, True),
        ("ForAllValues:StringNotEquals", {"aws:TagKeys": ["Owner", "App"]}, False),
        ("ForAnyValue:StringNotEquals", {"aws:TagKeys": ["Owner", "App"]}, True),
    ],
)
def test_set_operators_on_multivalued_keys(operator, context, expected):
    policies = [cond(operator, "aws:TagKeys", ["App", "Stage"])]
    assert decide("iam:CreateRole", ROLE, policies, context).allowed is expected


def test_operators_and_keys_are_anded():
    policies = [
        policy(
            allow(
                "iam:CreateRole",
                Condition={"StringEquals": {"a": "1", "b": "2"}, "StringLike": {"c": "x*"}},
            )
        )
    ]
    assert decide("iam:CreateRole", ROLE, policies, {"a": "1", "b": "2", "c": "xy"}).allowed
    assert not decide("iam:CreateRole", ROLE, policies, {"a": "1", "b": "3", "c": "xy"}).allowed
    assert not decide("iam:CreateRole", ROLE, policies, {"a": "1", "b": "2", "c": "y"}).allowed


def test_a_deny_with_a_negated_condition_applies_when_the_key_is_missing():
    # "Deny unless the boundary is X": a request without the key is denied, as AWS documents.
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/B"
    policies = [
        policy(
            allow("iam:CreateRole"),
            deny("iam:CreateRole", Condition={"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}}),
        )
    ]
    assert decide("iam:CreateRole", ROLE, policies, {"iam:PermissionsBoundary": boundary_arn}).allowed
    assert not decide("iam:CreateRole", ROLE, policies, {}).allowed


def test_unknown_operators_are_refused_not_guessed():
    with pytest.raises(UnsupportedPolicy):
        decide("iam:CreateRole", ROLE, [cond("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z")], {})


# -- policy variables ------------------------------------------------------------------------------


def test_policy_variables_are_replaced_from_the_context():
    policies = [policy(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))]
    assert decide("s3:GetObject", "arn:aws:s3:::home/ana/f", policies, {"aws:username": "ana"}).allowed
    assert not decide("s3:GetObject", "arn:aws:s3:::home/bob/f", policies, {"aws:username": "ana"}).allowed
    # without a value for the variable, the element does not match
    assert not decide("s3:GetObject", "arn:aws:s3:::home/ana/f", policies, {}).allowed


def test_variable_escapes():
    policies = [policy(allow("s3:GetObject", "arn:aws:s3:::b/${*}"))]
    assert decide("s3:GetObject", "arn:aws:s3:::b/*", policies).allowed
    assert not decide("s3:GetObject", "arn:aws:s3:::b/x", policies).allowed


# -- permissions boundary: the intersection ---------------------------------------------------------


def test_the_boundary_limits_what_the_identity_policy_allows():
    identity = [policy(allow("*"))]
    boundary = policy(allow(["s3:*", "kms:Decrypt"]))
    assert decide("s3:PutObject", BUCKET, identity, boundary=boundary).allowed
    decision = decide("iam:CreateUser", "*", identity, boundary=boundary)
    assert not decision.allowed
    assert "permissions boundary does not allow" in decision.reason


def test_the_boundary_grants_nothing_on_its_own():
    assert not decide("s3:PutObject", BUCKET, [], boundary=policy(allow("s3:*"))).allowed


def test_a_deny_in_the_boundary_wins():
    boundary = policy(allow("*"), {**deny("iam:*"), "Sid": "NoIam"})
    decision = decide("iam:CreateRole", ROLE, [policy(allow("*"))], boundary=boundary)
    assert not decision.allowed
    assert decision.reason == "explicit deny: permissions boundary statement NoIam"


# -- resource policies (same account) ---------------------------------------------------------------


def bucket_policy(*statements):
    return policy(*statements)


def test_a_resource_policy_naming_the_principal_grants_on_its_own():
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": ROLE}})
    assert decide("s3:GetObject", f"{BUCKET}/k", [], resource_policy=resource_policy).allowed


def test_a_resource_policy_for_another_principal_grants_nothing():
    other = f"arn:aws:iam::{ACCOUNT}:role/other"
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": other}})
    assert not decide("s3:GetObject", f"{BUCKET}/k", [], resource_policy=resource_policy).allowed


def test_an_account_principal_delegates_to_the_accounts_own_policies():
    # IAM User Guide, "AWS JSON policy elements: Principal" (AWS account principals): naming the
    # account (its id or `:root`) in a resource policy delegates to the account's administrators:
    # "the identity-based policy must allow" the principal in that account; it grants nothing on its
    # own. `*` names every principal and does grant (same account: "Policy evaluation for requests
    # within a single account", the union of identity and resource policies).
    for principal in (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"):
        resource_policy = bucket_policy(
            {**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": principal}}
        )
        alone = decide("s3:GetObject", f"{BUCKET}/k", [], resource_policy=resource_policy)
        assert not alone.allowed, principal
        assert decide(
            "s3:GetObject", f"{BUCKET}/k", [policy(allow("s3:GetObject"))], resource_policy=resource_policy
        ).allowed, principal
    everyone = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": "*"})
    assert decide("s3:GetObject", f"{BUCKET}/k", [], resource_policy=everyone).allowed


def test_a_deny_in_the_resource_policy_beats_the_identity_allow():
    resource_policy = bucket_policy(
        {
            **deny("s3:*", [BUCKET, f"{BUCKET}/*"]),
            "Principal": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = [policy(allow("s3:*"))]
    assert decide(
        "s3:GetObject",
        f"{BUCKET}/k",
        identity,
        {"aws:SecureTransport": True},
        resource_policy=resource_policy,
    ).allowed
    assert not decide(
        "s3:GetObject",
        f"{BUCKET}/k",
        identity,
        {"aws:SecureTransport": False},
        resource_policy=resource_policy,
    ).allowed


def test_not_principal_deny_applies_to_everyone_else():
    resource_policy = bucket_policy({**deny("s3:*"), "NotPrincipal": {"AWS": ROLE}})
    identity = [policy(allow("s3:*"))]
    assert decide("s3:GetObject", BUCKET, identity, resource_policy=resource_policy).allowed
    other = Request("s3:GetObject", BUCKET, principal_arn=f"arn:aws:iam::{ACCOUNT}:role/x")
    assert not evaluate(other, identity, resource_policy=resource_policy).allowed


def test_a_role_granted_by_a_resource_policy_is_still_limited_by_its_boundary():
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": ROLE}})
    boundary = policy(allow("kms:*"))
    assert not decide(
        "s3:GetObject", f"{BUCKET}/k", [], boundary=boundary, resource_policy=resource_policy
    ).allowed


# -- AWS's documented cases beyond one policy (issue 16, finding 8) -------------------------------

OTHER_ACCOUNT = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app-role/build-42"


def key_policy(principal):
    return policy({**allow("kms:Decrypt"), "Principal": {"AWS": principal}})


def test_a_key_policy_naming_the_account_root_lets_iam_policies_decide():
    # KMS Developer Guide, "Key policies in AWS KMS" / "Default key policy": the statement naming
    # the account root "enables IAM policies"; it gives no principal access by itself.
    root = key_policy(f"arn:aws:iam::{ACCOUNT}:root")
    assert not decide("kms:Decrypt", KEY, [], resource_policy=root).allowed
    assert decide("kms:Decrypt", KEY, [policy(allow("kms:Decrypt"))], resource_policy=root).allowed


def test_a_key_policy_that_does_not_allow_makes_an_iam_allow_useless():
    # KMS Developer Guide, "Key policies in AWS KMS": "Unless the key policy explicitly allows it, you
    # cannot use IAM policies to allow access to a KMS key."
    someone_else = key_policy(f"arn:aws:iam::{ACCOUNT}:role/someone-else")
    decision = decide("kms:Decrypt", KEY, [policy(allow("kms:*"))], resource_policy=someone_else)
    assert not decision.allowed
    assert "key policy" in decision.reason


def test_a_key_policy_naming_the_role_grants_on_its_own():
    # Same account, a key policy naming the principal: the key policy alone allows it.
    assert decide("kms:Decrypt", KEY, [], resource_policy=key_policy(ROLE)).allowed


def cross_account(action, resource, identity, resource_policy=None, principal=ROLE):
    request = Request(action, resource, {"aws:ResourceAccount": OTHER_ACCOUNT}, principal_arn=principal)
    return evaluate(request, identity, resource_policy=resource_policy)


def test_an_identity_allow_on_another_accounts_bucket_without_a_bucket_policy_is_denied():
    # IAM User Guide, "Cross-account policy evaluation logic": the resource-based policy in the
    # trusting account must specify the principal, and the principal's identity policy must allow.
    decision = cross_account("s3:GetObject", "arn:aws:s3:::their-bucket/k", [policy(allow("s3:*"))])
    assert not decision.allowed


def test_a_resource_policy_naming_another_accounts_root_needs_that_accounts_identity_allow():
    # The same page: cross-account access needs both sides; naming A's root in B's policy is not enough.
    theirs = policy({**allow("s3:GetObject", "arn:aws:s3:::their-bucket/*"), "Principal": {"AWS": ACCOUNT}})
    assert not cross_account("s3:GetObject", "arn:aws:s3:::their-bucket/k", [], theirs).allowed
    assert cross_account(
        "s3:GetObject", "arn:aws:s3:::their-bucket/k", [policy(allow("s3:GetObject"))], theirs
    ).allowed


def test_a_resource_policy_naming_the_role_itself_across_accounts_still_needs_the_identity_allow():
    theirs = policy({**allow("s3:GetObject", "arn:aws:s3:::their-bucket/*"), "Principal": {"AWS": ROLE}})
    assert not cross_account("s3:GetObject", "arn:aws:s3:::their-bucket/k", [], theirs).allowed


def test_the_resource_account_is_read_from_the_arn():
    # An IAM role of another account: its trust policy names our root, and our identity policy
    # must allow sts:AssumeRole too.
    their_role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/deploy"
    trust = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT}})
    request = Request("sts:AssumeRole", their_role, principal_arn=ROLE)
    assert not evaluate(request, [], resource_policy=trust).allowed
    assert evaluate(request, [policy(allow("sts:AssumeRole"))], resource_policy=trust).allowed


def test_a_not_principal_deny_always_denies_a_principal_with_a_boundary():
    # IAM User Guide, "Permissions boundaries for IAM entities" (Important): a NotPrincipal element
    # with a Deny effect "will always deny any IAM principal that has a permissions boundary policy
    # attached, regardless of the values specified in the NotPrincipal element".
    resource_policy = bucket_policy({**deny("s3:*"), "NotPrincipal": {"AWS": ROLE}})
    decision = decide(
        "s3:GetObject",
        BUCKET,
        [policy(allow("s3:*"))],
        boundary=policy(allow("s3:*")),
        resource_policy=resource_policy,
    )
    assert not decision.allowed
    assert decision.reason.startswith("explicit deny: resource policy")


def test_a_policy_naming_the_role_applies_to_its_sessions():
    # IAM User Guide, "AWS JSON policy elements: Principal" (IAM role principals): naming a role ARN
    # names every session of that role.
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": ROLE}})
    request = Request("s3:GetObject", f"{BUCKET}/k", principal_arn=SESSION)
    assert evaluate(request, [], resource_policy=resource_policy).allowed
    denial = bucket_policy({**deny("s3:*"), "Principal": {"AWS": ROLE}})
    assert not evaluate(request, [policy(allow("s3:*"))], resource_policy=denial).allowed


def test_a_policy_naming_the_session_applies_to_that_session_only():
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": SESSION}})
    assert evaluate(
        Request("s3:GetObject", f"{BUCKET}/k", principal_arn=SESSION), [], resource_policy=resource_policy
    ).allowed
    other_session = SESSION.replace("build-42", "build-43")
    assert not evaluate(
        Request("s3:GetObject", f"{BUCKET}/k", principal_arn=other_session),
        [],
        resource_policy=resource_policy,
    ).allowed


def test_the_principal_arn_of_a_session_is_its_roles_arn():
    # IAM User Guide, "AWS global condition context keys" (aws:PrincipalArn): for an assumed-role
    # session it is the ARN of the role, not of the session.
    condition = {"ArnEquals": {"aws:PrincipalArn": ROLE}}
    resource_policy = bucket_policy(
        {**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": "*", "Condition": condition}
    )
    request = Request("s3:GetObject", f"{BUCKET}/k", principal_arn=SESSION)
    assert evaluate(request, [], resource_policy=resource_policy).allowed


def test_a_session_is_in_its_roles_account():
    other = f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/app-role/s"
    resource_policy = bucket_policy({**allow("s3:GetObject", f"{BUCKET}/*"), "Principal": {"AWS": ACCOUNT}})
    identity = [policy(allow("s3:GetObject"))]
    ours = {"aws:ResourceAccount": ACCOUNT}  # an S3 ARN names no account

    def get(principal):
        request = Request("s3:GetObject", f"{BUCKET}/k", ours, principal_arn=principal)
        return evaluate(request, identity, resource_policy=resource_policy).allowed

    assert get(SESSION)
    assert not get(other)


@pytest.mark.parametrize("operator", ["NumericLessThan", "NumericEquals", "NumericNotEquals"])
def test_a_value_that_is_not_a_number_matches_no_numeric_condition(operator):
    # IAM User Guide, "Condition operators": a numeric operator compares numbers; a value that is
    # not one is no match (never an error), so an Allow on it does not apply.
    assert not decide("iam:CreateRole", ROLE, [cond(operator, "k", "10")], {"k": "ten"}).allowed


def test_a_trust_policy_that_does_not_name_the_caller_makes_an_iam_allow_useless():
    # IAM User Guide, "Roles terms and concepts" (trust policy): only principals the role's trust
    # policy allows may assume it; an identity policy allowing sts:AssumeRole is not enough.
    trust = policy(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"},
        }
    )
    target = f"arn:aws:iam::{ACCOUNT}:role/deploy"
    decision = decide("sts:AssumeRole", target, [policy(allow("sts:AssumeRole"))], resource_policy=trust)
    assert not decision.allowed
    assert "trust policy" in decision.reason
