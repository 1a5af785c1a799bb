"""The OpenAPI 3.1 document, built from the endpoint table so it cannot drift from the routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from controlplane.web.middleware import Handler

Access = Literal["public", "user", "admin"]


@dataclass(frozen=True)
class Endpoint:
    """A route with what the OpenAPI document says of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    access: Access = "user"
    status: int = 200
    request_body: dict[str, Any] | None = None
    responses: dict[int, str] = field(default_factory=dict)


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
    responses: dict[str, Any] = {str(endpoint.status): {"description": "success"}}
    errors = dict(_STANDARD_ERRORS[endpoint.access])
    if endpoint.request_body:
        errors |= {400: "body is not a JSON object", 413: "body too large", 422: "invalid input"}
    for status, text in {**errors, **endpoint.responses}.items():
        responses[str(status)] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if endpoint.access != "public":
        operation["security"] = [{"bearer": []}]
    if endpoint.request_body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": endpoint.request_body}},
        }
    return operation


def build_openapi(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The whole document for the given endpoints."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Wharf API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
