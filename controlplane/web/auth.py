"""Who is calling: the bearer token of a request turned into a user."""

from __future__ import annotations

from aiohttp import web

from controlplane.errors import Unauthorized
from controlplane.models import User
from controlplane.web.keys import ACCOUNTS


async def current_user(request: web.Request) -> User:
    """The authenticated caller; Unauthorized without a valid bearer token."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("a bearer token is required", code="missing_token")
    return await request.app[ACCOUNTS].authenticate(credentials.strip())
