"""The upload handler's cost ratios and the tools' throughput, measured in one run (`make bench`).

Two ratios, each the median of interleaved pairs (A B A B ...) with the pairs' min and max:
(a) cold init of the handler module ÷ bare boto3 clients, whole processes (bench/cold.py), target
<= 1.3; (b) warm CPU of a 4 MiB upload ÷ base64 decode + SHA-256 of the same bytes (bench/warm.py),
target <= 2.0. Two figures: (c) the verifier's load generator's offered rate (bench/generator.py),
target >= 3,000 req/s; (d) the local gateway's answered rate (bench/gateway.py), target >= 2,500.

A benchmark reports; it does not gate. The exit status is 0 whatever the figures.
"""
