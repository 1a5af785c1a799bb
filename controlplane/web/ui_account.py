"""The admin UI's account screen: change the password; API tokens (created and shown once,
listed, revoked); the provider identities it signs in with (connect, unlink)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.errors import WharfError
from controlplane.models import User
from controlplane.web.inputs import read_form, url_number
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import client_address
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page
from controlplane.web.ui_session import COOKIE


async def _account(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    sign_in = services(request).sign_in
    identities = await sign_in.identities(user)
    labels = {config.key: config.label for config in sign_in.providers}
    values = {
        "user": user,
        "tokens": await services(request).accounts.list_tokens(user),
        "identities": [
            (identity, labels.get(identity.provider, identity.provider)) for identity in identities
        ],
        "providers": sign_in.providers,
        "has_password": await services(request).accounts.has_password(user),
        "new_token": None,
        "error": None,
        "notice": None,
    }
    return ui_page(request, "account.html", {**values, **context}, status)


async def account_page(request: web.Request) -> web.Response:
    """The account: change the password; API tokens (create, list, revoke)."""
    user = await signed_in(request)
    return await _account(request, user, notice=request.query.get("notice"))


async def change_password(request: web.Request) -> web.Response:
    """Change the password; every session ends with it, so back to the sign-in page."""
    user = await signed_in(request)
    form = await read_form(request)
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    try:
        await services(request).accounts.change_password(
            user, form.get("current_password"), form.get("new_password"), address
        )
    except WharfError as exc:
        return await _account(request, user, 422 if exc.status < 500 else 500, error=exc.message)
    response = redirect("/sign-in?changed=1")
    response.del_cookie(COOKIE, path="/")
    return response


async def create_token(request: web.Request) -> web.Response:
    """Create an API token and show it, this once."""
    user = await signed_in(request)
    form = await read_form(request)
    try:
        token, text = await services(request).accounts.create_token(user, form.get("name"))
    except WharfError as exc:
        return await _account(request, user, 422, error=exc.message)
    return await _account(request, user, 201, new_token={"name": token.name, "text": text})


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke one of the user's API tokens."""
    user = await signed_in(request)
    raw = request.match_info["token_id"]
    token_id = url_number(raw) or -1  # not a number: no such token
    await services(request).accounts.delete_token(user, token_id)
    return redirect("/account?notice=revoked")


async def unlink_identity(request: web.Request) -> web.Response:
    """Unlink one of the user's identities (never their last way to sign in)."""
    user = await signed_in(request)
    identity_id = url_number(request.match_info["identity_id"]) or -1
    try:
        await services(request).sign_in.unlink(user, identity_id)
    except WharfError as exc:
        return await _account(request, user, exc.status, error=exc.message)
    return redirect("/account?notice=unlinked")


ROUTES: Routes = (
    ("GET", "/account", account_page),
    ("POST", "/account/password", change_password),
    ("POST", "/account/tokens", create_token),
    ("POST", "/account/tokens/{token_id}/revoke", revoke_token),
    ("POST", "/account/identities/{identity_id}/unlink", unlink_identity),
)
