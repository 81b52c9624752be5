"""A template value as one string, the way cdk-nag prints it in its finding ids.

The pipeline stack acknowledges findings by the exact id cdk-nag prints (`AwsSolutions-IAM5
[Resource::<ArtifactBucket7410C9EF.Arn>/*]`), and the infra tests read templates the same way.
"""

from __future__ import annotations

from typing import Any


def as_nag_text(value: Any) -> str:
    """A resolved template value as cdk-nag renders it: joins flattened, Ref <Id>, GetAtt <Id.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(as_nag_text(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
    raise TypeError(f"not a string-valued template expression (cdk-nag cannot render it): {value!r}")
