"""The pipeline rehearsed: each action of the synthesized pipeline, in order, on moto (docs/rehearsal.md)."""
