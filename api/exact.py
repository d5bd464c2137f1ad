"""Requests are held to their exact fields; persisted models are not.

The domain's models ignore unknown fields (`domain.vocabulary.Model`): they are read back
from Temporal's history and the read model, where a field added, renamed or dropped by a later
version must not break anything. A request is another matter: a field the API does not know
is a client's mistake (a typo, an old client), answered with 422 naming it.

`Exact[Model]` declares a request body so: before the body is validated as usual, it is
checked by a twin of the model's schema in which every model, at every depth, forbids extra
fields, so each unknown field is reported where it is (`loc` ends with its name, type
`extra_forbidden`). The twin only checks; the body is then the model itself, as any other
code would build it.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import CoreSchema, SchemaValidator, core_schema

_SUFFIX = ":exact"


def _forbid_extras(node: Any, twins: dict[type, type]) -> None:
    """Turn a (copied) core schema into one that forbids extra fields everywhere.

    pydantic-core reuses a model class's own validator when a schema names a complete class,
    so each model is named by a throwaway subclass whose build is deferred (it is never
    instantiated from outside this check)."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("model-fields", "typed-dict", "dataclass-args"):
            node["extra_behavior"] = "forbid"
        if kind == "model":
            node["config"] = {**node.get("config", {}), "extra_fields_behavior": "forbid"}
            cls = node["cls"]
            if cls not in twins:
                twins[cls] = type(
                    cls.__name__,
                    (cls,),
                    {
                        "__module__": cls.__module__,
                        "__qualname__": f"{cls.__qualname__}.Exact",
                        "model_config": ConfigDict(extra="forbid", defer_build=True),
                    },
                )
            node["cls"] = twins[cls]
        for key in ("ref", "schema_ref"):
            if isinstance(node.get(key), str):
                node[key] += _SUFFIX
        for value in node.values():
            _forbid_extras(value, twins)
    elif isinstance(node, list):
        for value in node:
            _forbid_extras(value, twins)


@functools.cache
def exact_validator(model: type[BaseModel]) -> SchemaValidator:
    """A validator of `model` that refuses unknown fields at every depth."""
    schema = copy.deepcopy(model.__pydantic_core_schema__)
    _forbid_extras(schema, {})
    return SchemaValidator(schema)  # type: ignore[arg-type]


def check_exact(model: type[BaseModel], data: Any) -> None:
    """Raise pydantic's ValidationError if `data` (parsed JSON) has a field `model` does not
    know, or is otherwise invalid."""
    exact_validator(model).validate_python(data)


class _ExactBody:
    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        model = source

        def validate(value: Any, inner: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if not isinstance(value, BaseModel):
                check_exact(model, value)
            return inner(value)

        return core_schema.no_info_wrap_validator_function(validate, handler(source))


class Exact:
    """`Exact[Model]`: a request body that must hold only the fields `Model` knows."""

    def __class_getitem__(cls, model: type[BaseModel]) -> Any:
        return Annotated[model, _ExactBody()]
