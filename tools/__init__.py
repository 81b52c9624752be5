"""Developer and build tools: local server, scanner gates, benchmarks."""
