"""Template, cdk-nag, scanner and bundle tests for the upload stack."""
