#!/usr/bin/env python3
"""The CDK app. Settings are read here, once, and passed down typed."""

from __future__ import annotations

import aws_cdk as cdk

from stages.settings import CONTEXT_KEY, load_stage_settings
from stages.upload_stage import UploadApiStage


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    # Until the pipeline lands, the dev stage is deployed from the app directly;
    # the pipeline will add this same stage class for dev and prod.
    settings = load_stage_settings(app.node.try_get_context(CONTEXT_KEY), "dev")
    UploadApiStage(app, "Dev", settings=settings)
    return app


if __name__ == "__main__":
    build_app().synth()
