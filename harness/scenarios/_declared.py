"""The keys pydantic models declare at a place in some data: for unknown-key reports.

Derived from the models themselves, so it follows them as they change: a field's name and alias are
declared keys; discriminated unions pick their member by the data (a callable discriminator is
called, a `type` literal is matched); a member whose `type` is not a literal is a catch-all for
types the models do not know, and the object it holds is open (its keys are not judged here).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Tag
from pydantic.fields import FieldInfo

from harness.models.selector import Step

__all__ = ["Declared", "declared_at"]


@dataclass(frozen=True)
class Declared:
    """What the models declare for one object of the data.

    Attributes:
        keys: every field name and alias of the object's model(s).
        model: the model's name, for hints (`harness schema <model>`).
        missing_type: the object needs a `type` to tell which model it is and has none; then the
            union's known `type`s, else empty.
    """

    keys: frozenset[str]
    model: str
    missing_type: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    annotation: Any
    tag: str | None = None
    siblings: tuple[str, ...] = ()  # the `type` literals of the union it was picked from


def declared_at(root: type[BaseModel], data: Any, path: tuple[Step, ...]) -> Declared | None:
    """The keys declared for the object at `path` of `data`, or None when it is open or unknown.

    Open: a plain mapping (`dict[str, Any]`), or a catch-all model of a type the models do not know.
    """
    candidates = [_Candidate(root)]
    value = data
    for step in path:
        candidates = [n for c in candidates for n in _step(c, value, step)]
        value = value[step]
        if not candidates:
            return None
    return _declared(candidates, value)


def _declared(candidates: list[_Candidate], value: Any) -> Declared | None:
    models = [c for c in _concrete(candidates, value) if _is_model(c.annotation)]
    if not models or len(models) != len(_concrete(candidates, value)):
        return None
    keys: set[str] = set()
    for candidate in models:
        model = candidate.annotation
        if candidate.siblings and not _has_literal_type(model):
            if isinstance(value, dict) and value.get("type") is None:
                return Declared(frozenset(), model.__name__, candidate.siblings)
            return None  # a type the models do not know: open
        keys |= _keys_of(model)
    return Declared(frozenset(keys), models[0].annotation.__name__)


def _step(candidate: _Candidate, value: Any, step: Step) -> list[_Candidate]:
    out: list[_Candidate] = []
    for concrete in _concrete([candidate], value):
        annotation = concrete.annotation
        origin = get_origin(annotation)
        if isinstance(step, int) and origin in (list, tuple, set, frozenset):
            out.append(_Candidate(get_args(annotation)[0]))
        elif isinstance(step, str) and origin is dict:
            out.append(_Candidate(get_args(annotation)[1]))
        elif isinstance(step, str) and _is_model(annotation):
            field = _field(annotation, step)
            if field is not None:
                out.append(_Candidate(_field_annotation(field)))
    return out


def _concrete(candidates: list[_Candidate], value: Any) -> list[_Candidate]:
    """Annotations resolved to models, containers or leaves: unions picked by `value`."""
    out: list[_Candidate] = []
    for candidate in candidates:
        out.extend(_resolve(candidate, value))
    return out


def _resolve(candidate: _Candidate, value: Any) -> list[_Candidate]:
    annotation = candidate.annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        tag = next((m.tag for m in metadata if isinstance(m, Tag)), candidate.tag)
        resolved = _resolve(_Candidate(inner, tag, candidate.siblings), value)
        chooser = next((m for m in metadata if _is_discriminator(m)), None)
        return _pick(resolved, chooser, value) if chooser is not None else resolved
    if origin in (Union, types.UnionType):
        members = [r for arg in get_args(annotation) for r in _resolve(_Candidate(arg), value)]
        literals = tuple(t for m in members for t in _literal_types(m.annotation))
        # Members picked from an inner discriminated union keep that union's literals.
        members = [_Candidate(m.annotation, m.tag, m.siblings or literals) for m in members]
        return _by_type(members, value)
    if annotation is type(None):
        return []
    return [candidate]


def _is_discriminator(metadata: Any) -> bool:
    if isinstance(metadata, Discriminator):
        return True
    return isinstance(metadata, FieldInfo) and metadata.discriminator is not None


def _pick(members: list[_Candidate], chooser: Any, value: Any) -> list[_Candidate]:
    rule = chooser.discriminator if isinstance(chooser, FieldInfo) else chooser
    rule = rule.discriminator if isinstance(rule, Discriminator) else rule
    if callable(rule):
        try:
            tag = rule(value)
        except Exception:  # a discriminator may assume a shape: then every member stays
            return members
        picked = [m for m in members if m.tag == tag]
        return picked or members
    return _by_type(members, value)


def _by_type(members: list[_Candidate], value: Any) -> list[_Candidate]:
    """The members whose `type` literal matches the data's `type` (all when none matches)."""
    if not isinstance(value, dict) or "type" not in value:
        return members
    matching = [m for m in members if value["type"] in _literal_types(m.annotation)]
    if matching:
        return matching
    open_members = [
        m for m in members if _is_model(m.annotation) and not _literal_types(m.annotation)
    ]
    return open_members or members


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _literal_types(annotation: Any) -> tuple[Any, ...]:
    if not _is_model(annotation) or "type" not in annotation.model_fields:
        return ()
    field_type = annotation.model_fields["type"].annotation
    return get_args(field_type) if get_origin(field_type) is Literal else ()


def _has_literal_type(model: type[BaseModel]) -> bool:
    return bool(_literal_types(model))


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.alias, field.validation_alias):
            return field
    return None


def _field_annotation(field: FieldInfo) -> Any:
    if field.discriminator is not None:
        return Annotated[field.annotation, Discriminator(field.discriminator)]  # type: ignore[arg-type]
    return field.annotation


def _keys_of(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        for alias in (field.alias, field.validation_alias):
            if isinstance(alias, str):
                keys.add(alias)
    return keys
