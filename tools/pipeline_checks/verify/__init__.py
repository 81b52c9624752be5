"""The post-deploy verifier: proves JSON validation and the stage's rate limit on a live API.

    python -m tools.pipeline_checks.verify --outputs local-outputs.json --mode dev  (`make verify`)
    python -m tools.pipeline_checks.verify --mode prod  (API_URL etc. from the environment)

Modules: cli (options, order of the checks, exit status), target (which API, signing,
the limits to expect), probes (the contract's error cases and one upload), loadgen (the
open-loop load generator) and http1 (its keep-alive HTTP/1.1 connections), throttling (the
below-limit control and the flood, and their verdicts), report (table, JUnit XML, JSON), model
(the check result every module returns).
"""
