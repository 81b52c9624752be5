"""The upload stage, its one stack, and their typed settings."""
