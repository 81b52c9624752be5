"""The offline review kit: the IAM evaluator and its checks, and the pipeline
rehearsal against emulated AWS."""
