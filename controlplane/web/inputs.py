"""Where request input enters: JSON bodies, forms, query strings and path parameters are read
and checked here once, for what no handler, service or database can take (a NUL character, a
lone surrogate, nesting past MAX_DEPTH, a form that is not one), so bad input is a 4xx in the
error shape and never reaches PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from controlplane.errors import Invalid, NotFound, WharfError

# Wharf's own documents nest three or four levels; a client needs no more than this.
MAX_DEPTH = 32
# What a path parameter that cannot name anything answers: the resource's own not-found code.
_NOT_FOUND = {
    "site": ("no such site", "site_not_found"),
    "deploy": ("no such deploy on this site", "deploy_not_found"),
    "hostname": ("no such domain on this site", "domain_not_found"),
    "token_id": ("no such token", "token_not_found"),
    "webhook": ("no such webhook on this site", "webhook_not_found"),
}


class BadInput(WharfError):
    """The request's body is not what it says it is (400)."""


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or compared as text: a NUL, or a lone surrogate."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def check_document(document: object, where: str = "the body") -> None:
    """Refuse a parsed JSON document nested past MAX_DEPTH or holding a string (key or value)
    that is not storable text; walked without recursion, so no depth can crash it."""
    pending: list[tuple[object, str, int]] = [(document, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BadInput(f"{where} nests deeper than {MAX_DEPTH} levels", code="invalid_json")
        if isinstance(value, str):
            _check_text(value, path or where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{path}.{key}" if path else key)
                pending.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _check_text(value: str, field: str) -> None:
    problem = text_problem(value)
    if problem is not None:
        shown = field if text_problem(field) is None else "a field"
        raise Invalid(f"{shown} {problem}", code="invalid_text", details={"field": shown})


def parse_json_text(text: str, where: str) -> object:
    """JSON text (a body, a query or form field) parsed and checked; BadInput otherwise."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise BadInput(f"{where} is not valid JSON", code="invalid_json") from None
    check_document(document, where)
    return document


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a checked JSON object; a 400 or 422 error otherwise."""
    try:
        text = await request.text()
    except (UnicodeDecodeError, LookupError):
        raise BadInput("the body is not valid JSON", code="invalid_json") from None
    body = parse_json_text(text, "the body")
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object", code="invalid_json")
    return body


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """An urlencoded or multipart form with checked text fields; 400 when it is not a form."""
    try:
        form = await request.post()
    except (
        ValueError,
        UnicodeDecodeError,
        LookupError,
        AssertionError,
        KeyError,
        HttpProcessingError,
    ):
        # aiohttp raises these for undecodable bytes, a missing or empty boundary, a part
        # without a name.
        raise BadInput("the body is not a readable form", code="invalid_form") from None
    for name, value in form.items():
        _check_text(name, "a field")
        if isinstance(value, str):
            _check_text(value, name)
    return form


@web.middleware
async def checked_input(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse path parameters and query strings that hold no storable text, before any
    handler runs: a path naming what cannot exist is that resource's 404."""
    for name, value in request.match_info.items():
        if text_problem(value) is not None:
            message, code = _NOT_FOUND.get(name, ("no such route", "not_found"))
            raise NotFound(message, code=code)
    for name, value in request.query.items():
        _check_text(name, "a query parameter")
        _check_text(value, name)
    return await handler(request)


# Digits a number in a path or query may have: ids are bigints, and no page is further.
MAX_NUMBER_DIGITS = 12


def url_number(raw: object) -> int | None:
    """A number from a path or a query: ASCII digits ("²" is a digit too), at most 12 of them
    (Python refuses over 4,300, PostgreSQL's bigint over 18); None for anything else."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= MAX_NUMBER_DIGITS:
        return int(raw)
    return None
