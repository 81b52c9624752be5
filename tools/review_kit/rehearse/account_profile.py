"""Account profiles for the rehearsal: what a new account and a mature one offer, enforced in moto.

moto answers no Lambda GetAccountSettings and no GuardDuty ListMalwareProtectionPlans, and checks
no concurrency quota when CloudFormation creates a function. AWS does (Lambda's documented rule:
a reservation may not leave less than 100 unreserved, or the whole quota where it is below 100;
new accounts start as low as 10). This module adds those three behaviours to moto, for one
profile at a time, so a rehearsal on the `new-account` profile fails where the first deploy on
such an account would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MINIMUM_UNRESERVED = 100


@dataclass(frozen=True)
class AccountProfile:
    name: str
    concurrency_quota: int
    malware_protection: bool  # GuardDuty Malware Protection for S3 offered in the region

    @property
    def keep_unreserved(self) -> int:
        return min(MINIMUM_UNRESERVED, self.concurrency_quota)


PROFILES = {
    "new-account": AccountProfile("new-account", concurrency_quota=10, malware_protection=True),
    "mature": AccountProfile("mature", concurrency_quota=1000, malware_protection=True),
}
_active: dict[str, AccountProfile] = {}


def active() -> AccountProfile:
    return _active.get("profile", PROFILES["mature"])


def install(profile: AccountProfile) -> None:
    """Apply `profile` to moto (before its server starts; again to switch profiles)."""
    _active["profile"] = profile
    _install_lambda()
    _install_guardduty()


def _reserved(backend: Any, *, except_name: str | None = None) -> int:
    return sum(
        int(function.reserved_concurrency or 0)
        for function in backend.list_functions()
        if function.function_name != except_name
    )


def _refuse_if_over(backend: Any, function_name: str | None, reserving: int) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    profile = active()
    if reserving and profile.concurrency_quota - _reserved(backend, except_name=function_name) - reserving < (
        profile.keep_unreserved
    ):
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{profile.keep_unreserved}]."
        )


def _install_lambda() -> None:
    from moto.awslambda import models, responses, urls

    backend_class: Any = models.LambdaBackend
    if getattr(backend_class, "_profile_patched", False):
        return
    create_function = backend_class.create_function
    put_concurrency = backend_class.put_function_concurrency

    def create(self: Any, spec: dict[str, Any]) -> Any:
        _refuse_if_over(self, spec.get("FunctionName"), int(spec.get("ReservedConcurrentExecutions") or 0))
        return create_function(self, spec)

    def put(self: Any, function_name: str, reserved_concurrency: str) -> str:
        _refuse_if_over(self, function_name, int(reserved_concurrency))
        return str(put_concurrency(self, function_name, reserved_concurrency))

    def get_account_settings(self: Any) -> str:
        backend = self.backend
        quota = active().concurrency_quota
        limits = {"ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": quota - _reserved(backend)}
        return json.dumps(
            {"AccountLimit": limits, "AccountUsage": {"FunctionCount": len(backend.list_functions())}}
        )

    backend_class.create_function = create
    function_class: Any = models.LambdaFunction
    create_from_template = function_class.create_from_cloudformation_json

    def create_from_cloudformation_json(cls: type, *args: Any, **kwargs: Any) -> Any:
        """CloudFormation reports Lambda's refusal as the stack's failure, with Lambda's words."""
        from moto.awslambda.exceptions import InvalidParameterValueException
        from moto.cloudformation.exceptions import ValidationError

        try:
            return create_from_template.__func__(cls, *args, **kwargs)
        except InvalidParameterValueException as error:
            raise ValidationError(message=error.message) from error

    function_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    backend_class.put_function_concurrency = put
    response_class: Any = responses.LambdaResponse
    response_class.get_account_settings = get_account_settings
    urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = response_class.dispatch
    backend_class._profile_patched = True


def _install_guardduty() -> None:
    from moto.guardduty import responses, urls

    response_class: Any = responses.GuardDutyResponse
    if getattr(response_class, "_profile_patched", False):
        return

    def list_malware_protection_plans(self: Any) -> Any:
        if not active().malware_protection:
            return (
                400,
                {},
                json.dumps({"message": "Malware Protection for S3 is not available in this region"}),
            )
        return json.dumps({"malwareProtectionPlans": []})

    response_class.list_malware_protection_plans = list_malware_protection_plans
    urls.url_paths["{0}/malware-protection-plan$"] = response_class.dispatch
    response_class._profile_patched = True
