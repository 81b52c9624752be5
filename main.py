#!/usr/bin/env python3
"""The CDK app: one pipeline stack that deploys the upload stage to dev, then prod.

Settings are read here, once, from cdk.json context and passed down typed.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from stages.compliance import add_nag_packs
from stages.guardrails import APP_TAG_KEY, APP_TAG_VALUE
from stages.pipeline.settings import (
    check_stage_environments,
    load_pipeline_settings,
    place_account_settings,
)
from stages.pipeline.stack import UploadApiPipelineStack
from stages.settings import CONTEXT_KEY, SettingsError, load_stage_settings

PIPELINE_STACK_ID = "UploadApiPipeline"


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    context = app.node.try_get_context(CONTEXT_KEY)
    pipeline_settings = load_pipeline_settings(context)
    dev, prod = load_stage_settings(context, "dev"), load_stage_settings(context, "prod")
    check_stage_environments(pipeline_settings, (dev, prod))
    dev, prod = place_account_settings(pipeline_settings, dev, prod)
    UploadApiPipelineStack(
        app,
        PIPELINE_STACK_ID,
        pipeline_settings=pipeline_settings,
        dev=dev,
        prod=prod,
        env=cdk.Environment(account=pipeline_settings.account, region=pipeline_settings.region),
        description="Secure upload API: the CDK pipeline (source, synth, dev, approval, prod)",
    )
    # Both packs, on the App: CDK runs the validation plugins of the App and of Stages that are
    # children of the App (or of another Stage) only, so the packs UploadApiStage registers on Dev
    # and Prod (children of the pipeline stack) never run. cdk-nag walks the App's whole construct
    # tree, so these check the pipeline stack and both upload stacks.
    add_nag_packs(app)
    # On every taggable resource: the execution policy scopes KMS keys and CodeBuild by it (the
    # upload stages tag themselves: stages/upload_stage.py).
    cdk.Tags.of(app).add(APP_TAG_KEY, APP_TAG_VALUE)
    return app


def main() -> int:
    """Synthesize; a wrong setting is one line on stderr naming it (no traceback), and exit 2."""
    try:
        app = build_app()
    except SettingsError as error:
        print(f"main.py: settings error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
