"""Everything around the product that is not the product.

- tools/pipeline_checks: what the deployed pipeline runs (verifier, security gates, cdk-nag and
  pipeline-IAM gates, the review report).
- tools/dev: developer aids (local mode, the upload client, the OpenAPI generator, the benchmark).
- tools/review_kit: the offline review kit (IAM evaluator and checks, the pipeline rehearsal).
- tools/common: what more than one of them reads (the synthesized assembly, SigV4, JUnit, paths).
"""
