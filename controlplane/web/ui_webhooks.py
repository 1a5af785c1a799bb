"""The admin UI's webhooks screen: a site's webhooks with their recent deliveries, added with
the secret shown once (with a copy button), tested, removed; and one webhook's delivery log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from controlplane.errors import NotFound, WharfError
from controlplane.models import WEBHOOK_EVENTS, User
from controlplane.web.inputs import read_form, url_number
from controlplane.web.keys import SETTINGS, services
from controlplane.web.ui_common import Routes, redirect, signed_in, ui_page

# What each event means, in the add form's words.
EVENT_LABELS = {
    "site.down": "The site goes down",
    "site.recovered": "It is back up",
    "deploy.rolled_back": "Wharf rolled a deploy back by itself",
    "certificate.expiring": "A TLS certificate expires within 14 days",
    "webhook.test": "A test someone sends",
}
# Deliveries the screen shows under each webhook, and a log page shows.
RECENT = 5
LOG_PAGE = 25


def _seconds(delay: float) -> str:
    """A delay in the unit a person says it in: 10 seconds, 2 minutes, 1 hour."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if delay >= size and delay % size == 0:
            count = int(delay // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{delay:g} second{'' if delay == 1 else 's'}"


def retry_schedule(delays: tuple[float, ...]) -> str:
    """When a failed delivery is tried again, in words ("after 10 seconds, … and 1 hour")."""
    if not delays:
        return "never (this Wharf makes one attempt)"
    words = [_seconds(delay) for delay in delays]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"after {listed}"


async def _webhooks_page(
    request: web.Request, user: User, status: int = 200, **context: Any
) -> web.Response:
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    webhooks = services(request).webhooks
    hooks = await webhooks.list(user, name)
    recent = {
        hook.id: (await webhooks.deliveries(user, name, hook.id, None, RECENT)) for hook in hooks
    }
    values = {
        "user": user,
        "site": site,
        "webhooks": hooks,
        "recent": recent,
        "events": WEBHOOK_EVENTS,
        "labels": EVENT_LABELS,
        "chosen": list(WEBHOOK_EVENTS),
        "hook_url": "",  # not `url`: the templates' url() names static files
        "error": None,
        "created": None,
        "notice": request.query.get("notice"),
        "tested": url_number(request.query.get("webhook")),
        "schedule": retry_schedule(request.app[SETTINGS].webhook_retry_delays),
    }
    return ui_page(request, "webhooks.html", {**values, **context}, status)


async def webhooks_page(request: web.Request) -> web.Response:
    """A site's webhooks and what was sent to each lately."""
    return await _webhooks_page(request, await signed_in(request))


async def add_webhook(request: web.Request) -> web.Response:
    """Add a webhook and show its secret, this once; or the form again with the reason."""
    user = await signed_in(request)
    form = await read_form(request)
    name = request.match_info["site"]
    url = form.get("url")
    chosen = [value for value in form.getall("events", []) if isinstance(value, str)]
    if not chosen:
        shown = url if isinstance(url, str) else ""
        error = "choose at least one event to send"
        return await _webhooks_page(request, user, 422, error=error, hook_url=shown, chosen=chosen)
    try:
        hook, secret = await services(request).webhooks.create(user, name, url, chosen)
    except NotFound:
        raise  # the site: the 404 page
    except WharfError as exc:
        shown = url if isinstance(url, str) else ""
        return await _webhooks_page(
            request, user, 422, error=exc.message, hook_url=shown, chosen=chosen
        )
    created = {"id": hook.id, "url": hook.url, "secret": secret.reveal()}
    return await _webhooks_page(request, user, 201, created=created)


def _webhook_id(request: web.Request) -> int | None:
    return url_number(request.match_info["webhook"])


async def test_webhook(request: web.Request) -> web.Response:
    """Queue a test delivery; the screen shows it under the webhook."""
    user = await signed_in(request)
    name = request.match_info["site"]
    hook = await services(request).webhooks.get(user, name, _webhook_id(request))
    await services(request).webhooks.test(user, name, hook.id)
    return redirect(f"/sites/{name}/webhooks?notice=tested&webhook={hook.id}#webhook-{hook.id}")


async def remove_webhook(request: web.Request) -> web.Response:
    """Remove a webhook; the screen says it is gone (never its URL in a link: it may be a
    secret, as Slack's are)."""
    user = await signed_in(request)
    name = request.match_info["site"]
    await services(request).webhooks.delete(user, name, _webhook_id(request))
    return redirect(f"/sites/{name}/webhooks?notice=removed")


async def deliveries_page(request: web.Request) -> web.Response:
    """One webhook's delivery log, a page at a time, newest first."""
    user = await signed_in(request)
    name = request.match_info["site"]
    site = await services(request).sites.get(user, name)
    hook = await services(request).webhooks.get(user, name, _webhook_id(request))
    before = url_number(request.query.get("before"))
    log = await services(request).webhooks.deliveries(user, name, hook.id, before, LOG_PAGE)
    context = {
        "user": user,
        "site": site,
        "webhook": hook,
        "log": log,
        "before": before,
        "schedule": retry_schedule(request.app[SETTINGS].webhook_retry_delays),
    }
    return ui_page(request, "webhook_deliveries.html", context)


ROUTES: Routes = (
    ("GET", "/sites/{site}/webhooks", webhooks_page),
    ("POST", "/sites/{site}/webhooks", add_webhook),
    ("GET", "/sites/{site}/webhooks/{webhook}", deliveries_page),
    ("POST", "/sites/{site}/webhooks/{webhook}/test", test_webhook),
    ("POST", "/sites/{site}/webhooks/{webhook}/remove", remove_webhook),
)
