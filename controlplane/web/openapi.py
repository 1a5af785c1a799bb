"""The OpenAPI 3.1 document, built from the endpoint table so it cannot drift from the routes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from controlplane.web import schemas
from controlplane.web.middleware import Handler

Access = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Answer:
    """A documented answer that is not the API's JSON error: its media type and schema."""

    description: str
    content_type: str | None = "application/json"  # None: no body
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Endpoint:
    """A route with what the OpenAPI document says of it: its request body, its success
    answer's schema and media type, and every other status it can answer (a string: a JSON
    error in the API's shape; an Answer: anything else)."""

    method: str
    path: str
    handler: Handler
    summary: str
    access: Access = "user"
    status: int = 200
    request_body: dict[str, Any] | None = None
    responses: Mapping[int, str | Answer] = field(default_factory=dict)
    response: dict[str, Any] | None = None
    # Bodies other than JSON (an upload): media type -> schema.
    request_media: dict[str, Any] | None = None
    # Optional query parameters: name -> schema.
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    content_type: str | None = "application/json"  # None: the success answer has no body


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
_STANDARD_ERRORS = {
    "user": {401: "missing or invalid token", 404: "not found, or not yours"},
    "admin": {401: "missing or invalid token", 403: "admins only"},
    "public": {},
}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in endpoint.query.items()
    ]
    success = Answer("success", None if endpoint.status == 204 else endpoint.content_type)
    responses = {str(endpoint.status): _answer(success, endpoint.response)}
    errors: dict[int, str | Answer] = dict(_STANDARD_ERRORS[endpoint.access])
    if endpoint.request_body:
        errors |= {400: "body is not a JSON object", 413: "body too large", 422: "invalid input"}
    if "{" in endpoint.path:
        errors.setdefault(404, "a path parameter names nothing (a NUL, say)")
    for status, described in {**errors, **endpoint.responses}.items():
        answer = Answer(described) if isinstance(described, str) else described
        responses[str(status)] = _answer(answer, answer.schema or _ERROR_REF)
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if endpoint.access != "public":
        operation["security"] = [{"bearer": []}]
    media = endpoint.request_media or {}
    if endpoint.request_body:
        media = {"application/json": endpoint.request_body}
    if media:
        operation["requestBody"] = {
            "required": True,
            "content": {name: {"schema": schema} for name, schema in media.items()},
        }
    return operation


_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _answer(answer: Answer, schema: dict[str, Any] | None) -> dict[str, Any]:
    """One response object: its description and, when it has a body, media type and schema."""
    if answer.content_type is None:
        return {"description": answer.description}
    return {
        "description": answer.description,
        "content": {answer.content_type: {"schema": schema or {}}},
    }


def _referred(value: Any, names: dict[int, str], top: int | None = None) -> Any:
    """A copy with every named schema (by identity) replaced by a $ref to its component."""
    if isinstance(value, dict):
        if id(value) in names and id(value) != top:
            return {"$ref": f"#/components/schemas/{names[id(value)]}"}
        return {key: _referred(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_referred(item, names) for item in value]
    return value


def build_openapi(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The whole document for the given endpoints."""
    names = {id(schema): name for name, schema in schemas.COMPONENTS.items()}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _referred(_operation(endpoint), names)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    components = {
        name: _referred(schema, names, top=id(schema))
        for name, schema in schemas.COMPONENTS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Wharf API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR, **components},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
