"""Who is calling: the bearer token of a request turned into a user."""

from __future__ import annotations

from aiohttp import web

from controlplane.errors import Unauthorized
from controlplane.models import User
from controlplane.web.keys import SERVICES


async def current_user(request: web.Request) -> User:
    """The authenticated caller; Unauthorized without a valid bearer token."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("a bearer token is required", code="missing_token")
    return await request.app[SERVICES].accounts.authenticate(credentials.strip())


async def check_site_access(request: web.Request, actor: User) -> None:
    """404 unless the actor may see the path's site; called before a body is judged, so a
    stranger gets the same answer whatever they send."""
    await request.app[SERVICES].sites.get(actor, request.match_info["site"])
