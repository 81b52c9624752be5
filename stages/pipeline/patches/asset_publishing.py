"""What `cdk publish-assets` calls, granted to the asset-publishing role CDK Pipelines creates.

The locked CLI (package.json: aws-cdk 2.1148.1) does not go straight to the file-publishing role:
before it builds an asset it checks the bootstrap version of each stage's environment, as the
stage stack's deploy role (`accessStackForReadOnlyStackOperations`: sts:AssumeRole of the stack's
`assumeRoleArn`, then ssm:GetParameter of `/cdk-bootstrap/<qualifier>/version` and, for
cross-account publishing, cloudformation:DescribeStacks of CDKToolkit). CDK Pipelines grants the
role only the file-publishing roles (it was written for cdk-assets, which skips that check).
Without this, the first Assets run fails with BootstrapVersionSsmConfirmationFailed.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from stages.pipeline.bootstrap import bootstrap_role_arn
from stages.pipeline.patches.generated import file_role, patch_of
from stages.upload_stage import UploadApiStage

SID = "PublishAssetsChecksTheBootstrapVersionAsTheDeployRole"


@patch_of("asset-publishing role (Assets/FileRole)")
def grant_the_bootstrap_version_check(pipeline: Construct, stages: list[UploadApiStage]) -> None:
    """The role may assume exactly the deploy role of each stage's environment, and no other."""
    arns = list(dict.fromkeys(bootstrap_role_arn(stage, "deploy") for stage in stages))
    file_role(pipeline).add_to_principal_policy(
        iam.PolicyStatement(sid=SID, actions=["sts:AssumeRole"], resources=arns)
    )
