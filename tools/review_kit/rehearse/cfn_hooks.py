"""One way to mend what moto's CloudFormation does with a type it supports: hooks around its create
(and update) of the model, each hook installed once however often the patches run.

- `before(cloudformation_json)` mends the resource's JSON as moto reads it (moto_patches.py: a key's
  policy as a string, its tags as KMS names them);
- `apply(model, properties, account_id, region)` sets, through moto's backends, what moto left out
  (moto_patches.py, moto_properties.py, moto_models.py).

Hooks run in the order they were added: every `before`, moto's own create, every `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Before = Callable[[dict[str, Any]], None]
Apply = Callable[[Any, Mapping[str, Any], str, str], None]  # model, properties, account, region

_HOOKS = (
    "_rehearsal_cloudformation_hooks"  # on a wrapped model class: hook name -> (before, apply, on update)
)


def around_create(
    model_class: Any, apply: Apply | None = None, *, before: Before | None = None, update: bool = False
) -> None:
    """Run `before` and `apply` around moto's CloudFormation create of `model_class` (and `apply`
    after its update too, with `update`), once per hook."""
    hooks: dict[str, tuple[Before | None, Apply | None, bool]] | None = model_class.__dict__.get(_HOOKS)
    if hooks is None:
        hooks = {}
        _wrap_create(model_class, hooks)
        setattr(model_class, _HOOKS, hooks)
    if update and not any(on_update for _, _, on_update in hooks.values()):
        _wrap_update(model_class, hooks)
    name = next(f"{f.__module__}.{f.__qualname__}" for f in (apply, before) if f is not None)
    hooks.setdefault(name, (before, apply, update))


def _wrap_create(model_class: Any, hooks: Mapping[str, tuple[Before | None, Apply | None, bool]]) -> None:
    original = model_class.create_from_cloudformation_json.__func__

    def create(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        for before, _, _ in list(hooks.values()):
            if before is not None:
                before(cloudformation_json)
        created = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        for _, apply, _ in list(hooks.values()):
            if apply is not None:
                apply(created, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return created

    model_class.create_from_cloudformation_json = classmethod(create)


def _wrap_update(model_class: Any, hooks: Mapping[str, tuple[Before | None, Apply | None, bool]]) -> None:
    original = model_class.update_from_cloudformation_json.__func__

    def updated(
        cls: type,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        result = original(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        for _, apply, on_update in list(hooks.values()):
            if apply is not None and on_update:
                apply(result, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return result

    model_class.update_from_cloudformation_json = classmethod(updated)
