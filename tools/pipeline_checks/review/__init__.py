"""The security review report: what the checks found and what the team chose to accept.

Once every cdk-nag finding is acknowledged, cdk.out/validation-report.json is empty and the
acknowledgements with their reasons sit only in each stack's metadata.json; checkov skips and
cfn-lint ignores sit in template metadata; what each role may do sits in policy documents; what
any deployment may do at most sits in the bootstrap policies (bootstrap/*.json). This package
reads all of that from one cloud assembly (after `cdk synth`) and the bootstrap folder, has
cloudsplaining classify the risky permissions, and writes one report a reviewer can read
before approving prod (docs/review-report.md): reports/review/report.{html,md,json} plus a JUnit file
for the pipeline's SecurityFindingsReports report group. `python -m tools.pipeline_checks.review --help`.
"""
