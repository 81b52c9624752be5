"""The build's security gates: secrets, static analysis, dependency audit, SBOMs.

Each gate is a module with `run(...) -> GateResult`; `python -m tools.pipeline_checks.gates` runs them all
(`make scan`) and writes reports/gates/<gate>.json plus summary.json, which the review report
(tools.pipeline_checks.review) shows. The tools are pinned in requirements-scan.txt and live in .venv-scan/,
apart from the app's .venv (their dependencies are theirs, and the build SBOM describes .venv).
A gate that could not check (no vulnerability service) says NOT CHECKED; it never passes.
"""
