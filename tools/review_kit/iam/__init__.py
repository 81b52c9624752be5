"""IAM facts checked offline: a policy evaluator, execution-policy coverage, statement validity.

`python -m tools.review_kit.iam coverage CDK_OUT POLICY`
and `python -m tools.review_kit.iam validity CDK_OUT`.
"""
