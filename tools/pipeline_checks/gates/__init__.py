"""The build's security gates: secrets, static analysis, dependency audit, SBOMs.

Each gate is a module with `run(...) -> GateResult`; `python -m tools.pipeline_checks.gates` runs them all
(`make scan`) and writes reports/gates/<gate>.json plus summary.json, which the review report
(tools.pipeline_checks.review) shows. The tools are pyproject.toml's scan group, locked in uv.lock
and installed in .venv with the rest (so the build SBOM, which describes .venv, lists them too).
A gate that could not check (no vulnerability service) says NOT CHECKED; it never passes.
"""
