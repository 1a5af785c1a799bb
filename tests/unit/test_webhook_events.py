"""An alert's body and its one line of text: known data keys in words, Slack's escaping, one
line whatever the data holds, and refusals of what is not JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from controlplane.webhooks.webhook_events import alert_body, alert_text, check_event

NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "data", "text"),
    [
        (
            "site.down",
            {"environment": "production", "url": "https://blog.example.com/", "reason": "502"},
            "Wharf: blog (production) is down: 502 at https://blog.example.com/",
        ),
        ("site.down", {}, "Wharf: blog is down"),
        (
            "site.down",  # as the monitor says it
            {"environment": "staging", "host": "blog--staging.example.com", "problem": "timeout"},
            "Wharf: blog (staging) is down: timeout at blog--staging.example.com",
        ),
        ("site.recovered", {"environment": "staging"}, "Wharf: blog (staging) is back up"),
        (
            "deploy.rolled_back",
            {"environment": "production", "from_deploy": "b2", "to_deploy": "a1", "reason": "x"},
            "Wharf: blog (production) was rolled back from b2 to a1: x",
        ),
        (
            "certificate.expiring",
            {"hostname": "www.example.com", "days_left": 1, "expires_at": "2026-12-05"},
            "Wharf: the TLS certificate of www.example.com (blog) expires in 1 day, on 2026-12-05",
        ),
        ("certificate.expiring", {}, "Wharf: the TLS certificate of a host (blog) expires soon"),
        (
            "certificate.expiring",
            {"host": "blog.example.com", "not_after": "2026-12-15T10:00:00+00:00", "days_left": 10},
            "Wharf: the TLS certificate of blog.example.com (blog) expires in 10 days,"
            " on 2026-12-15",
        ),
        (
            "webhook.test",
            {"webhook_id": 3},
            "Wharf: a test of a webhook of blog: if you read this, it works",
        ),
    ],
)
def test_webhook_events_say_what_happened_in_one_line(
    event: str, data: dict[str, object], text: str
) -> None:
    assert alert_text(check_event(event), "blog", data) == text


def test_webhook_events_text_is_escaped_for_slack_and_stays_one_line() -> None:
    text = alert_text("site.down", "blog", {"reason": "<!channel> & co\nsecond line"})
    assert text == "Wharf: blog is down: &lt;!channel&gt; &amp; co second line"
    long = alert_text("site.down", "blog", {"reason": "x" * 500})
    assert len(long) < 260 and long.endswith("…")


def test_webhook_events_body_has_every_field_and_refuses_what_is_not_json() -> None:
    body = json.loads(alert_body("evt_1", "site.down", "blog", NOW, {"reason": "é"}))
    assert body == {
        "id": "evt_1",
        "event": "site.down",
        "site": "blog",
        "created_at": "2026-12-04T00:00:00+00:00",
        "data": {"reason": "é"},
        "text": "Wharf: blog is down: é",
    }
    with pytest.raises(ValueError, match="JSON"):
        alert_body("evt_1", "site.down", "blog", NOW, {"when": NOW})
    with pytest.raises(ValueError, match="JSON"):
        alert_body("evt_1", "site.down", "blog", NOW, {"x": float("nan")})
    with pytest.raises(ValueError, match="bytes"):
        alert_body("evt_1", "site.down", "blog", NOW, {"x": "y" * 70_000})
    with pytest.raises(ValueError, match="unknown webhook event"):
        check_event("site.exploded")
