"""Developer aids: local mode, the upload client, the OpenAPI generator, the benchmark.

The pipeline runs none of these."""
