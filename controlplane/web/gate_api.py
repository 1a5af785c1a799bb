"""Gate handlers: the owners' API, Traefik's forwardAuth check, and the visitors' login page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web

from controlplane.gates.gate_service import (
    BIND_COOKIE,
    CHECK_PATH,
    COOKIE_NAME,
    LOGIN_PATH,
    OAUTH_DONE_PATH,
    OAUTH_START_PATH,
    TICKET_SECONDS,
)
from controlplane.models import Gate, GateCookie
from controlplane.names import PASSWORD_MAX, safe_next
from controlplane.web import schemas
from controlplane.web.callers import check_site_access, current_user
from controlplane.web.inputs import read_form, read_json_object
from controlplane.web.keys import SETTINGS, services
from controlplane.web.middleware import client_address
from controlplane.web.openapi import Answer, Endpoint
from controlplane.web.pages import page
from controlplane.web.routing_status import routed_json

# The login page is the only HTML here: nothing may frame it, nothing is cached, no referrer leaks.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def gate_json(environment: str, gate: Gate | None) -> dict[str, Any]:
    """A gate as the API shows it: mode and usernames, never a password or a hash."""
    return {
        "environment": environment,
        "mode": gate.mode if gate else "none",
        "users": list(gate.usernames) if gate else [],
        "allowed": list(gate.allowed) if gate else [],
        "updated_at": gate.updated_at.isoformat() if gate else None,
    }


async def get_gates(request: web.Request) -> web.Response:
    """Each environment's gate."""
    gates = await services(request).gates.list(
        await current_user(request), request.match_info["site"]
    )
    return web.json_response(
        {
            "gates": {
                environment: gate_json(environment, gate) for environment, gate in gates.items()
            }
        }
    )


async def put_gate(request: web.Request) -> web.Response:
    """Set (or, with mode none, remove) the gate of one environment."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    environment = body.get("environment")
    gate = await services(request).gates.set(
        actor,
        request.match_info["site"],
        environment,
        body.get("mode"),
        users=body.get("users"),
        password=body.get("password"),
        allowed=body.get("allowed"),
    )
    return await routed_json(request, gate_json(str(environment), gate))


async def share_gate(request: web.Request) -> web.Response:
    """A link that opens a password-gated environment for a while."""
    actor = await current_user(request)
    await check_site_access(request, actor)
    body = await read_json_object(request)
    url, expires_at = await services(request).gates.share(
        actor,
        request.match_info["site"],
        body.get("environment"),
        body.get("expires_in"),
        deploy_id=body.get("deploy_id"),
        hostname=body.get("hostname"),
    )
    return web.json_response({"url": url, "expires_at": expires_at.isoformat()})


def _set_cookie(response: web.StreamResponse, cookie: GateCookie) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie.value,
        max_age=cookie.max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=cookie.secure or None,
    )


def _https(request: web.Request) -> bool:
    return request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _gate_cookies(request: web.Request) -> list[str]:
    """Every `wharf_gate` value in the Cookie headers (request.cookies keeps only one)."""
    values = []
    for header in request.headers.getall(hdrs.COOKIE, []):
        for pair in header.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name == COOKIE_NAME:
                values.append(value.strip().strip('"'))
    return values


async def gate_check(request: web.Request) -> web.Response:
    """Traefik's forwardAuth: 200 lets the request through; the 302 and 403 reach the visitor."""
    decision = await services(request).gates.check(
        request.match_info["site"],
        request.match_info["environment"],
        request.headers.get("X-Forwarded-Host", ""),
        request.headers.get("X-Forwarded-Uri", "/"),
        _https(request),
        _gate_cookies(request),
    )
    headers = {"Cache-Control": "no-store"}
    if decision.outcome == "allow":
        return web.Response(text="ok", headers=headers)
    if decision.outcome == "deny":
        return web.Response(status=403, text="forbidden", headers=headers)
    assert decision.location is not None
    response = web.Response(status=302, headers={**headers, "Location": decision.location})
    if decision.cookie is not None:
        _set_cookie(response, decision.cookie)
    return response


def _page(
    request: web.Request,
    status: int,
    host: str,
    next_path: str = "/",
    error: str | None = None,
    extra: dict[str, str] | None = None,
    mode: str = "password",
) -> web.Response:
    """The login form, or for an oauth gate the providers' buttons (or a short notice when
    there is no gate), from templates/."""
    if status == 404:
        response = page(request, "gate_not_found.html", {}, status)
    else:
        context = {
            "host": host,
            "next_path": next_path,
            "error": error,
            "login_path": LOGIN_PATH,
            "password_max": PASSWORD_MAX,
            "mode": mode,
            "providers": services(request).sign_in.providers if mode == "oauth" else [],
            "oauth_path": OAUTH_START_PATH,
        }
        response = page(request, "gate_login.html", context, status)
    response.headers.update({**_PAGE_HEADERS, **(extra or {})})
    return response


async def gate_login_form(request: web.Request) -> web.Response:
    """The login page on a password-gated host (Traefik routes /.wharf/ there to us)."""
    host = request.headers.get(hdrs.HOST, "")
    found = await services(request).gates.login_gate(host)
    if found is None:
        return _page(request, 404, host)
    next_path = safe_next(request.query.get("next"))
    return _page(request, 200, found[0], next_path, mode=found[2].mode)


async def gate_login(request: web.Request) -> web.Response:
    """Check the password: the cookie and a redirect, the form again, or 429 after failures."""
    host = request.headers.get(hdrs.HOST, "")
    form = await read_form(request)
    password, next_path = form.get("password"), safe_next(form.get("next"))
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    result = await services(request).gates.login(
        host, _https(request), password, next_path, address
    )
    shown = host.partition(":")[0].lower()
    if result.outcome == "unknown":
        return _page(request, 404, shown)
    if result.outcome == "limited":
        return _page(
            request,
            429,
            shown,
            next_path,
            f"Too many wrong passwords. Try again in {result.retry_after} seconds.",
            {"Retry-After": str(result.retry_after)},
        )
    if result.outcome == "wrong":
        return _page(request, 403, shown, next_path, "That password is not right.")
    assert result.cookie is not None
    # 303: the browser follows with a GET, so a reload does not post the password again.
    response = web.Response(
        status=303, headers={"Location": result.location, "Cache-Control": "no-store"}
    )
    _set_cookie(response, result.cookie)
    return response


async def gate_oauth_start(request: web.Request) -> web.Response:
    """On an oauth-gated host: a binding cookie here, then off to the control plane's
    provider sign-in with a ticket naming this host and gate."""
    host = request.headers.get(hdrs.HOST, "")
    https = _https(request)
    found = await services(request).gates.oauth_ticket(host, https, request.query.get("next"))
    if found is None:
        return _page(request, 404, host)
    ticket, binding = found
    provider = request.match_info["provider"]
    browser_url = request.app[SETTINGS].browser_url
    location = f"{browser_url}/auth/{quote(provider, safe='')}/start?gate={quote(ticket, safe='')}"
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    response.set_cookie(
        BIND_COOKIE,
        binding,
        path=OAUTH_DONE_PATH,
        max_age=TICKET_SECONDS,
        httponly=True,
        samesite="Lax",  # sent on the top-level GET back from the control plane
        secure=https or None,
    )
    return response


async def gate_oauth_done(request: web.Request) -> web.Response:
    """Back on the gated host with a hand-off token: the gate cookie, and on to the page."""
    host = request.headers.get(hdrs.HOST, "")
    result = await services(request).gates.finish_oauth(
        host, _https(request), request.query.get("token"), request.cookies.get(BIND_COOKIE)
    )
    shown = host.partition(":")[0].lower()
    if result.outcome != "ok":
        found = await services(request).gates.login_gate(host)
        if found is None:
            return _page(request, 404, shown)
        error = "That sign-in did not finish in this browser, or took too long. Sign in again."
        return _page(request, 403, shown, "/", error, mode=found[2].mode)
    assert result.cookie is not None
    response = web.Response(
        status=303, headers={"Location": result.location, "Cache-Control": "no-store"}
    )
    _set_cookie(response, result.cookie)
    response.del_cookie(BIND_COOKIE, path=OAUTH_DONE_PATH)
    return response


_GATE = {
    "type": "object",
    "required": ["environment", "mode"],
    "properties": {
        "environment": {"type": "string", "enum": ["production", "staging", "previews"]},
        "mode": {"type": "string", "enum": ["none", "basic", "password", "oauth"]},
        "users": {
            "type": "array",
            "maxItems": 50,
            "description": "basic: the users; a user sent without password keeps its hash",
            "items": {
                "type": "object",
                "required": ["username"],
                "properties": {
                    "username": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                    "password": {"type": "string", "minLength": 8, "maxLength": 72},
                },
            },
        },
        "password": {
            "type": "string",
            "minLength": 8,
            "maxLength": 1024,
            "description": "password: the visitors' password",
        },
        "allowed": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "description": "oauth: who may pass once signed in with a provider: emails,"
            " @domains and github:org entries",
            "items": {"type": "string", "maxLength": 254},
        },
    },
    "examples": [
        {"environment": "staging", "mode": "password", "password": "preview-for-the-client"},
        {
            "environment": "production",
            "mode": "basic",
            "users": [{"username": "team", "password": "a long passphrase"}],
        },
        {"environment": "staging", "mode": "oauth", "allowed": ["@example.com"]},
        {"environment": "staging", "mode": "none"},
    ],
}
_SHARE = {
    "type": "object",
    "required": ["environment", "expires_in"],
    "properties": {
        "environment": {"type": "string", "enum": ["production", "staging", "previews"]},
        "expires_in": {"type": "integer", "minimum": 1, "maximum": 2592000},
        "deploy_id": {"type": "string", "description": "previews: which deploy's host"},
        "hostname": {"type": "string", "description": "a verified custom domain instead"},
    },
}

GATE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/api/v1/sites/{site}/gate",
        get_gates,
        "Each environment's gate (no secrets)",
        response=schemas.GATES,
    ),
    Endpoint(
        "PUT",
        "/api/v1/sites/{site}/gate",
        put_gate,
        "Set an environment's gate: none, basic (users), password, or oauth (allowed list)",
        request_body=_GATE,
        responses={409: "oauth, while no sign-in provider is configured"},
        response=schemas.routed(schemas.GATE),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/{site}/gate/share",
        share_gate,
        "A share link opening a password- or oauth-gated environment until it expires",
        request_body=_SHARE,
        responses={409: "the environment has no password or oauth gate"},
        response=schemas.SHARE,
    ),
    Endpoint(
        "GET",
        CHECK_PATH + "/{site}/{environment}",
        gate_check,
        "Traefik forwardAuth check of a password or oauth gate (200; 302 to the login page, or with"
        " the cookie for a share link; 403)",
        "public",
        content_type="text/plain",
        responses={
            302: Answer("to the login page, or on with the cookie of a share link", None),
            403: Answer("no valid cookie, and no login page to send the visitor to", "text/plain"),
        },
    ),
    Endpoint(
        "GET",
        LOGIN_PATH,
        gate_login_form,
        "The login page of a password- or oauth-gated host (HTML: a form, or sign-in buttons)",
        "public",
        content_type="text/html",
        responses={404: Answer("no password or oauth gate on this host (HTML)", "text/html")},
    ),
    Endpoint(
        "GET",
        OAUTH_START_PATH + "/{provider}",
        gate_oauth_start,
        "On an oauth-gated host: 303 to the control plane's provider sign-in, with a ticket",
        "public",
        status=303,
        content_type=None,
        responses={404: Answer("no oauth gate on this host (HTML)", "text/html")},
    ),
    Endpoint(
        "GET",
        OAUTH_DONE_PATH,
        gate_oauth_done,
        "Back on an oauth-gated host with a hand-off token: 303 on, with the gate cookie",
        "public",
        status=303,
        content_type=None,
        responses={
            403: Answer("no valid hand-off for this browser (the sign-in page)", "text/html"),
            404: Answer("no oauth gate on this host (HTML)", "text/html"),
        },
    ),
    Endpoint(
        "POST",
        LOGIN_PATH,
        gate_login,
        "Log in to a password-gated host (form: password, next); 303 with the cookie",
        "public",
        status=303,
        content_type=None,
        responses={
            400: "the body is not a readable form",
            403: Answer("wrong password (the form again)", "text/html"),
            404: Answer("no password gate on this host", "text/html"),
            422: "a field holds a NUL character",
            429: Answer("too many failures (Retry-After; the form again)", "text/html"),
        },
    ),
)
