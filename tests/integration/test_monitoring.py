"""The monitor with the real worker, edge and Traefik: a site made unreachable (the edge
stopped) is announced down once and recovered once after, its checks make uptime and latency
in the API, and every environment's state is in /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import async_playwright, expect

from controlplane.runtime.stack import edge_process
from controlplane.web.keys import SERVICES
from tests.certs import self_signed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.ports import free_port
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.harness.waiting import wait_for
from tests.harness.webhook_receiver import Receiver
from tests.integration.test_probes import Api, signed_in_api
from tests.integration.test_ui_browser import CHROMIUM, Running, _serious, _sign_in
from tests.integration.test_webhooks import receiving

pytestmark = [pytest.mark.slow, pytest.mark.one_database]


@pytest.fixture
async def stack(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Api, web.Application]]:
    """Control plane with its worker and Traefik (the edge is the test's to start and stop)."""
    port = free_port()
    settings = stack_settings(
        tmp_path / "data",
        database_url=database_url,
        listen=f"127.0.0.1:{port}",
        job_poll="1",
        webhook_allow_private="true",  # the receiver is on loopback
    )
    async with signed_in_api(aiohttp_server, settings) as api:
        assert api.app is not None
        app = api.app
        async with edge_and_traefik(settings, app[SERVICES].routing.routers, edge=False):
            yield api, app


async def test_monitoring_announces_down_once_and_recovered_once(
    stack: tuple[Api, web.Application],
) -> None:
    api, app = stack
    monitor = app[SERVICES].monitor
    settings = app[SERVICES].settings
    receiver = Receiver()
    async with receiving(receiver) as hook_url:
        events = ["site.down", "site.recovered"]
        hook = await api.call(
            "POST", "/api/v1/sites/blog/webhooks", json={"url": hook_url, "events": events}
        )
        receiver.secret = hook["secret"]
        await _down_then_up(api, monitor, settings, receiver)
    # One signed delivery each, in order: the site's webhook heard both changes once.
    assert [r.headers["Wharf-Event"] for r in receiver.received] == events
    assert all(request.signed for request in receiver.received)
    down_alert = receiver.received[0].document
    assert down_alert["data"]["environment"] == "production"
    assert down_alert["data"]["problem"].startswith("no answer")
    assert down_alert["text"].startswith("Wharf: blog")


async def _down_then_up(api: Api, monitor: Any, settings: Any, receiver: Receiver) -> None:
    """Deploy and check with the edge up; four checks with it stopped; two with it back."""
    async with edge_process(settings):
        await api.deploy("one")
        await monitor.round(everything=True)
    # The edge is stopped: one failed check is not yet down, the second is, and stays so.
    for _ in range(4):
        await monitor.round(everything=True)
    await wait_for(lambda: len(receiver.received) == 1, 10)
    down = await api.call("GET", "/api/v1/sites/blog/monitoring")
    production = down["environments"]["production"]
    assert production["up"] is False and production["recent"][0]["status"] is None
    async with edge_process(settings):
        await monitor.round(everything=True)
        await monitor.round(everything=True)
        report = await api.call("GET", "/api/v1/sites/blog/monitoring")
        async with api.session.get(f"{api.url}/metrics") as response:
            metrics = await response.text()
    await wait_for(lambda: len(receiver.received) == 2, 10)
    production = report["environments"]["production"]
    assert production["up"] is True and report["interval"] == 60
    assert 0 < production["uptime_24h"] < 1  # up, then down for four checks, then up
    assert production["latency_ms"]["p95"] >= production["latency_ms"]["p50"] > 0
    assert [check["up"] for check in production["recent"][:3]] == [True, True, False]
    assert 'wharf_site_up{environment="production",site="blog"} 1.0' in metrics
    assert "wharf_site_latency_seconds{" in metrics
    await _look_at(api)


async def _look_at(api: Api) -> None:
    """The site's overview with its monitoring, and the interval in its settings, in
    chromium: light and dark, laptop and phone, nothing serious for axe-core."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            running = Running(api.url, api.session, api.headers, browser)
            page = await browser.new_page()
            await _sign_in(page, api.url, ADMIN_EMAIL, ADMIN_PASSWORD)
            await page.goto(f"{api.url}/sites/blog")
            await expect(page.get_by_text("% up over 24 hours")).to_be_visible()
            await running.screens(page, "site-monitoring")
            await page.goto(f"{api.url}/sites/blog/settings")
            field = page.get_by_label("Check each live environment every (seconds)")
            await field.fill("5")
            await page.get_by_role("button", name="Save").click()
            assert await field.evaluate("input => input.validity.rangeUnderflow")  # not sent
            await field.fill("30")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_text("Saved.")).to_be_visible()
        finally:
            await browser.close()
    assert _serious(running) == []
    assert (await api.call("GET", "/api/v1/sites/blog"))["monitor_interval"] == 30
    async with api.session.patch(
        f"{api.url}/api/v1/sites/blog", json={"monitor_interval": 5}, headers=api.headers
    ) as refused:
        assert refused.status == 422
        assert "monitor_interval is 10 to 3600 seconds" in await refused.text()


async def test_monitoring_announces_a_certificate_near_its_end_once(
    stack: tuple[Api, web.Application],
) -> None:
    api, app = stack
    settings = app[SERVICES].settings
    monitor = app[SERVICES].monitor
    host, port = settings.http_listen
    monitor.options = replace(
        monitor.options,
        traefik_url=f"http://{host}:{port}",
        https_address=settings.https_listen,
    )
    announced: list[tuple[str, dict[str, Any]]] = []

    async def notify(site_id: int, event: str, data: dict[str, Any]) -> int:
        announced.append((event, data))
        return 1

    monitor.notify = notify
    cert, key, certificate = self_signed("localhost", "*.localhost", days=10)
    await api.call(
        "PUT", "/api/v1/tls?wait=true", json={"strategy": "custom", "certificate": cert, "key": key}
    )
    async with edge_process(settings):
        await api.deploy("one")
        for _ in range(3):
            await monitor.round(everything=True)
    assert [event for event, _ in announced] == ["certificate.expiring"]
    data = announced[0][1]
    assert data["host"] == "blog.localhost" and data["days_left"] in (9, 10)
    report = await api.call("GET", "/api/v1/sites/blog/monitoring")
    production = report["environments"]["production"]
    assert production["certificate"]["not_after"] == certificate.not_valid_after_utc.isoformat()
    # HTTP is redirected to HTTPS by the custom strategy: routed, so up.
    assert production["up"] is True
