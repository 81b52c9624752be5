"""The deployable unit the pipeline adds per environment: one upload stack."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stages.compliance import add_nag_packs
from stages.guardrails import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    PERMISSIONS_BOUNDARY_NAME,
    STAGE_TAG_KEY,
    UPLOAD_STACK_ID,
    stage_policy_name,
)
from stages.settings import StageSettings
from stages.upload.stack import UploadApiStack


class UploadApiStage(cdk.Stage):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        pipeline_account_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        env = cdk.Environment(account=settings.account, region=settings.region)
        # The stage's own boundary on every role it creates (the App's, cdk.json's, is the pipeline's):
        # the boundary its own execution role enforces (docs/bootstrap.md).
        boundary = cdk.PermissionsBoundary.from_name(
            stage_policy_name(PERMISSIONS_BOUNDARY_NAME, settings.stage)
        )
        super().__init__(scope, construct_id, env=env, permissions_boundary=boundary, **kwargs)
        self.stack = UploadApiStack(
            self,
            UPLOAD_STACK_ID,
            # The stage's own bootstrap: its deploy, execution and publishing roles and asset bucket.
            synthesizer=cdk.DefaultStackSynthesizer(qualifier=settings.qualifier),
            settings=settings,
            pipeline_account_id=pipeline_account_id,
            description=f"Secure file upload API ({settings.stage})",
        )
        # A Stage is its own assembly: a stage that is a child of the App (built on its own) is
        # checked by these. Inside the pipeline stack CDK does not run a nested Stage's plugins;
        # there the packs main.py registers on the App check this stage's stack.
        add_nag_packs(self)
        # The app's tag (stages/guardrails.py), here: the pipeline synthesizes a Stage when it is
        # added, and the App's tag aspect does not cross into nested Stages.
        cdk.Tags.of(self).add(APP_TAG_KEY, APP_TAG_VALUE)
        cdk.Tags.of(self).add(STAGE_TAG_KEY, settings.stage)
