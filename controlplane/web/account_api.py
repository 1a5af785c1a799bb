"""JSON API handlers for accounts: log in, the caller's account and password, users, API tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.accounts.account_service import TOKEN_NAME_MAX
from controlplane.errors import Invalid
from controlplane.models import ApiToken, User
from controlplane.names import EMAIL, PASSWORD_MAX, PASSWORD_MIN
from controlplane.web import schemas
from controlplane.web.callers import current_user
from controlplane.web.inputs import read_json_object, url_number
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import client_address
from controlplane.web.openapi import Endpoint


def user_json(user: User) -> dict[str, Any]:
    """A user as the API shows it."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "created_at": user.created_at.isoformat(),
        "disabled": user.disabled,
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    """An API token's metadata as the API shows it."""
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


async def login(request: web.Request) -> web.Response:
    """Exchange email and password for a short-lived access token."""
    body = await read_json_object(request)
    accounts = services(request).accounts
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    token = await accounts.login(body.get("email"), body.get("password"), address)
    return web.json_response(
        {"access_token": token, "token_type": "Bearer", "expires_in": accounts.access_token_ttl}
    )


async def me(request: web.Request) -> web.Response:
    """The caller's own account."""
    return web.json_response(user_json(await current_user(request)))


async def change_password(request: web.Request) -> web.Response:
    """Change the caller's own password."""
    actor = await current_user(request)
    body = await read_json_object(request)
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    await services(request).accounts.change_password(
        actor, body.get("current_password"), body.get("new_password"), address
    )
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.Response:
    """Every user (admins only)."""
    users = await services(request).accounts.list_users(await current_user(request))
    return web.json_response({"users": [user_json(user) for user in users]})


async def create_user(request: web.Request) -> web.Response:
    """Create a user (admins only)."""
    actor = await current_user(request)
    services(request).accounts.require_admin(actor)
    body = await read_json_object(request)
    user = await services(request).accounts.create_user(
        actor, body.get("email"), body.get("password"), body.get("role", "member")
    )
    return web.json_response(user_json(user), status=201)


async def update_user(request: web.Request) -> web.Response:
    """Change a user's role, or disable or enable them (admins only)."""
    actor = await current_user(request)
    services(request).accounts.require_admin(actor)
    body = await read_json_object(request)
    raw_id = request.match_info["user_id"]
    user_id = url_number(raw_id) or -1  # no such user
    user = await services(request).accounts.update_user(
        actor, user_id, role=body.get("role"), disabled=body.get("disabled")
    )
    return web.json_response(user_json(user))


async def create_token(request: web.Request) -> web.Response:
    """Create an API token; its text is in this answer and nowhere else, ever."""
    actor = await current_user(request)
    body = await read_json_object(request)
    token, text = await services(request).accounts.create_token(actor, body.get("name"))
    return web.json_response({**token_json(token), "token": text}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    """The caller's API tokens, without their text."""
    tokens = await services(request).accounts.list_tokens(await current_user(request))
    return web.json_response({"tokens": [token_json(token) for token in tokens]})


async def delete_token(request: web.Request) -> web.Response:
    """Revoke one of the caller's API tokens."""
    actor = await current_user(request)
    raw_id = request.match_info["token_id"]
    token_id = url_number(raw_id)
    if token_id is None:
        raise Invalid("a token id is a number of at most 12 digits", code="invalid_token_id")
    await services(request).accounts.delete_token(actor, token_id)
    return web.Response(status=204)


_CREDENTIALS = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
    "examples": [{"email": "admin@example.com", "password": "a long passphrase"}],
}
_TOKEN_NAME = {"type": "string", "pattern": r"\S", "maxLength": TOKEN_NAME_MAX}
_NAMED = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _TOKEN_NAME},
    "examples": [{"name": "deploy from CI"}],
}
_NEW_USER = {
    "type": "object",
    "required": ["email", "password"],
    "properties": {
        "email": {"type": "string", "pattern": f"^{EMAIL}$"},
        "password": {"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX},
        "role": {"type": "string", "enum": ["admin", "member"], "default": "member"},
    },
}

_USER_CHANGE = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["admin", "member"]},
        "disabled": {"type": "boolean"},
    },
    "examples": [{"disabled": True}, {"role": "admin"}],
}

_PASSWORD_CHANGE = {
    "type": "object",
    "required": ["current_password", "new_password"],
    "properties": {
        "current_password": {"type": "string"},
        "new_password": {"type": "string", "minLength": 8, "maxLength": 1024},
    },
}


ACCOUNT_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        login,
        "Log in for an access token",
        "public",
        request_body=_CREDENTIALS,
        responses={401: "wrong email or password", 429: "too many failures (Retry-After)"},
        response=schemas.LOGIN,
    ),
    Endpoint(
        "GET",
        "/api/v1/me",
        me,
        "The caller's account",
        response=schemas.USER,
    ),
    Endpoint(
        "PUT",
        "/api/v1/me/password",
        change_password,
        "Change the caller's password",
        status=204,
        request_body=_PASSWORD_CHANGE,
        responses={403: "current password wrong", 429: "too many failures (Retry-After)"},
    ),
    Endpoint(
        "GET",
        "/api/v1/users",
        list_users,
        "List users",
        "admin",
        response=schemas.listing("users", schemas.USER),
    ),
    Endpoint(
        "POST",
        "/api/v1/users",
        create_user,
        "Create a user",
        "admin",
        201,
        _NEW_USER,
        {409: "exists"},
        response=schemas.USER,
    ),
    Endpoint(
        "PATCH",
        "/api/v1/users/{user_id}",
        update_user,
        "Change a user's role, or disable or enable them",
        "admin",
        request_body=_USER_CHANGE,
        responses={
            404: "no such user",
            409: "no enabled admin would be left, or it is the break-glass admin",
            422: "bad role or disabled",
        },
        response=schemas.USER,
    ),
    Endpoint(
        "GET",
        "/api/v1/tokens",
        list_tokens,
        "List the caller's API tokens",
        response=schemas.listing("tokens", schemas.TOKEN),
    ),
    Endpoint(
        "POST",
        "/api/v1/tokens",
        create_token,
        "Create an API token (shown once)",
        "user",
        201,
        _NAMED,
        response=schemas.NEW_TOKEN,
    ),
    Endpoint(
        "DELETE",
        "/api/v1/tokens/{token_id}",
        delete_token,
        "Revoke an API token",
        status=204,
        responses={422: "the token id is not a number"},
    ),
)
