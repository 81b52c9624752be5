"""tools/review_kit/iam/reference.py: matching ARNs against the service authorization reference's formats."""

from __future__ import annotations

from tools.review_kit.iam.reference import arn_fits_format, pattern_fits_format

S3_OBJECT = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"


def test_a_long_arn_is_judged_not_refused_by_the_recursion_limit():
    # GIVEN an object ARN of a few thousand characters (the merged stacks' scanner role names one
    # that long enough to exceed Python's recursion limit in the first, recursive matcher)
    arn = "arn:aws:s3:::dev-uploadapi-uploadbucket/" + "uploads/" * 400 + "x"
    # WHEN it is matched against the reference's format, THEN it fits, and a wrong service does not
    assert arn_fits_format(arn, S3_OBJECT)
    assert not arn_fits_format(arn.replace(":s3:", ":sqs:"), S3_OBJECT)


def test_patterns_still_meet_formats_through_wildcards():
    # GIVEN policy patterns with wildcards
    # THEN a pattern that can name an object fits; one that can name only another service does not
    assert pattern_fits_format("arn:aws:s3:::dev-*/uploads/*", S3_OBJECT)
    assert not pattern_fits_format("arn:aws:lambda:*:*:function:*", S3_OBJECT)
