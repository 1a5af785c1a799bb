"""The admin UI's own session and its guards: a host-only cookie separate from the API's
bearer tokens, a same-origin check on every unsafe request that carries it, and the security
headers every UI page is sent with."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from controlplane.models import User
from controlplane.web.keys import services

COOKIE = "wharf_session"
_USER = web.RequestKey("ui_user", User)
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# No inline script or style anywhere: the pages load /static/ files only.
UI_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def set_session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    """The session cookie: host-only, HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(
        COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure or None,
    )


async def ui_user(request: web.Request) -> User | None:
    """The signed-in user of this request (the session looked up once), or None."""
    if _USER in request:
        return request[_USER]
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    user = await services(request).accounts.session_user(token)
    if user is not None:
        request[_USER] = user
    return user


def same_origin(request: web.Request) -> bool:
    """Whether the browser says the request comes from this origin: Sec-Fetch-Site, else an
    Origin naming this host. Same-site is not enough: every user site is a sibling subdomain."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return False
    return origin.partition("://")[2] == request.host


@web.middleware
async def ui_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a cross-origin unsafe request to the UI, or one that carries the session cookie
    anywhere (CSRF). The UI's forms include signing in (another site must not sign a visitor
    in to its own account) and the theme; API calls with a token and no cookie pass, and so do
    a gate's forms, which live on the site's own host."""
    browser_form = not request.path.startswith(("/api/", "/.wharf/"))
    guarded = COOKIE in request.cookies or browser_form
    if request.method in _UNSAFE and guarded and not same_origin(request):
        return web.Response(
            status=403,
            text="This form came from another site; Wharf refused it.",
            headers=UI_HEADERS,
        )
    return await handler(request)
