"""`model_construct` for the models the engine builds from its own values, once per turn or node.

pydantic's `model_construct` looks up each field's aliases and asks for its default afresh on
every call (a FieldInfo method that inspects the default's factory each time): for the dozen
models a replayed turn builds this way that was about a tenth of the engine's own work. Here a
class's fields are looked at once, and a call copies a template of the defaults and fills in the
given values: the same object, field for field, as `model_construct` builds.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["construct"]

M = TypeVar("M", bound=BaseModel)

_IMMUTABLE = (type(None), bool, int, float, str, bytes, Enum)


@dataclass(frozen=True, slots=True)
class _Template:
    defaults: dict[str, Any]
    """Every field in declaration order: its default (None for a factory or a required field)."""
    factories: tuple[tuple[str, Callable[[], Any]], ...]
    required: frozenset[str]
    keep_extra: bool


def construct(cls: type[M], /, **values: Any) -> M:
    """`cls.model_construct(**values)`, for values given by field name (not by alias).

    Falls back to `model_construct` for what a template cannot reproduce (root models, a
    `model_post_init`, a default factory that reads the other fields).
    """
    template = _template(cls)
    if template is None:
        return cls.model_construct(**values)
    data = dict(template.defaults)
    extra: dict[str, Any] = {}
    for name, value in values.items():
        if name in data:
            data[name] = value
        else:
            extra[name] = value
    for name, factory in template.factories:
        if name not in values:
            data[name] = factory()
    missing = template.required - values.keys()
    if missing:  # a required field not given is absent, as pydantic leaves it
        data = {name: value for name, value in data.items() if name not in missing}
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", data)
    object.__setattr__(model, "__pydantic_fields_set__", values.keys() - extra.keys())
    object.__setattr__(model, "__pydantic_extra__", extra if template.keep_extra else None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


@functools.cache
def _template(cls: type[BaseModel]) -> _Template | None:
    if cls.__pydantic_root_model__ or cls.__pydantic_post_init__:
        return None
    defaults: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    required: set[str] = set()
    for name, field in cls.model_fields.items():
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                return None
            defaults[name] = None
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif field.is_required():
            defaults[name] = None
            required.add(name)
        elif isinstance(field.default, _IMMUTABLE):
            defaults[name] = field.default
        else:  # pydantic hands out a copy of a mutable default
            defaults[name] = None
            factories.append((name, functools.partial(copy.deepcopy, field.default)))
    keep_extra = cls.model_config.get("extra") == "allow"
    return _Template(defaults, tuple(factories), frozenset(required), keep_extra)
