"""The pipeline stack's own IAM, against a committed, reviewed list (bootstrap/pipeline-iam.reviewed.json)."""
