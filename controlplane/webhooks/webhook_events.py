"""What a webhook receives: an alert's JSON body (`id`, `event`, `site`, `created_at`, `data`,
and `text`, one line for a person that Slack's incoming webhooks show as it is)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from controlplane.models import WEBHOOK_EVENTS, WebhookEvent

# A body is sent as it was stored, on every attempt; an alert is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024
# Values from `data` quoted in the text line are cut to this many characters.
_SHOWN = 200


def new_event_id() -> str:
    """A new alert's id, shared by its delivery to every webhook (receivers deduplicate on it)."""
    return "evt_" + secrets.token_hex(12)


def check_event(event: object) -> WebhookEvent:
    """The event name, if Wharf knows it; ValueError otherwise (a caller's mistake)."""
    for known in WEBHOOK_EVENTS:
        if event == known:
            return known
    raise ValueError(f"unknown webhook event {event!r}; expected one of {WEBHOOK_EVENTS}")


def slack_escaped(text: str) -> str:
    """Text as Slack's message formatting wants it: &, < and > escaped, on one line."""
    one_line = " ".join(text.split())
    return one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _value(data: Mapping[str, Any], *keys: str) -> str | None:
    """The first of the keys data has, as text cut to a sensible length."""
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            shown = str(value)
            return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
    return None


def _where(site: str, data: Mapping[str, Any]) -> str:
    environment = _value(data, "environment")
    return f"{site} ({environment})" if environment else site


# The monitor names the host and the problem; a caller may give a URL and a reason instead.
def _down(site: str, data: Mapping[str, Any]) -> str:
    reason, at = _value(data, "problem", "reason"), _value(data, "host", "url")
    return (
        f"{_where(site, data)} is down"
        + (f": {reason}" if reason else "")
        + (f" at {at}" if at else "")
    )


def _recovered(site: str, data: Mapping[str, Any]) -> str:
    at = _value(data, "host", "url")
    return f"{_where(site, data)} is back up" + (f" at {at}" if at else "")


def _rolled_back(site: str, data: Mapping[str, Any]) -> str:
    was, now, reason = (_value(data, key) for key in ("from_deploy", "to_deploy", "reason"))
    moved = f" from {was}" if was else ""
    moved += f" to {now}" if now else ""
    return f"{_where(site, data)} was rolled back{moved}" + (f": {reason}" if reason else "")


def _expiring(site: str, data: Mapping[str, Any]) -> str:
    host = _value(data, "host", "hostname") or "a host"
    days, when = _value(data, "days_left"), _value(data, "not_after", "expires_at")
    text = f"the TLS certificate of {host} ({site}) expires"
    text += f" in {days} day{'' if days == '1' else 's'}" if days is not None else " soon"
    # An ISO time: its date is what a person needs.
    return text + (f", on {when[:10]}" if when else "")


def _test(site: str, data: Mapping[str, Any]) -> str:
    return f"a test of a webhook of {site}: if you read this, it works"


_TEXTS: dict[WebhookEvent, Callable[[str, Mapping[str, Any]], str]] = {
    "site.down": _down,
    "site.recovered": _recovered,
    "deploy.rolled_back": _rolled_back,
    "certificate.expiring": _expiring,
    "webhook.test": _test,
}


def alert_text(event: WebhookEvent, site: str, data: Mapping[str, Any]) -> str:
    """The one line a person reads: what happened to which site, from the known data keys."""
    return slack_escaped("Wharf: " + _TEXTS[event](site, data))


def alert_body(
    event_id: str, event: WebhookEvent, site: str, created_at: datetime, data: Mapping[str, Any]
) -> str:
    """The JSON body, compact; ValueError when data is not JSON or the body is too large."""
    document = {
        "id": event_id,
        "event": event,
        "site": site,
        "created_at": created_at.isoformat(),
        "data": dict(data),
        "text": alert_text(event, site, data),
    }
    try:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(body.encode("utf-8"))  # a lone surrogate fails here
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an alert's data must be JSON text: {exc}") from None
    if size > MAX_BODY_BYTES:
        raise ValueError(f"an alert's body is over {MAX_BODY_BYTES} bytes")
    return body
