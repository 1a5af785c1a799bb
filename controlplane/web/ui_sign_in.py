"""Signing in with a provider: /auth/<provider>/start sends the browser off with a flow cookie,
/auth/<provider>/callback brings it back (signed in, an identity linked, or a gate's visitor
handed back to the site); every refusal is a page that says what happened and what to do."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.accounts.external_sign_in import Purpose
from controlplane.errors import RateLimited, WharfError
from controlplane.models import User
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import client_address
from controlplane.web.ui_common import Routes, ui_page
from controlplane.web.ui_session import set_session_cookie, ui_user

FLOW_COOKIE = "wharf_oauth"
_FLOW_PATH = "/auth/"
# Where each purpose's "try again" link leads.
_AGAIN: dict[Purpose, str | None] = {"sign_in": "/sign-in", "link": "/account", "gate": None}


def _problem(
    request: web.Request, exc: WharfError, again: str | None, user: User | None = None
) -> web.Response:
    """The page for a sign-in that did not work: what happened, and where to try again."""
    status = exc.status if exc.status in (403, 404, 409, 429, 502) else 400
    message = exc.message
    if isinstance(exc, RateLimited):
        message = f"too many failed sign-ins; try again in {exc.retry_after} seconds"
    context = {"user": user, "message": message, "code": exc.code, "again": again}
    response = ui_page(request, "auth_problem.html", context, status)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    response.del_cookie(FLOW_COOKIE, path=_FLOW_PATH)
    return response


def _address(request: web.Request) -> str:
    return client_address(request, request.app[SETTINGS].trusted_proxies)


async def start(request: web.Request) -> web.Response:
    """Off to the provider: the flow's secrets go in a short-lived cookie on this host."""
    provider = request.match_info["provider"]
    ticket = request.query.get("gate")
    user = await ui_user(request)
    purpose: Purpose = "gate" if ticket else "link" if request.query.get("link") else "sign_in"
    try:
        wants_orgs = False
        if ticket:
            gate = await services(request).gates.ticket_gate(ticket)
            wants_orgs = any(entry.startswith("github:") for entry in gate.allowed)
        elif purpose == "link" and user is None:
            raise web.HTTPSeeOther("/sign-in?next=/account")
        url, cookie = await services(request).sign_in.start(
            provider,
            purpose,
            request.query.get("next"),
            _address(request),
            actor=user if purpose == "link" else None,
            gate_ticket=ticket,
            wants_orgs=wants_orgs,
        )
    except WharfError as exc:
        if not isinstance(exc, RateLimited):
            await services(request).sign_in.refused(provider, exc, _address(request))
        return _problem(request, exc, _AGAIN[purpose], user)
    response = web.Response(status=303, headers={"Location": url, "Cache-Control": "no-store"})
    response.set_cookie(
        FLOW_COOKIE,
        cookie,
        path=_FLOW_PATH,
        max_age=600,
        httponly=True,
        # Lax: the provider's redirect back is a top-level GET from another site.
        samesite="Lax",
        secure=request.secure or None,
    )
    return response


async def callback(request: web.Request) -> web.Response:
    """Back from the provider: check the answer, then sign in, link, or admit to a gate."""
    sign_in = services(request).sign_in
    provider = request.match_info["provider"]
    cookie = request.cookies.get(FLOW_COOKIE)
    address = _address(request)
    purpose = sign_in.flow_purpose(cookie)
    try:
        finished = await sign_in.finish(provider, request.query, cookie, address)
        purpose = finished.purpose
        if purpose == "gate":
            location = await services(request).gates.admit_oauth(
                finished.gate_ticket, finished.account
            )
            response = web.Response(status=303, headers={"Location": location})
        else:
            if purpose == "link":
                await sign_in.link(finished)
                next_path = "/account?notice=linked"
            else:
                token = await sign_in.sign_in(finished.account, address)
                next_path = finished.next_path
            # A page, not a redirect: the session cookie is SameSite=Strict, and a browser
            # does not send it on a redirect chain that a provider's site started.
            response = ui_page(request, "auth_continue.html", {"next": next_path, "user": None})
            if purpose == "sign_in":
                set_session_cookie(response, request, token)
    except WharfError as exc:
        if not isinstance(exc, RateLimited):
            await sign_in.refused(provider, exc, address)
        return _problem(request, exc, _AGAIN[purpose], await ui_user(request))
    response.del_cookie(FLOW_COOKIE, path=_FLOW_PATH)
    response.headers["Cache-Control"] = "no-store"
    return response


def providers_view(request: web.Request) -> list[dict[str, Any]]:
    """The configured providers as the admin screen shows them (never a secret)."""
    sign_in = services(request).sign_in
    return [
        {
            "key": config.key,
            "label": config.label,
            "client_id": config.client_id,
            "issuer": config.issuer,
            "callback": sign_in.redirect_uri(config.key),
        }
        for config in sign_in.providers
    ]


ROUTES: Routes = (
    ("GET", "/auth/{provider}/start", start),
    ("GET", "/auth/{provider}/callback", callback),
)
