"""The admin UI's gates screen: each environment's gate (none, basic users or one shared
password) set with a form, and share links that let a visitor in without an account."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.errors import NotFound, WharfError
from controlplane.gates.gate_service import GATE_ENVIRONMENTS, SHARE_MAX_SECONDS
from controlplane.models import User
from controlplane.names import site_hosts
from controlplane.web.inputs import read_form
from controlplane.web.keys import SETTINGS, services
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page

# What the expiry menu offers, in seconds (the API takes any number up to 30 days).
EXPIRIES = (
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "7 days"),
    (SHARE_MAX_SECONDS, "30 days"),
)
# Which field of the form an error code belongs to; the rest go next to the mode.
_USER_CODES = {
    "users_required",
    "invalid_users",
    "invalid_username",
    "duplicate_username",
    "too_many_users",
}
_ALLOWED_CODES = {"allowed_required", "too_many_allowed", "invalid_allowed"}
_SHARE_FIELDS = {
    "invalid_expires_in": "expires",
    "invalid_deploy_id": "deploy",
    "deploy_not_found": "deploy",
}


def _text(value: object) -> str:
    """A form field's text ('' when absent or a file)."""
    return value if isinstance(value, str) else ""


def _hosts(request: web.Request, site: str) -> dict[str, str]:
    """The host (pattern) each environment's gate covers, as a visitor types it."""
    base = request.app[SETTINGS].base_domain
    hosts = {env: host or "" for env, host in site_hosts(site, base).items()}
    return {**hosts, "previews": f"<deploy-id>--{site}.{base}"}


async def _gates_page(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    gates = await services(request).gates.list(user, name)
    deploys = await services(request).deploys.for_site(user, name)
    values = {
        "user": user,
        "site": site,
        "environments": GATE_ENVIRONMENTS,
        "gates": gates,
        "hosts": _hosts(request, site.name),
        # Only deploys with files to show can have a preview link worth sharing.
        "deploys": [
            deploy
            for deploy in deploys
            if deploy.status in ("ready", "live", "superseded") and not deploy.pruned_at
        ],
        "expiries": EXPIRIES,
        "providers": services(request).sign_in.providers,
        "allowed_text": {},  # environment -> the list a refused form sent
        "saved": request.query.get("saved"),
        "errors": {},  # (environment or "share", field) -> message
        "chosen": {},  # environment -> the mode a refused form asked for
        "shared": None,
    }
    return ui_page(request, "gates.html", {**values, **context}, status)


async def gates_page(request: web.Request) -> web.Response:
    """A site's gates: each environment's mode, its users, and share links."""
    return await _gates_page(request, await signed_in(request))


def _allowed(form: Any) -> list[str]:
    """An oauth gate's list from the textarea: one entry a line (commas work too)."""
    text = _text(form.get("allowed")).replace(",", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _users(form: Any) -> list[dict[str, str]]:
    """The basic users a form asks for: the kept ones (a new password, or none to keep the
    stored hash), then the one added, if any."""
    users = []
    for username in form.getall("keep", []):
        username = _text(username)
        password = _text(form.get(f"password_for_{username}"))
        users.append({"username": username, **({"password": password} if password else {})})
    added = _text(form.get("new_username")).strip()
    if added:
        users.append({"username": added, "password": _text(form.get("new_user_password"))})
    return users


async def set_gate(request: web.Request) -> web.Response:
    """Set one environment's gate; the page again with the reason next to the field."""
    user = await signed_in(request)
    form = await read_form(request)
    name, environment = request.match_info["site"], request.match_info["environment"]
    mode = _text(form.get("mode"))
    try:
        await services(request).gates.set(
            user,
            name,
            environment,
            mode,
            users=_users(form) if mode == "basic" else None,
            password=form.get("password") if mode == "password" else None,
            allowed=_allowed(form) if mode == "oauth" else None,
        )
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        if exc.code == "invalid_environment":
            raise NotFound("no such gate") from None
        field = (
            "users"
            if exc.code in _USER_CODES or (mode == "basic" and exc.code == "invalid_password")
            else "password"
            if exc.code == "invalid_password"
            else "allowed"
            if exc.code in _ALLOWED_CODES
            else "mode"
        )
        return await _gates_page(
            request,
            user,
            422,
            errors={(environment, field): exc.message},
            chosen={environment: mode},
            allowed_text={environment: _text(form.get("allowed"))},
        )
    return redirect(f"/sites/{name}/gates?saved={environment}")


def _seconds(value: object) -> object:
    """The expiry as a number when it is one; anything else goes on for the service to refuse."""
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else text


async def share(request: web.Request) -> web.Response:
    """Make a share link and show it on the page, this once (it is not kept, and never put in
    a redirect's URL)."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    environment = _text(form.get("environment"))
    try:
        url, expires_at = await services(request).gates.share(
            user,
            name,
            environment,
            _seconds(form.get("expires_in")),
            deploy_id=(_text(form.get("deploy_id")) or None) if environment == "previews" else None,
        )
    except NotFound as exc:
        if exc.code != "deploy_not_found":
            raise  # the site: the 404 page
        return await _gates_page(request, user, 422, errors={("share", "deploy"): exc.message})
    except WharfError as exc:
        field = _SHARE_FIELDS.get(exc.code, "environment")
        status = 409 if exc.status == 409 else 422
        return await _gates_page(request, user, status, errors={("share", field): exc.message})
    shared = {"environment": environment, "url": url, "expires_at": expires_at}
    return await _gates_page(request, user, 201, shared=shared)


ROUTES: Routes = (
    ("GET", "/sites/{site}/gates", gates_page),
    ("POST", "/sites/{site}/gates/share", share),
    ("POST", "/sites/{site}/gates/{environment}", set_gate),
)
