"""`wharf webhooks list|add|remove|test|deliveries`: the URLs a site's alerts are POSTed to, the
secret shown once on add, a test that says how it went, and the delivery log."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import humanize

from controlplane.cli.client import CliFailure
from controlplane.cli.output import ago
from controlplane.cli.remote import Context
from controlplane.cli.resources import site_path
from controlplane.cli.site_commands import confirmed
from controlplane.models import WEBHOOK_EVENTS

# How long `wharf webhooks test` waits for the first attempt's outcome.
TEST_WAIT_SECONDS = 20.0


def _answer(delivery: dict[str, Any]) -> str:
    """What the last attempt came to, in a few words."""
    if delivery["status"] == "delivered":
        return f"answered {delivery['response_status']}"
    if delivery["last_error"]:
        return str(delivery["last_error"])
    return "not tried yet"


def _next(delivery: dict[str, Any]) -> str:
    """When the next attempt is due (— once settled)."""
    due = delivery["next_attempt_at"]
    if delivery["status"] != "pending" or not due:
        return "—"
    seconds = (datetime.fromisoformat(due) - datetime.now(UTC)).total_seconds()
    return "now" if seconds < 1 else f"in {humanize.naturaldelta(seconds)}"


def _events(hook: dict[str, Any]) -> str:
    return "all" if list(hook["events"]) == list(WEBHOOK_EVENTS) else ", ".join(hook["events"])


async def list_webhooks(ctx: Context, args: argparse.Namespace) -> None:
    """A site's webhooks and how their newest delivery went."""
    document = await ctx.client.call("GET", site_path(args.site, "webhooks"))

    def last(hook: dict[str, Any]) -> str:
        delivery = hook["last_delivery"]
        return f"{delivery['status']} {ago(delivery['created_at'])}" if delivery else "—"

    rows = [
        (str(hook["id"]), hook["url"], _events(hook), last(hook)) for hook in document["webhooks"]
    ]
    ctx.output.result(
        document,
        lambda: ctx.output.table(
            ("ID", "URL", "EVENTS", "LAST DELIVERY"),
            rows,
            f"No webhooks on {args.site} yet: add one with"
            f" `wharf webhooks add URL --site {args.site}`.",
        ),
    )


async def add_webhook(ctx: Context, args: argparse.Namespace) -> None:
    """Add a webhook; its secret alone on stdout (shown this once), the rest on stderr."""
    body: dict[str, Any] = {"url": args.webhook_url}
    if args.events:
        body["events"] = args.events
    hook = await ctx.client.call("POST", site_path(args.site, "webhooks"), body=body)

    def human() -> None:
        ctx.output.line(hook["secret"])
        ctx.output.note(
            f"Added webhook {hook['id']} to {args.site}: {_events(hook)} events go to"
            f" {hook['url']}. The line above is its signing secret, shown this once: keep it"
            " where the receiver checks Wharf-Signature (docs/webhooks.md). Send a test with"
            f" `wharf webhooks test {hook['id']} --site {args.site}`."
        )

    ctx.output.result(hook, human)


async def _webhook(ctx: Context, site: str, webhook_id: int) -> dict[str, Any]:
    """One webhook of the site, from its list; exit 3 when it has none of that id."""
    document = await ctx.client.call("GET", site_path(site, "webhooks"))
    for hook in document["webhooks"]:
        if hook["id"] == webhook_id:
            return dict(hook)
    raise CliFailure(
        f"{site} has no webhook {webhook_id} (`wharf webhooks list --site {site}` lists them)",
        code="webhook_not_found",
        exit_code=3,
    )


async def remove_webhook(ctx: Context, args: argparse.Namespace) -> None:
    """Remove a webhook, once confirmed."""
    hook = await _webhook(ctx, args.site, args.id)  # a typo fails before asking
    confirmed(ctx, str(args.id), args.yes, f"Nothing more goes to {hook['url']}")
    await ctx.client.call("DELETE", site_path(args.site, "webhooks", str(args.id)))
    ctx.output.result(
        {"site": args.site, "id": args.id, "removed": True},
        lambda: ctx.output.line(f"Removed webhook {args.id}: nothing more goes to {hook['url']}."),
    )


async def _first_attempt(ctx: Context, site: str, webhook_id: int, delivery_id: int) -> Any:
    """The delivery once its first attempt is over (or as it is after the wait)."""
    path = site_path(site, "webhooks", str(webhook_id), "deliveries")
    deadline = time.monotonic() + TEST_WAIT_SECONDS
    while True:
        page = await ctx.client.call("GET", path, params={"limit": "20"})
        found = next((d for d in page["deliveries"] if d["id"] == delivery_id), None)
        if found is None or time.monotonic() > deadline:
            return found
        # An attempt under way is counted already, its outcome not yet recorded.
        if found["attempts"] > 0 and (found["status"] != "pending" or found["last_error"]):
            return found
        await asyncio.sleep(0.5)


async def test_webhook(ctx: Context, args: argparse.Namespace) -> None:
    """Send a webhook.test delivery and say how its first attempt went; exit 1 if it failed."""
    queued = await ctx.client.call("POST", site_path(args.site, "webhooks", str(args.id), "test"))
    if args.no_wait:
        ctx.output.result(
            queued,
            lambda: ctx.output.line(f"Queued test delivery {queued['id']} to webhook {args.id}."),
        )
        return
    ctx.output.note(f"Sent test delivery {queued['id']}; waiting for the receiver's answer…")
    delivery = await _first_attempt(ctx, args.site, args.id, queued["id"]) or queued
    delivered = delivery["status"] == "delivered"

    def human() -> None:
        if delivered:
            ctx.output.line(f"Delivered: the receiver {_answer(delivery)}.", style="green")
        elif delivery["attempts"] == 0:
            ctx.output.line("Not tried yet: is a worker running (wharf worker, WHARF_WORKER)?")
        else:
            retry = "" if delivery["status"] == "failed" else f"; next attempt {_next(delivery)}"
            ctx.output.line(f"Not delivered: {_answer(delivery)}{retry}.")

    ctx.output.result(delivery, human)
    if not delivered:
        raise CliFailure(
            f"test delivery {delivery['id']} was not delivered: see"
            f" `wharf webhooks deliveries {args.id} --site {args.site}`",
            code="not_delivered",
        )


async def list_deliveries(ctx: Context, args: argparse.Namespace) -> None:
    """A webhook's delivery log, newest first."""
    params = {"limit": str(args.limit)}
    if args.before:
        params["before"] = str(args.before)
    path = site_path(args.site, "webhooks", str(args.id), "deliveries")
    document = await ctx.client.call("GET", path, params=params)
    rows = [
        (
            str(delivery["id"]),
            delivery["event"],
            delivery["status"],
            str(delivery["attempts"]),
            ago(delivery["created_at"]),
            _answer(delivery),
            _next(delivery),
        )
        for delivery in document["deliveries"]
    ]

    def human() -> None:
        ctx.output.table(
            ("ID", "EVENT", "STATUS", "ATTEMPTS", "CREATED", "LAST ANSWER", "NEXT"),
            rows,
            f"Nothing was sent to webhook {args.id} yet: try"
            f" `wharf webhooks test {args.id} --site {args.site}`.",
        )
        if document["next_before"]:
            ctx.output.note(
                f"Older: wharf webhooks deliveries {args.id} --site {args.site}"
                f" --before {document['next_before']}"
            )

    ctx.output.result(document, human)


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    """Add `wharf webhooks …`."""
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--site", required=True, help="the site's name")
    webhooks = commands.add_parser("webhooks", help="where a site's alerts are POSTed")
    actions = webhooks.add_subparsers(dest="action", required=True)
    parser = actions.add_parser("list", parents=[remote, site], help="a site's webhooks")
    parser.set_defaults(run=list_webhooks)

    parser = actions.add_parser(
        "add", parents=[remote, site], help="add a webhook; prints its secret (shown once)"
    )
    # Not `url`: that is --url, the control plane's address.
    parser.add_argument(
        "webhook_url", metavar="URL", help="https://… (or http://) that receives the POSTs"
    )
    parser.add_argument(
        "--event",
        dest="events",
        action="append",
        choices=WEBHOOK_EVENTS,
        help="an event to send (repeat for several) [default: all]",
    )
    parser.set_defaults(run=add_webhook)

    parser = actions.add_parser("remove", parents=[remote, site], help="remove a webhook")
    parser.add_argument("id", type=int, help="the webhook's id (see `wharf webhooks list`)")
    parser.add_argument("--yes", action="store_true", help="do not ask to type the id")
    parser.set_defaults(run=remove_webhook)

    parser = actions.add_parser(
        "test", parents=[remote, site], help="send a test and say how the receiver answered"
    )
    parser.add_argument("id", type=int, help="the webhook's id")
    parser.add_argument("--no-wait", action="store_true", help="queue the test and return at once")
    parser.set_defaults(run=test_webhook)

    parser = actions.add_parser(
        "deliveries", parents=[remote, site], help="a webhook's delivery log, newest first"
    )
    parser.add_argument("id", type=int, help="the webhook's id")
    parser.add_argument(
        "--limit", type=int, default=20, help="how many deliveries (1 to 100) [default: 20]"
    )
    parser.add_argument("--before", type=int, help="older than this delivery (a page's last)")
    parser.set_defaults(run=list_deliveries)
