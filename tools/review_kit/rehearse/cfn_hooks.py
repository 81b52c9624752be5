"""How the rehearsal plugs into moto's CloudFormation: hooks around its create (and update) of a type
it supports, each installed once however often the patches run; and `register_model` for a type it
lacks (moto_models.py, emulator.py).

- `before(cloudformation_json)` mends the resource's JSON as moto reads it (moto_patches.py: a key's
  policy as a string, its tags as KMS names them);
- `apply(model, properties, account_id, region)` sets, through moto's backends, what moto left out
  (moto_patches.py, moto_properties.py, moto_models.py).

Hooks run in the order they were added: every `before`, moto's own create, every `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# -- A type moto's CloudFormation lacks --------------------------------------------------------------

# (resource name, properties, account, region, moto's other arguments: LogicalId, StackId...) -> the
# instance moto's resource map holds (physical_resource_id, get_cfn_attribute).
Create = Callable[[str, dict[str, Any], str, str, Mapping[str, Any]], Any]
Delete = Callable[[str, dict[str, Any], str, str], None]  # resource name, properties, account, region
# (the instance, the new resource name, properties, account, region) -> the instance after the update
Update = Callable[[Any, str, dict[str, Any], str, str], Any]

_REGISTERED: set[str] = set()


@dataclass(frozen=True)
class ModelType:
    """A CloudFormation type as a moto model: how to create and delete it, and what it answers."""

    create: Create
    delete: Delete | None  # None: moto's default (nothing to delete)
    name_property: str  # the property that names it ("": CloudFormation generates the name)
    attributes: tuple[str, ...]
    update: Update | None = None  # None: moto's default


def register_models(prefix: str, types: Mapping[str, ModelType]) -> None:
    """A model class for each of `types` moto lacks (moto's own models and any registered before win;
    moto lists models with CloudFormationModel.__subclasses__), then moto's lookups refreshed."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    known = parsing.get_model_map()
    for type_name, model in types.items():
        if type_name in _REGISTERED or type_name in known:
            continue
        _REGISTERED.add(type_name)
        _model_class(CloudFormationModel, f"{prefix}{type_name.replace('::', '')}", type_name, model)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def moto_create(create: Create) -> Any:
    """`create` as moto's CloudFormation calls a model's create (a classmethod to set on the class)."""

    def created(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties") or {})
        return create(resource_name, properties, account_id, region_name, kwargs)

    return classmethod(created)


def _model_class(base: type, class_name: str, type_name: str, model: ModelType) -> type:
    namespace: dict[str, Any] = {
        "cloudformation_type": staticmethod(lambda: type_name),
        "cloudformation_name_type": staticmethod(lambda: model.name_property),
        "has_cfn_attr": classmethod(lambda cls, attr: attr in model.attributes),
        "create_from_cloudformation_json": moto_create(model.create),
    }
    if model.delete is not None:
        delete_resource = model.delete

        def delete(
            cls: type,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            properties = dict(cloudformation_json.get("Properties") or {})
            delete_resource(resource_name, properties, account_id, region_name)

        namespace["delete_from_cloudformation_json"] = classmethod(delete)
    if model.update is not None:
        update_resource = model.update

        def update(
            cls: type,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            properties = dict(cloudformation_json.get("Properties") or {})
            return update_resource(original_resource, new_resource_name, properties, account_id, region_name)

        namespace["update_from_cloudformation_json"] = classmethod(update)
    return type(class_name, (base,), namespace)
