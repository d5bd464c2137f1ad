"""The answers every operation may give besides its own, written into the OpenAPI schema in
one place, so that the schema tells clients (and the fuzzer) the whole truth.

They come from the layers around the routes, which FastAPI cannot see per route:

- a body that cannot be read (not UTF-8): 400; a body over the limit: 413 (`api/limits.py`;
  documented where a body is expected, though any request with one too large gets it);
- no or a bad bearer token: 401 (every operation that names a security scheme);
- an Idempotency-Key used with another request: 409 (`api/idempotency.py`);
- the database or Temporal down for a moment: 503 with Retry-After (`api/errors.py`);
- a change to a claim while ten others are in flight on it: 429 with Retry-After (Temporal's
  limit of in-flight Updates per workflow, `api/errors.py`);
- 422 is either the fields that do not fit (FastAPI's validation, `detail` a list) or a broken
  rule (`detail` a text: a workflow's rejection, a bad cursor or key, text PostgreSQL cannot
  store): every 422 is documented as `Unprocessable`, which is either.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from api.idempotency import CHANGES, EXEMPT
from api.schemas import Problem, Unprocessable

_REF = "#/components/schemas/{model}"


def _response(description: str, model: type) -> dict[str, Any]:
    ref = _REF.format(model=model.__name__)
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def with_cross_cutting_responses(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, defs = models_json_schema([(Unprocessable, "serialization")], ref_template=_REF)
    # Problem (and the claim in it) as the routes' responses have it, where they do.
    ours = {"Unprocessable", "Invalid", "FieldError"} if "Problem" in components else defs["$defs"]
    for name in ours:
        components.setdefault(name, defs["$defs"][name])

    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method.upper() not in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            responses = operation.setdefault("responses", {})
            body = "requestBody" in operation
            changes = method.upper() in CHANGES
            idempotent = changes and path not in EXEMPT
            if body:
                responses.setdefault("400", _response("The body cannot be read", Problem))
            if body or changes:
                responses.setdefault("413", _response("The body is larger than the limit", Problem))
            if operation.get("security"):
                responses.setdefault("401", _response("Not signed in", Problem))
            if idempotent:
                responses.setdefault(
                    "409", _response("A conflict, e.g. an Idempotency-Key reused", Problem)
                )
            if changes and path.startswith(("/claims", "/tasks")):
                responses.setdefault(
                    "429", _response("The claim is busy with other actions: retry", Problem)
                )
            if path not in ("/healthz", "/readyz"):
                responses.setdefault(
                    "503",
                    _response("The database or the workflow service is down for a moment: retry",
                              Problem),
                )
            if body or idempotent or operation.get("parameters") or "422" in responses:
                responses["422"] = _response(
                    "Fields that do not fit, or a rule the request breaks", Unprocessable
                )
    return schema


def document_cross_cutting_responses(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_cross_cutting_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
