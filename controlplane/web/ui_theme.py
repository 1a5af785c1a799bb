"""The admin UI's theme: light, dark or auto (the browser's preference), kept in a cookie the
pages read before they are rendered, so the scheme is right from the first paint."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web

from controlplane.names import safe_next
from controlplane.web.inputs import read_form
from controlplane.web.ui_session import UI_HEADERS

THEME_COOKIE = "wharf_theme"
Theme = Literal["auto", "light", "dark"]
_THEMES: tuple[Theme, ...] = ("auto", "light", "dark")
_YEAR = 365 * 24 * 3600


def theme_of(request: web.Request) -> Theme:
    """The theme the cookie chose; auto when there is none or it names no theme."""
    chosen = request.cookies.get(THEME_COOKIE)
    return next((theme for theme in _THEMES if theme == chosen), "auto")


async def set_theme(request: web.Request) -> web.Response:
    """Keep the chosen theme (auto forgets it) and go back to the page it was chosen on."""
    form = await read_form(request)
    chosen = form.get("theme")
    response = web.Response(
        status=303, headers={"Location": safe_next(form.get("next")), **UI_HEADERS}
    )
    if chosen == "auto":
        response.del_cookie(THEME_COOKIE, path="/")
    elif chosen in _THEMES:
        # Not HttpOnly: it holds no secret. Lax: a link from elsewhere still shows the theme.
        response.set_cookie(
            THEME_COOKIE,
            str(chosen),
            path="/",
            max_age=_YEAR,
            samesite="Lax",
            secure=request.secure or None,
        )
    else:
        raise web.HTTPUnprocessableEntity(text="theme is auto, light or dark", headers=UI_HEADERS)
    return response


ROUTES: tuple[tuple[str, str, Any], ...] = (("POST", "/theme", set_theme),)
