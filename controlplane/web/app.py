"""The web application: the services of `controlplane.services` behind the API and the pages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from controlplane.config import Settings
from controlplane.services import Services, open_services, run_background
from controlplane.web.inputs import checked_input
from controlplane.web.keys import SERVICES, SETTINGS
from controlplane.web.middleware import errors, observe
from controlplane.web.pages import setup_pages, templates_dir
from controlplane.web.routes import add_routes
from controlplane.web.routing_status import check_wait
from controlplane.web.ui_pages import add_ui_routes
from controlplane.web.ui_session import ui_guard

# Bodies of JSON API calls are small; uploads stream past this limit with their own.
MAX_JSON_BODY = 1024 * 1024


def create_app(settings: Settings, services: Services | None = None) -> web.Application:
    """The control plane application over these services, or over its own opened on startup
    (closed on cleanup); its background work starts with it and stops with it."""
    app = web.Application(
        middlewares=[observe, errors, ui_guard, checked_input, check_wait],
        client_max_size=MAX_JSON_BODY,
    )
    app[SETTINGS] = settings
    setup_pages(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as opened:
            if services is None:
                app[SERVICES] = await opened.enter_async_context(open_services(settings))
            else:
                app[SERVICES] = services
            await app[SERVICES].live_pointers.reconcile()
            stop = asyncio.Event()
            background = asyncio.create_task(
                run_background(app[SERVICES], stop, build=settings.worker)
            )
            yield
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await background

    app.cleanup_ctx.append(resources)
    add_routes(app)
    add_ui_routes(app, templates_dir() / "static")
    return app
