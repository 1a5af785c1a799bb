"""The composition root: create_app(settings) wires the store, services and routes together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from controlplane.accounts import Accounts
from controlplane.config import Settings
from controlplane.database import open_store
from controlplane.secrets import Secret, derive_key, load_or_create_secret_key
from controlplane.sites import Sites
from controlplane.web.api import add_routes
from controlplane.web.keys import ACCOUNTS, SETTINGS, SITES, STORE
from controlplane.web.middleware import errors, observe

# Bodies of JSON API calls are small; uploads (a later route) set their own limit.
MAX_JSON_BODY = 1024 * 1024


def secret_key_for(settings: Settings) -> Secret:
    """The configured secret key, or the one generated once into the data directory."""
    return settings.secret_key or load_or_create_secret_key(settings.data_dir)


def create_app(settings: Settings) -> web.Application:
    """The control plane application; resources open on startup and close on cleanup."""
    app = web.Application(middlewares=[observe, errors], client_max_size=MAX_JSON_BODY)
    app[SETTINGS] = settings

    async def resources(app: web.Application) -> AsyncIterator[None]:
        signing_key = derive_key(secret_key_for(settings), "jwt")
        async with open_store(settings) as store:
            app[STORE] = store
            app[ACCOUNTS] = Accounts(
                store,
                signing_key,
                access_token_ttl=settings.access_token_ttl,
                max_failures=settings.login_max_failures,
                failure_window=settings.login_window,
            )
            app[SITES] = Sites(store)
            yield

    app.cleanup_ctx.append(resources)
    add_routes(app)
    return app
