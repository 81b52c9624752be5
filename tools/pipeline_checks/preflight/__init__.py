"""Preflight: what a stage's account must offer before the pipeline changes anything in it.

The pipeline runs it as each stage's first action (`<Stage>Preflight`), through the target
account's read-only CDK lookup role. Each failed check prints one line naming the quota or
prerequisite, the setting it comes from and the fix; the stage then stops before CloudFormation.
"""
