"""The CDK bootstrap roles of a stage's environment, named as `cdk bootstrap` names them.

    cdk-<qualifier>-<kind>-role-<account>-<region>

The qualifier is the stack synthesizer's (cdk.json `@aws-cdk/core:bootstrapQualifier`, else CDK's
default). The one place the pipeline stack builds these names: the asset publisher's deploy-role
grant and the Preflight step's lookup role both read it.
"""

from __future__ import annotations

from typing import Literal

import aws_cdk as cdk

from stages.upload_stage import UploadApiStage

BootstrapRole = Literal["deploy", "lookup", "file-publishing", "image-publishing", "cfn-exec"]


def bootstrap_qualifier(stage: UploadApiStage) -> str:
    synthesizer = stage.stack.synthesizer
    return getattr(synthesizer, "bootstrap_qualifier", None) or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER


def bootstrap_role_arn(stage: UploadApiStage, kind: BootstrapRole) -> str:
    stack = stage.stack
    role_name = f"cdk-{bootstrap_qualifier(stage)}-{kind}-role-{stack.account}-{stack.region}"
    return f"arn:{cdk.Aws.PARTITION}:iam::{stack.account}:role/{role_name}"
