"""What tests need of the tree: its root, and cdk.json's context to build test apps with (a bare
`App()` ignores the feature flags, aws/aws-cdk#17553). The same values the tools use."""

from tools.common.paths import REPO_ROOT, cdk_context

__all__ = ["REPO_ROOT", "cdk_context"]
