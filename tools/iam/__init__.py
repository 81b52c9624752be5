"""IAM facts checked offline: a policy evaluator, execution-policy coverage, statement validity.

`python -m tools.iam coverage CDK_OUT POLICY` and `python -m tools.iam validity CDK_OUT`.
"""
