"""A deploy's build log as server-sent events, for the admin UI's deploy page and for
`wharf logs --follow` alike: one event a line (its number as the id), from after Last-Event-ID
on a reconnect (or ?after=), until the deploy has settled; then a `done` event with its status."""

from __future__ import annotations

import asyncio

from aiohttp import web

from controlplane.models import Deploy, User
from controlplane.web.inputs import url_number
from controlplane.web.keys import services

# How often the stream looks for new lines while a deploy builds.
LOG_POLL_SECONDS = 0.5


async def stream_log(
    request: web.Request, user: User, deploy: Deploy, headers: dict[str, str]
) -> web.StreamResponse:
    """Send the deploy's log lines as they are written, then `done`."""
    given = [request.headers.get("Last-Event-ID", ""), request.query.get("after", "")]
    sent = max([number for value in given if (number := url_number(value)) is not None] or [0])
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", **headers}
    )
    await response.prepare(request)
    deploys = services(request).deploys

    async def send_new_lines() -> None:
        nonlocal sent
        for line in await deploys.log(user, deploy.site_name, deploy.id):
            if line.line_no > sent:
                text = line.text.replace("\r", " ").replace("\n", " ")
                await response.write(f"id: {line.line_no}\ndata: {text}\n\n".encode())
                sent = line.line_no

    while True:
        current = await deploys.get(user, deploy.site_name, deploy.id)
        await send_new_lines()
        if await deploys.settled(current):
            # The worker logs "published" just after the publish commits: one more look, so
            # the stream does not end a moment before the line that says what happened.
            await asyncio.sleep(LOG_POLL_SECONDS)
            await send_new_lines()
            await response.write(f"event: done\ndata: {current.status}\n\n".encode())
            return response
        await asyncio.sleep(LOG_POLL_SECONDS)
