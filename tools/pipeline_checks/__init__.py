"""What the pipeline itself runs.

The post-deploy verifier, the security gates, the cdk-nag and pipeline-IAM gates, the review report.
"""
