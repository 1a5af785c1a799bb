"""What every admin UI page shares: rendering with the UI's headers, redirects, the signed-in
user, the theme, and answering a service's NotFound with the UI's 404 page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from controlplane.errors import NotFound
from controlplane.models import User
from controlplane.names import safe_next
from controlplane.web.pages import page
from controlplane.web.ui_session import UI_HEADERS, ui_user
from controlplane.web.ui_theme import theme_of

# A screen's routes: (method, path, handler).
Routes = tuple[tuple[str, str, Any], ...]


def ui_page(
    request: web.Request, name: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A UI page with the UI's security headers."""
    shared = {"user": None, "theme": theme_of(request), "here": _here(request)}
    response = page(request, name, {**shared, **context}, status)
    response.headers.update(UI_HEADERS)
    return response


def _here(request: web.Request) -> str:
    """The page to come back to after choosing a theme: this one, or for a page a form's POST
    answered (which a GET would not find), the page the form was on."""
    if request.method == "GET":
        return request.path_qs
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc != request.host:
        return "/sites"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""), "/sites")


def redirect(location: str) -> web.Response:
    """A 303 to a page of the UI, with its headers."""
    return web.Response(status=303, headers={"Location": location, **UI_HEADERS})


async def signed_in(request: web.Request) -> User:
    """The signed-in user; otherwise a redirect to the sign-in page that comes back here."""
    user = await ui_user(request)
    if user is None:
        raise web.HTTPSeeOther(f"/sign-in?next={quote(request.path_qs, safe='')}")
    return user


def showing_not_found(handler: Handler) -> Handler:
    """The handler, with a NotFound from its services answered by the UI's 404 page: another
    member's site, deploy or token looks exactly like one that does not exist."""

    async def page_or_not_found(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFound:
            return ui_page(request, "ui_not_found.html", {"user": await ui_user(request)}, 404)

    return page_or_not_found
