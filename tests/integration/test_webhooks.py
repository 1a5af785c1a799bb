"""Webhooks against real parts: the API on a real database, deliveries POSTed by the real loop
to an aiohttp receiver on loopback that checks each signature with the documented code;
retries, give-ups, redirects, timeouts, TLS by name, two loops sharing the queue, private
addresses, and notify() reaching only the webhooks that want an event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings, load_settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.errors import Invalid
from controlplane.models import User
from controlplane.runtime.stack import edge_process
from controlplane.secrets import Secret, SecretBox
from controlplane.sites.site_service import Sites
from controlplane.store import Store, open_pool
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from controlplane.webhooks.webhook_delivery import DeliveryOptions, WebhookDeliverer
from controlplane.webhooks.webhook_service import WebhookOptions, Webhooks
from tests.certs import Authority, ec_key, issue, key_pem, pem
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_member
from tests.harness.ports import free_port
from tests.harness.serving import serve
from tests.harness.stack import stack_settings
from tests.harness.waiting import wait_for
from tests.harness.webhook_receiver import Receiver
from tests.integration.test_probes import BROKEN_ROOT, Api

RETRY_DELAYS = "0.4,1.2"  # two retries, the second gap three times the first


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app's settings: loopback receivers allowed, retries in fractions of a second."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            "webhook_allow_private": "true",
            "webhook_retry_delays": RETRY_DELAYS,
            "webhook_timeout": "2",
        },
        environ={},
    )


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    """The receiver on a free loopback port; its URL."""
    async with serve(receiver.app()) as url:
        yield url + "/hooks/wharf"


async def _site(client: TestClient, headers: dict[str, str], name: str = "blog") -> None:
    response = await client.post("/api/v1/sites", json={"name": name}, headers=headers)
    assert response.status == 201, await response.text()


async def _add(
    client: TestClient, headers: dict[str, str], url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/sites/blog/webhooks", json={"url": url, **body}, headers=headers
    )
    assert response.status == 201, await response.text()
    document: dict[str, Any] = await response.json()
    return document


async def _log(client: TestClient, headers: dict[str, str], webhook: int) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/sites/blog/webhooks/{webhook}/deliveries", headers=headers
    )
    assert response.status == 200, await response.text()
    deliveries: list[dict[str, Any]] = (await response.json())["deliveries"]
    return deliveries


async def _settled(
    client: TestClient, headers: dict[str, str], webhook: int, within: float = 15
) -> dict[str, Any]:
    """The webhook's newest delivery once it is delivered or failed."""

    async def settled() -> bool:
        log = await _log(client, headers, webhook)
        return bool(log) and log[0]["status"] != "pending"

    await wait_for(settled, within)
    return (await _log(client, headers, webhook))[0]


async def test_webhooks_add_list_remove_and_the_secret_is_shown_once(
    client: TestClient, admin_headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _site(client, admin_headers)
    empty = await client.get("/api/v1/sites/blog/webhooks", headers=admin_headers)
    assert await empty.json() == {"webhooks": []}

    async with receiving(Receiver()) as url:
        response = await client.post(
            "/api/v1/sites/blog/webhooks", json={"url": url}, headers=admin_headers
        )
        assert response.status == 201
        assert response.headers["Cache-Control"] == "no-store"
        created = await response.json()
        secret = created.pop("secret")
        assert secret.startswith("whsec_") and len(secret) == 49
        assert created["url"] == url and created["last_delivery"] is None
        assert created["events"] == [
            "site.down",
            "site.recovered",
            "deploy.rolled_back",
            "certificate.expiring",
            "webhook.test",
        ]
        some = await _add(client, admin_headers, url, events=["site.recovered", "site.down"])
        assert some["events"] == ["site.down", "site.recovered"]  # Wharf's order, once each

        tested = await client.post(
            f"/api/v1/sites/blog/webhooks/{created['id']}/test", headers=admin_headers
        )
        assert tested.status == 202
        await _settled(client, admin_headers, created["id"])

        # Never again: not in the list, the log, nor any log line.
        listing = await client.get("/api/v1/sites/blog/webhooks", headers=admin_headers)
        listed = await listing.json()
        assert [hook["id"] for hook in listed["webhooks"]] == [created["id"], some["id"]]
        assert listed["webhooks"][0] == {
            **created,
            "last_delivery": {
                "status": "delivered",
                "created_at": listed["webhooks"][0]["last_delivery"]["created_at"],
            },
        }
        for text in (
            await listing.text(),
            json.dumps(await _log(client, admin_headers, created["id"])),
        ):
            assert secret not in text and "whsec_" not in text
        logged = [json.dumps(record.__dict__, default=str) for record in caplog.records]
        assert logged and not any(secret in line for line in logged)
        assert any("webhook delivered" in line for line in logged)

        removed = await client.delete(
            f"/api/v1/sites/blog/webhooks/{created['id']}", headers=admin_headers
        )
        assert removed.status == 204
        again = await client.delete(
            f"/api/v1/sites/blog/webhooks/{created['id']}", headers=admin_headers
        )
        assert again.status == 404
        assert (await again.json())["error"]["code"] == "webhook_not_found"
        gone = await client.get(
            f"/api/v1/sites/blog/webhooks/{created['id']}/deliveries", headers=admin_headers
        )
        assert gone.status == 404
        for raw in ("abc", "%C2%B2", "9" * 40, "0"):
            odd = await client.post(
                f"/api/v1/sites/blog/webhooks/{raw}/test", headers=admin_headers
            )
            assert odd.status == 404, raw


async def test_webhooks_refusals_are_422_with_their_codes(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await _site(client, admin_headers)
    refusals: list[tuple[Any, str]] = [
        ({}, "invalid_webhook_url"),
        ({"url": 42}, "invalid_webhook_url"),
        ({"url": "ftp://hooks.example.test/"}, "webhook_url_scheme"),
        ({"url": "https://me:pw@hooks.example.test/"}, "webhook_url_credentials"),
        ({"url": "https://hooks.example.test/" + "x" * 2048}, "webhook_url_too_long"),
        ({"url": "https://hooks.example.test/#frag"}, "invalid_webhook_url"),
        ({"url": "https://no-such-host.invalid/"}, "webhook_url_unresolvable"),
        ({"url": "http://127.0.0.1:9/", "events": []}, "invalid_webhook_events"),
        ({"url": "http://127.0.0.1:9/", "events": "site.down"}, "invalid_webhook_events"),
        (
            {"url": "http://127.0.0.1:9/", "events": ["site.down", "site.on_fire"]},
            "invalid_webhook_events",
        ),
    ]
    for body, code in refusals:
        response = await client.post(
            "/api/v1/sites/blog/webhooks", json=body, headers=admin_headers
        )
        assert response.status == 422, body
        assert (await response.json())["error"]["code"] == code, body
    for n in range(10):
        await _add(client, admin_headers, f"http://127.0.0.1:9/{n}")
    eleventh = await client.post(
        "/api/v1/sites/blog/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=admin_headers
    )
    assert eleventh.status == 422
    assert (await eleventh.json())["error"]["code"] == "too_many_webhooks"
    for query in ("limit=0", "limit=101", "limit=x", "before=-1", "before=1.5"):
        page = await client.get(
            f"/api/v1/sites/blog/webhooks/1/deliveries?{query}", headers=admin_headers
        )
        assert page.status == 422, query
    # A member sees none of the admin's site's webhooks: 404 for every call (test_access too).
    member = await make_member(client, admin_headers, "member@example.test")
    assert (await client.get("/api/v1/sites/blog/webhooks", headers=member)).status == 404


async def test_webhooks_a_test_arrives_signed_and_is_logged_delivered(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await _site(client, admin_headers)
    receiver = Receiver()
    async with receiving(receiver) as url:
        created = await _add(client, admin_headers, url)
        receiver.secret = created["secret"]
        started = asyncio.get_running_loop().time()
        response = await client.post(
            f"/api/v1/sites/blog/webhooks/{created['id']}/test", headers=admin_headers
        )
        queued = await response.json()
        assert (queued["status"], queued["attempts"], queued["event"]) == (
            "pending",
            0,
            "webhook.test",
        )
        await wait_for(lambda: bool(receiver.received), 10)
        # NOTIFY woke the loop (about 0.1 s here): long before its next poll, 30 s away.
        assert asyncio.get_running_loop().time() - started < 5
        delivery = await _settled(client, admin_headers, created["id"])

    (request,) = receiver.received
    assert request.signed, request.headers.get("Wharf-Signature")
    assert request.path == "/hooks/wharf"
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Wharf-Webhooks/1"
    assert headers["Wharf-Event"] == "webhook.test"
    assert headers["Wharf-Delivery"] == str(queued["id"])
    assert headers["Host"] == url.split("/")[2]
    body = request.document
    assert set(body) == {"id", "event", "site", "created_at", "data", "text"}
    assert (body["id"], body["event"], body["site"]) == (queued["event_id"], "webhook.test", "blog")
    assert body["data"] == {"webhook_id": created["id"]}
    assert body["text"] == "Wharf: a test of a webhook of blog: if you read this, it works"
    assert datetime.fromisoformat(body["created_at"]) <= datetime.now(UTC)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert (delivery["response_status"], delivery["last_error"]) == (200, None)
    assert delivery["next_attempt_at"] is None and delivery["delivered_at"]


async def test_webhooks_retry_with_growing_gaps_until_a_2xx(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await _site(client, admin_headers)
    receiver = Receiver(answers=[500, 500, 200])
    async with receiving(receiver) as url:
        created = await _add(client, admin_headers, url)
        receiver.secret = created["secret"]
        await client.post(
            f"/api/v1/sites/blog/webhooks/{created['id']}/test", headers=admin_headers
        )

        async def refused_yet() -> bool:  # true from the first 500 to the 200, 1.6 s
            return (await _log(client, admin_headers, created["id"]))[0]["last_error"] is not None

        await wait_for(refused_yet, 5)
        between = (await _log(client, admin_headers, created["id"]))[0]
        assert between["status"] == "pending"
        assert (between["response_status"], between["last_error"]) == (500, "answered 500")
        assert between["next_attempt_at"] is not None
        delivery = await _settled(client, admin_headers, created["id"])

    assert [r.signed for r in receiver.received] == [True, True, True]
    # One alert: the same body on each attempt, each signed anew.
    assert len({r.body for r in receiver.received}) == 1
    first, second = receiver.gaps()
    assert 0.35 < first < 1.1, receiver.gaps()
    assert second > first + 0.5, receiver.gaps()
    assert delivery["status"] == "delivered"
    assert (delivery["attempts"], delivery["response_status"], delivery["last_error"]) == (
        3,
        200,
        None,
    )


async def test_webhooks_a_receiver_that_never_answers_2xx_ends_failed(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await _site(client, admin_headers)
    receiver = Receiver(answers=[503])
    async with receiving(receiver) as url:
        created = await _add(client, admin_headers, url)
        await client.post(
            f"/api/v1/sites/blog/webhooks/{created['id']}/test", headers=admin_headers
        )
        delivery = await _settled(client, admin_headers, created["id"])
        await asyncio.sleep(1.5)  # nothing more comes once failed
    assert len(receiver.received) == 3  # the first attempt and the two retries
    assert delivery["status"] == "failed"
    assert (delivery["attempts"], delivery["response_status"]) == (3, 503)
    assert delivery["last_error"] == "answered 503" and delivery["next_attempt_at"] is None
    listed = await (await client.get("/api/v1/sites/blog/webhooks", headers=admin_headers)).json()
    assert listed["webhooks"][0]["last_delivery"]["status"] == "failed"


async def test_webhooks_never_follow_redirects_and_give_up_on_silence(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await _site(client, admin_headers)
    elsewhere = Receiver()
    async with receiving(elsewhere) as target:
        redirecting = Receiver(answers=[307], location=target)
        async with receiving(redirecting) as url:
            created = await _add(client, admin_headers, url, events=["webhook.test"])
            await client.post(
                f"/api/v1/sites/blog/webhooks/{created['id']}/test", headers=admin_headers
            )
            redirected = await _settled(client, admin_headers, created["id"])
    assert elsewhere.received == [] and len(redirecting.received) == 3
    assert redirected["response_status"] == 307
    assert redirected["last_error"] == "answered 307, a redirect: Wharf does not follow them"

    # Nothing listens on this port: the connection fails, and the log says so.
    closed = await _add(client, admin_headers, f"http://127.0.0.1:{free_port()}/x")
    await client.post(f"/api/v1/sites/blog/webhooks/{closed['id']}/test", headers=admin_headers)
    refused = await _settled(client, admin_headers, closed["id"])
    assert refused["status"] == "failed" and refused["response_status"] is None
    assert refused["last_error"].startswith("could not connect"), refused["last_error"]


# Below, the service and the loop on a store of their own, as separate processes have them.


async def _owner_and_site(store: Store) -> tuple[User, int]:
    owner = await store.create_user("owner@example.test", "x", "member")
    site = await store.create_site("blog", owner.id)
    return owner, site.id


def _webhooks(store: Store, box: SecretBox, allow_private: bool = True) -> Webhooks:
    sites = Sites(store, ReleaseFiles(Path("/nonexistent")))  # reads sites, never their files
    return Webhooks(store, sites, box, WebhookOptions(allow_private=allow_private))


BOX = SecretBox(Secret("k" * 40), "webhook-secrets")


async def test_webhooks_notify_queues_only_the_webhooks_subscribed_to_the_event(
    store: Store,
) -> None:
    owner, site_id = await _owner_and_site(store)
    webhooks = _webhooks(store, BOX)
    down_only, _ = await webhooks.create(owner, "blog", "http://127.0.0.1:9/a", ["site.down"])
    everything, _ = await webhooks.create(owner, "blog", "http://127.0.0.1:9/b")
    recovered, _ = await webhooks.create(owner, "blog", "http://127.0.0.1:9/c", ["site.recovered"])

    data = {"environment": "production", "reason": "answered 502"}
    assert await webhooks.notify(site_id, "site.down", data) == 2
    assert await webhooks.notify(site_id, "certificate.expiring", {"hostname": "x.test"}) == 1
    assert await webhooks.notify(site_id + 1000, "site.down", data) == 0  # no such site
    with pytest.raises(ValueError, match="unknown webhook event"):
        await webhooks.notify(site_id, "site.on_fire", data)
    with pytest.raises(ValueError, match="JSON"):
        await webhooks.notify(site_id, "site.down", {"at": datetime.now(UTC)})

    def events(page: Any) -> list[str]:
        return [delivery.event for delivery in page.deliveries]

    assert events(await webhooks.deliveries(owner, "blog", down_only.id)) == ["site.down"]
    assert events(await webhooks.deliveries(owner, "blog", everything.id)) == [
        "certificate.expiring",
        "site.down",
    ]
    assert events(await webhooks.deliveries(owner, "blog", recovered.id)) == []
    # One alert, one id, in every webhook's delivery.
    first = (await webhooks.deliveries(owner, "blog", down_only.id)).deliveries[0]
    second = (await webhooks.deliveries(owner, "blog", everything.id)).deliveries[1]
    assert first.event_id == second.event_id and first.event_id.startswith("evt_")
    assert (first.status, first.attempts) == ("pending", 0)  # in the database, before any loop


async def test_webhooks_two_delivery_loops_never_deliver_one_twice(
    store: Store, database_url: str
) -> None:
    owner, site_id = await _owner_and_site(store)
    webhooks = _webhooks(store, BOX)
    receiver = Receiver(delay=0.05)
    async with receiving(receiver) as url:
        for n in range(3):
            await webhooks.create(owner, "blog", f"{url}?hook={n}")
        # Queued before any loop runs, as alerts raised while every worker is down.
        for n in range(15):
            assert await webhooks.notify(site_id, "site.down", {"n": n}) == 3
        second_pool = await open_pool(database_url)
        try:
            options = DeliveryOptions(allow_private=True, batch=4)
            loops = [WebhookDeliverer(s, BOX, options) for s in (store, Store(second_pool))]
            stop = asyncio.Event()
            running = [asyncio.create_task(loop.run(stop)) for loop in loops]
            await wait_for(lambda: len(receiver.received) >= 45, 30)
            await asyncio.sleep(0.5)  # anything sent twice would have come by now
            stop.set()
            await asyncio.gather(*running)
        finally:
            second_pool.close()
            await second_pool.wait_closed()
    ids = [request.headers["Wharf-Delivery"] for request in receiver.received]
    assert len(ids) == 45 and len(set(ids)) == 45
    for hook in await store.list_webhooks(site_id):
        page = await store.list_deliveries(hook.id, 100)
        assert {(d.status, d.attempts) for d in page.deliveries} == {("delivered", 1)}


async def test_webhooks_private_addresses_are_refused_unless_allowed(store: Store) -> None:
    owner, site_id = await _owner_and_site(store)
    strict = _webhooks(store, BOX, allow_private=False)
    for url in (
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://0.0.0.0/",
    ):
        with pytest.raises(Invalid) as refused:
            await strict.create(owner, "blog", url)
        assert refused.value.code == "webhook_url_private", url
        assert "WHARF_WEBHOOK_ALLOW_PRIVATE" in refused.value.message
    assert await store.list_webhooks(site_id) == []

    # Added while allowed (an admin changed the setting since): refused again at delivery,
    # before anything connects.
    receiver = Receiver()
    async with receiving(receiver) as url:
        await _webhooks(store, BOX).create(owner, "blog", url)
        assert await strict.notify(site_id, "site.down", {}) == 1
        stop = asyncio.Event()
        loop = WebhookDeliverer(store, BOX, DeliveryOptions(retry_delays=()))
        running = asyncio.create_task(loop.run(stop))
        (hook,) = await store.list_webhooks(site_id)

        async def settled() -> bool:
            page = await store.list_deliveries(hook.id, 10)
            return page.deliveries[0].status == "failed"

        await wait_for(settled, 10)
        stop.set()
        await running
    assert receiver.received == []
    delivery = (await store.list_deliveries(hook.id, 10)).deliveries[0]
    assert delivery.last_error is not None
    assert "resolves to 127.0.0.1, a loopback address" in delivery.last_error


async def test_webhooks_a_slow_receiver_times_out_and_the_log_is_pruned(store: Store) -> None:
    owner, site_id = await _owner_and_site(store)
    webhooks = _webhooks(store, BOX)
    receiver = Receiver(delay=1.5)
    async with receiving(receiver) as url:
        hook, _ = await webhooks.create(owner, "blog", url)
        await webhooks.notify(site_id, "site.down", {})
        loop = WebhookDeliverer(
            store, BOX, DeliveryOptions(allow_private=True, timeout=0.5, retry_delays=())
        )
        stop = asyncio.Event()
        running = asyncio.create_task(loop.run(stop))

        async def settled() -> bool:
            return (await store.list_deliveries(hook.id, 1)).deliveries[0].status == "failed"

        await wait_for(settled, 10)
        stop.set()
        await running
    delivery = (await store.list_deliveries(hook.id, 1)).deliveries[0]
    assert delivery.last_error == "no answer within 0.5 s"
    # The log keeps the newest N of each webhook, and never drops a pending delivery.
    for n in range(4):
        await webhooks.notify(site_id, "site.recovered", {"n": n})
    assert await store.prune_deliveries(30, 2) == 1  # the failed one, fifth newest
    page = await store.list_deliveries(hook.id, 100)
    assert [d.status for d in page.deliveries] == ["pending"] * 4
    assert await store.prune_deliveries(0, 1000) == 0


def _tls_server(folder: Path, authority: Authority, *names: str) -> ssl.SSLContext:
    key = ec_key()
    cert = issue(names[0], key, authority, sans=names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (folder / "cert.pem").write_text(pem(cert, authority.cert))
    (folder / "key.pem").write_text(key_pem(key))
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


async def test_webhooks_https_is_checked_by_the_urls_name_while_connecting_to_the_checked_address(
    store: Store, tmp_path: Path
) -> None:
    owner, site_id = await _owner_and_site(store)
    ca_key = ec_key()
    authority = Authority(issue("Test CA", ca_key, None, ca=True), ca_key)
    trust = ssl.create_default_context(cadata=pem(authority.cert))
    webhooks = _webhooks(store, BOX)
    options = DeliveryOptions(allow_private=True, retry_delays=(), tls_trust=trust)
    for names, delivered in ((("localhost",), True), (("other.example.test",), False)):
        receiver = Receiver()
        app_runner = web.AppRunner(receiver.app(), access_log=None)
        await app_runner.setup()
        port = free_port()
        await web.TCPSite(
            app_runner, "127.0.0.1", port, ssl_context=_tls_server(tmp_path, authority, *names)
        ).start()
        try:
            hook, _ = await webhooks.create(owner, "blog", f"https://localhost:{port}/tls")
            await webhooks.notify(site_id, "site.down", {})
            stop = asyncio.Event()
            running = asyncio.create_task(WebhookDeliverer(store, BOX, options).run(stop))

            async def settled(hook_id: int = hook.id) -> bool:
                return (await store.list_deliveries(hook_id, 1)).deliveries[0].status != "pending"

            await wait_for(settled, 10)
            stop.set()
            await running
        finally:
            await app_runner.cleanup()
        delivery = (await store.list_deliveries(hook.id, 1)).deliveries[0]
        assert (delivery.status == "delivered") is delivered, delivery.last_error
        assert len(receiver.received) == (1 if delivered else 0)
        if delivered:
            assert receiver.received[0].headers["Host"] == f"localhost:{port}"
        else:
            assert "certificate" in (delivery.last_error or "").lower(), delivery.last_error
        await store.delete_webhook(site_id, hook.id)


async def test_webhooks_run_in_the_app_with_the_services(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """The app's own loop sends what Services.webhooks.notify queues."""
    await _site(client, admin_headers)
    receiver = Receiver()
    async with receiving(receiver) as url:
        created = await _add(client, admin_headers, url, events=["site.down"])
        receiver.secret = created["secret"]
        services = client.server.app[SERVICES]
        site = await services.store.get_site("blog", None)
        assert site is not None
        assert await services.webhooks.notify(site.id, "site.down", {"reason": "answered 502"}) == 1
        await wait_for(lambda: bool(receiver.received), 5)
    (request,) = receiver.received
    assert request.signed and request.document["text"] == "Wharf: blog is down: answered 502"


@pytest.mark.slow
async def test_webhooks_hear_of_an_automatic_rollback(
    aiohttp_server: Any, database_url: str, tmp_path: Path
) -> None:
    """A release whose probes fail is rolled back by itself, and the webhook is told so."""
    port = free_port()
    settings = stack_settings(
        tmp_path / "data",
        database_url=database_url,
        listen=f"127.0.0.1:{port}",
        job_poll="1",
        webhook_allow_private="true",
    )
    app: web.Application = create_app(settings)
    await aiohttp_server(app, port=port)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    receiver = Receiver()
    async with (
        aiohttp.ClientSession() as session,
        receiving(receiver) as hook_url,
        edge_process(settings),
    ):
        url = f"http://127.0.0.1:{port}"
        credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        async with session.post(f"{url}/api/v1/auth/login", json=credentials) as response:
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        api = Api(session, url, headers)
        await api.call("POST", "/api/v1/sites", json={"name": "blog"})
        hook = await api.call(
            "POST",
            "/api/v1/sites/blog/webhooks",
            json={"url": hook_url, "events": ["deploy.rolled_back"]},
        )
        receiver.secret = hook["secret"]
        healthy = await api.deploy("one")
        broken = await api.deploy("two", BROKEN_ROOT)
        await wait_for(lambda: bool(receiver.received), 10)
    (request,) = receiver.received
    assert request.signed and request.headers["Wharf-Event"] == "deploy.rolled_back"
    data = request.document["data"]
    assert (data["environment"], data["from_deploy"], data["to_deploy"]) == (
        "production",
        broken,
        healthy,
    )
    assert data["reason"].startswith("probes failed")
    assert request.document["text"].startswith(
        f"Wharf: blog (production) was rolled back from {broken} to {healthy}: probes failed"
    )
