"""The self-mutating CDK pipeline stack: source, synth, Dev, approval, Prod."""
