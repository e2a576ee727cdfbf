"""The models' cross-field rules, run again where pydantic skipped them.

pydantic runs a model's ``model_validator(mode="after")`` only when every field of that model
validated, so a typo anywhere in the file hid "several workers on memory://" until the typo was
fixed: one more restart for each layer of problems. Here each model on the path of an error
gets its rules run on the fields that did validate; a rule that reads a field that did not is
skipped, since that field's own problem is reported already.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

#: A location in the configuration as pydantic reports it: keys as written, list indexes.
Loc = tuple[str | int, ...]


def field_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Model``, ``Model | None`` or ``list[Model]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = field_model(arg)
            if found is not None:
                return found
    return None


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc`` (None if that is no model's place)."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list of models: the same model
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        child = field_model(fields[part].annotation) if part in fields else None
        if child is None:
            return None
        model = child
    return model


class _Unusable(Exception):
    """The rule read a field that did not validate."""


class _Partial:
    """A model as its rules see it: the fields that validated, ``_Unusable`` for the others.

    A section with errors inside is itself a ``_Partial``, so a rule still reads its valid
    settings. Properties and methods of the model run against the view too, so they cannot
    read an invalid field's default in its place.
    """

    def __init__(self, model: type[BaseModel], values: dict[str, Any]) -> None:
        self._model = model
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._model.model_fields:
            raise _Unusable(name)
        attribute = getattr(self._model, name)
        bind = getattr(attribute, "__get__", None)
        return attribute if bind is None else bind(self, self._model)


def skipped_rule_errors(
    model: type[BaseModel], raw: Any, errors: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Errors, shaped like pydantic's, of the rules of every model with an error below it."""
    if not isinstance(raw, dict) or not errors:
        return []
    return _partial(model, raw, [error["loc"] for error in errors], ())[1]


def _has_errors(locs: list[Loc], loc: Loc) -> bool:
    return any(where[: len(loc)] == loc for where in locs)


def _partial(
    model: type[BaseModel], raw: dict[str, Any], locs: list[Loc], loc: Loc
) -> tuple[_Partial, list[dict[str, Any]]]:
    """The view of the mapping ``raw`` at ``loc``, and the errors of the rules below it."""
    found: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        child = field_model(field.annotation)
        value = raw.get(key)
        if not _has_errors(locs, (*loc, key)):
            if key not in raw:
                values[name] = field.get_default(call_default_factory=True)
                continue
            annotation: Any = (
                Annotated[(field.annotation, *field.metadata)]
                if field.metadata
                else field.annotation
            )
            try:
                values[name] = TypeAdapter(annotation).validate_python(value)
            except ValidationError:
                # Only a ``mode="before"`` field validator (none today) could make a valid value
                # fail without it: the field stays out of the view, its rules are skipped.
                continue
        elif child is not None and isinstance(value, dict):
            values[name], errors = _partial(child, value, locs, (*loc, key))
            found += errors
        elif (
            child is not None
            and isinstance(value, list)
            and all(isinstance(item, dict) for item in value)
        ):
            items: list[Any] = []
            for index, item in enumerate(value):
                if _has_errors(locs, (*loc, key, index)):
                    view, errors = _partial(child, item, locs, (*loc, key, index))
                    items.append(view)
                    found += errors
                else:
                    items.append(child.model_validate(item))
            values[name] = items
        # Any other field with errors stays out of the view: a rule reading it is skipped.
    view = _Partial(model, values)
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        try:
            decorator.func(view)
        except (_Unusable, AttributeError, TypeError):
            # It read a setting that did not validate (or something a view lacks): that
            # setting's own problem is reported, and a guess here could only mislead.
            continue
        except PydanticCustomError as exc:
            found.append({"loc": loc, "msg": exc.message(), "type": exc.type, "ctx": exc.context})
        except ValueError as exc:
            found.append({"loc": loc, "msg": str(exc), "type": "value_error"})
    return view, found
