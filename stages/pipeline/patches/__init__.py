"""Patches of what CDK Pipelines generates, one function each, applied in order by the pipeline stack.

generated.py          where CDK Pipelines puts what it generates, and GeneratedConstructChanged:
                      every patch fails synth, naming itself, when its target is not as expected
node_tools.py         the locked CLI on the pinned Node for self-mutation, assets, permission check
artifact_digest.py    the builds after PipelineChangeGate refuse a synth artifact the gate did not judge
permissions_check.py  the permission check's logs, the auto-approver's size and log encryption
grants.py             generated grants cut to what each step does
source.py             the connection source role's action prefix
acknowledgements.py   scanner acknowledgements of what remains, with exact finding ids (the reasons
                      are the pipeline section of stages/compliance.py's table)
"""
