"""Stack outputs: exactly the five ids clients and the pipeline read, plus the dashboard's URL."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.synth

OUTPUT_IDS = {
    "ApiUrl",
    "UploadEndpoint",
    "LambdaFunctionArn",
    "BucketName",
    "TableName",
    "DashboardUrl",
    "VerifierRoleArn",
}


def test_the_stack_has_exactly_the_contract_outputs_and_the_dashboard_url(template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN the outputs are exactly ApiUrl, UploadEndpoint, LambdaFunctionArn, BucketName, TableName
    # (the contract's outputs file), DashboardUrl (tests/infra/test_observability.py) and VerifierRoleArn
    # (the role the pipeline's verify step assumes, tests/infra/test_delivery_trust.py)
    assert set(template.find_outputs("*")) == OUTPUT_IDS


def test_the_outputs_point_at_this_stacks_resources(dev, template):
    # GIVEN the dev stage
    # WHEN synthesized
    # THEN each output is the value its name promises
    template.has_output("BucketName", {"Value": {"Ref": dev.bucket_id}})
    template.has_output("TableName", {"Value": {"Ref": dev.table_id}})
    # (the function's ARN, not the live alias's: the contract names the function)
    template.has_output("LambdaFunctionArn", {"Value": {"Fn::GetAtt": [dev.function_id, "Arn"]}})
    api_url = template.find_outputs("ApiUrl")["ApiUrl"]["Value"]["Fn::Join"][1]
    endpoint = template.find_outputs("UploadEndpoint")["UploadEndpoint"]["Value"]["Fn::Join"][1]
    # AND UploadEndpoint is ApiUrl + "upload"
    assert api_url[0] == "https://"
    assert api_url[-1] == "/"
    assert endpoint[:-1] == api_url[:-1]
    assert endpoint[-1] == "/upload"
