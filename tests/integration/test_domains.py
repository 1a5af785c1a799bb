"""Custom domains on a real database: attach, DNS and HTTP ownership checks, access, the API."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controlplane.config import Settings
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.domains.domain_service import DomainOptions, Domains
from controlplane.errors import Conflict, Forbidden, Invalid, NotFound
from controlplane.models import User
from controlplane.services import open_services
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.store.domain_sql import DomainQueries
from controlplane.web.app import create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_member


class DomainStore(Store, DomainQueries):
    """The Store with the domain queries (works before and after Store inherits them)."""


class FakeDns(asyncio.DatagramProtocol):
    """A DNS server on loopback answering TXT queries from a dict; NXDOMAIN for other names."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.silent = False
        self.queries: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append(name)
        if self.silent:
            return
        response = dns.message.make_response(query)
        values = self.records.get(name)
        if values is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            texts = [f'"{value}"' for value in values]
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "TXT", texts))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def fake_dns() -> AsyncIterator[tuple[FakeDns, int]]:
    """A FakeDns on 127.0.0.1 and the free UDP port it got."""
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        FakeDns, local_addr=("127.0.0.1", 0)
    )
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


@dataclass
class ChallengeServer:
    """A stand-in for the edge's challenge path, recording the Host header of each request."""

    server: TestServer
    hosts: list[str] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens."""
        assert self.server.port is not None
        return "127.0.0.1", self.server.port


def challenge_app(challenges: Path, hosts: list[str], redirect: bool = False) -> web.Application:
    """Serve /.well-known/wharf-challenge/<token> from the folder, as the edge does."""

    async def serve(request: web.Request) -> web.StreamResponse:
        hosts.append(request.host)
        if redirect:
            raise web.HTTPFound("http://elsewhere.test" + request.path)
        try:
            body = (challenges / request.match_info["token"]).read_bytes()
        except OSError:
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/.well-known/wharf-challenge/{token:[A-Za-z0-9_-]+}", serve)
    return app


@pytest.fixture
async def challenge_server(aiohttp_server: Any, settings: Settings) -> ChallengeServer:
    """The challenge path served from the settings' data directory."""
    hosts: list[str] = []
    server = await aiohttp_server(challenge_app(settings.data_dir / "challenges", hosts))
    return ChallengeServer(server, hosts)


def domain_options(
    settings: Settings, dns_port: int, http: tuple[str, int] | None, **changes: Any
) -> DomainOptions:
    """Options pointing the checks at the test's DNS and HTTP servers."""
    values: dict[str, Any] = {
        "base_domain": settings.base_domain,
        "data_dir": settings.data_dir,
        "dns_resolver": ("127.0.0.1", dns_port),
        "check_timeout": 2.0,
        "http_check_address": http,
        **changes,
    }
    return DomainOptions(**values)


@dataclass
class World:
    """The services and three users: an admin, the owner of `blog`, and a stranger."""

    domains: Domains
    store: DomainStore
    sites: Sites
    dns: FakeDns
    challenges: Path
    admin: User
    owner: User
    stranger: User


@pytest.fixture
async def world(
    store: Store,
    settings: Settings,
    fake_dns: tuple[FakeDns, int],
    challenge_server: ChallengeServer,
) -> World:
    """Services on the test database; the owner has sites `blog` and `shop`."""
    domain_store = DomainStore(store.pool)
    files = ReleaseFiles(settings.data_dir)
    await asyncio.to_thread(files.ensure_dirs)
    sites = Sites(store, files)
    admin = await store.create_user("admin@example.test", "-", "admin")
    owner = await store.create_user("owner@example.test", "-", "member")
    stranger = await store.create_user("stranger@example.test", "-", "member")
    await sites.create(owner, "blog")
    await sites.create(owner, "shop")
    options = domain_options(settings, fake_dns[1], challenge_server.address)
    domains = Domains(domain_store, sites, options)
    return World(
        domains,
        domain_store,
        sites,
        fake_dns[0],
        options.challenge_dir,
        admin,
        owner,
        stranger,
    )


async def test_domain_add_is_pending_with_token_and_challenge_file(world: World) -> None:
    domain = await world.domains.add(world.owner, "blog", "WWW.Bücher.example", "staging")
    assert domain.hostname == "www.xn--bcher-kva.example"
    assert domain.environment == "staging"
    assert not domain.verified and domain.verified_by is None
    assert domain.last_checked_at is None and domain.last_error is None
    assert len(domain.token) >= 32
    assert (world.challenges / domain.token).read_text() == domain.token
    listed = await world.domains.list(world.owner, "blog")
    assert [d.hostname for d in listed] == ["www.xn--bcher-kva.example"]
    found = await world.domains.get(world.owner, "blog", "www.bücher.example")
    assert found.id == domain.id
    assert await world.store.verified_domains() == []
    assert await world.store.pending_hostnames() == ["www.xn--bcher-kva.example"]


async def test_domain_add_rejects_bad_input(world: World) -> None:
    for hostname, environment, code in [
        ("bad host.test", "production", "invalid_hostname"),
        ("*.x.test", "production", "wildcard_not_allowed"),
        ("blog.localhost", "production", "reserved_hostname"),
        ("ok.test", "qa", "invalid_environment"),
    ]:
        with pytest.raises(Invalid) as error:
            await world.domains.add(world.owner, "blog", hostname, environment)
        assert error.value.code == code
    assert await world.domains.list(world.owner, "blog") == []
    assert not world.challenges.exists() or list(world.challenges.iterdir()) == []


async def test_domain_dns_check_verifies(world: World) -> None:
    domain = await world.domains.add(world.owner, "blog", "www.example.test")
    world.dns.records["_wharf-challenge.www.example.test"] = ["unrelated", domain.token]
    checked = await world.domains.verify(world.owner, "blog", "www.example.test", "dns")
    assert checked.verified and checked.verified_by == "dns"
    assert checked.last_error is None and checked.last_checked_at is not None
    assert world.dns.queries == ["_wharf-challenge.www.example.test"]
    assert await world.store.verified_domains() == [("www.example.test", "blog", "production")]
    assert await world.store.pending_hostnames() == []


async def test_domain_dns_check_joins_split_txt_strings(world: World) -> None:
    domain = await world.domains.add(world.owner, "blog", "split.example.test")
    token = domain.token
    world.dns.records["_wharf-challenge.split.example.test"] = [f'{token[:10]}" "{token[10:]}']
    checked = await world.domains.verify(world.owner, "blog", "split.example.test", "dns")
    assert checked.verified_by == "dns", checked.last_error


async def test_domain_wrong_txt_stays_pending_with_the_reason(world: World) -> None:
    await world.domains.add(world.owner, "blog", "www.example.test")
    world.dns.records["_wharf-challenge.www.example.test"] = ["not-the-token"]
    checked = await world.domains.verify(world.owner, "blog", "www.example.test", "dns")
    assert not checked.verified
    assert checked.last_checked_at is not None
    assert checked.last_error == (
        "DNS: the TXT record at _wharf-challenge.www.example.test does not hold this domain's token"
    )
    world.dns.records.clear()
    missing = await world.domains.verify(world.owner, "blog", "www.example.test", "dns")
    assert missing.last_error is not None and "does not exist" in missing.last_error
    assert missing.last_checked_at is not None and checked.last_checked_at is not None
    assert missing.last_checked_at >= checked.last_checked_at


async def test_domain_dns_check_times_out_quickly(world: World) -> None:
    await world.domains.add(world.owner, "blog", "slow.example.test")
    world.dns.silent = True
    options = dataclasses.replace(world.domains.options, check_timeout=0.5)
    quick = Domains(world.store, world.sites, options)
    started = time.monotonic()
    checked = await quick.verify(world.owner, "blog", "slow.example.test", "dns")
    assert time.monotonic() - started < 3
    assert not checked.verified
    assert (
        checked.last_error
        == "DNS: no DNS answer for _wharf-challenge.slow.example.test within 0.5 s"
    )


async def test_domain_http_check_verifies_keeping_the_host_header(
    world: World, challenge_server: ChallengeServer
) -> None:
    domain = await world.domains.add(world.owner, "blog", "www.example.test")
    checked = await world.domains.verify(world.owner, "blog", "www.example.test", "http")
    assert checked.verified and checked.verified_by == "http", checked.last_error
    assert challenge_server.hosts == ["www.example.test"]
    assert world.dns.queries == []  # only the method asked for ran
    assert (world.challenges / domain.token).exists()


async def test_domain_http_check_failures_are_recorded(
    world: World, aiohttp_server: Any, settings: Settings
) -> None:
    domain = await world.domains.add(world.owner, "blog", "www.example.test")
    (world.challenges / domain.token).write_text("something else")
    wrong = await world.domains.verify(world.owner, "blog", "www.example.test", "http")
    assert not wrong.verified
    assert wrong.last_error is not None and "not with this domain's token" in wrong.last_error
    (world.challenges / domain.token).unlink()
    missing = await world.domains.verify(world.owner, "blog", "www.example.test", "http")
    assert missing.last_error is not None and missing.last_error.endswith("answered 404")

    redirector = await aiohttp_server(challenge_app(world.challenges, [], redirect=True))
    assert redirector.port is not None
    redirected = Domains(
        world.store,
        world.sites,
        domain_options(settings, 0, ("127.0.0.1", redirector.port)),
    )
    moved = await redirected.verify(world.owner, "blog", "www.example.test", "http")
    assert moved.last_error is not None and "302, a redirect" in moved.last_error
    assert "elsewhere" not in moved.last_error

    closed = Domains(
        world.store, world.sites, domain_options(settings, 0, ("127.0.0.1", _closed_port()))
    )
    refused = await closed.verify(world.owner, "blog", "www.example.test", "http")
    assert refused.last_error is not None and refused.last_error.startswith(
        "HTTP: could not connect to www.example.test"
    )
    assert not refused.verified


def _closed_port() -> int:
    """A loopback TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_domain_check_without_method_tries_dns_then_http(
    world: World, challenge_server: ChallengeServer
) -> None:
    await world.domains.add(world.owner, "blog", "www.example.test")
    checked = await world.domains.verify(world.owner, "blog", "www.example.test")
    assert checked.verified_by == "http" and checked.last_error is None
    assert world.dns.queries == ["_wharf-challenge.www.example.test"]

    nowhere = await world.domains.add(world.owner, "blog", "nowhere.example.test")
    (world.challenges / nowhere.token).unlink()
    failed = await world.domains.verify(world.owner, "blog", "nowhere.example.test")
    assert failed.last_error is not None
    assert failed.last_error.startswith("DNS: no TXT record")
    assert "; HTTP: " in failed.last_error


async def test_domain_wildcard_is_checked_by_dns_at_its_parent(
    world: World, challenge_server: ChallengeServer
) -> None:
    options = dataclasses.replace(world.domains.options, allow_wildcard=True)
    wild = Domains(world.store, world.sites, options)
    domain = await wild.add(world.owner, "blog", "*.x.test")
    with pytest.raises(Invalid) as error:
        await wild.verify(world.owner, "blog", "*.x.test", "http")
    assert error.value.code == "invalid_method"
    world.dns.records["_wharf-challenge.x.test"] = [domain.token]
    checked = await wild.verify(world.owner, "blog", "*.x.test")
    assert checked.verified_by == "dns"
    assert challenge_server.hosts == []


async def test_domain_mark_verified_is_for_admins(world: World) -> None:
    await world.domains.add(world.owner, "blog", "www.example.test")
    with pytest.raises(Forbidden) as error:
        await world.domains.mark_verified(world.owner, "blog", "www.example.test")
    assert error.value.code == "admin_required"
    marked = await world.domains.mark_verified(world.admin, "blog", "www.example.test")
    assert marked.verified and marked.verified_by == "admin"
    # A later failed check reports its error but keeps the domain verified.
    rechecked = await world.domains.verify(world.owner, "blog", "www.example.test", "dns")
    assert rechecked.verified_by == "admin" and rechecked.last_error is not None
    with pytest.raises(Invalid):
        await world.domains.verify(world.owner, "blog", "www.example.test", "ftp")


async def test_domain_strangers_see_nothing(world: World) -> None:
    await world.domains.add(world.owner, "blog", "www.example.test")
    stranger = world.stranger
    calls = [
        world.domains.add(stranger, "blog", "other.example.test"),
        world.domains.list(stranger, "blog"),
        world.domains.get(stranger, "blog", "www.example.test"),
        world.domains.verify(stranger, "blog", "www.example.test", "dns"),
        world.domains.mark_verified(stranger, "blog", "www.example.test"),
        world.domains.delete(stranger, "blog", "www.example.test"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as error:
            await call
        assert error.value.code == "site_not_found"
    assert world.dns.queries == []


async def test_domain_duplicate_hostname_conflicts_across_sites(world: World) -> None:
    await world.domains.add(world.owner, "blog", "www.example.test")
    other_site = await world.sites.create(world.stranger, "elsewhere")
    for actor, site in [(world.owner, "shop"), (world.stranger, other_site.name)]:
        with pytest.raises(Conflict) as error:
            await world.domains.add(actor, site, "WWW.example.test.")
        assert error.value.code == "domain_exists"
    assert len(list(world.challenges.iterdir())) == 1  # the refused adds left no file


async def test_domain_delete_removes_row_and_challenge_file(world: World) -> None:
    domain = await world.domains.add(world.owner, "blog", "www.example.test")
    await world.domains.delete(world.owner, "blog", "WWW.example.test")
    assert await world.domains.list(world.owner, "blog") == []
    assert not (world.challenges / domain.token).exists()
    for call in (
        world.domains.delete(world.owner, "blog", "www.example.test"),
        world.domains.get(world.owner, "blog", "www.example.test"),
        world.domains.verify(world.owner, "blog", "not a host", None),
    ):
        with pytest.raises(NotFound) as error:
            await call
        assert error.value.code == "domain_not_found"
    # Free again, for any site.
    again = await world.domains.add(world.owner, "shop", "www.example.test")
    assert again.token != domain.token


async def test_domain_site_delete_cascades_and_prune_removes_files(world: World) -> None:
    domain = await world.domains.add(world.owner, "blog", "www.example.test")
    kept = await world.domains.add(world.owner, "shop", "shop.example.test")
    await world.sites.delete(world.owner, "blog")
    assert await world.store.domain_tokens() == {kept.token}
    old = time.time() - 3600
    os.utime(world.challenges / domain.token, (old, old))
    assert await world.domains.prune_challenges() == 1
    assert [path.name for path in world.challenges.iterdir()] == [kept.token]


async def test_domain_changes_count_as_routing_changes_when_routing_may_change(
    world: World,
) -> None:
    before = (await world.store.routing_progress()).version
    domains = world.domains
    await domains.add(world.owner, "blog", "www.example.test")
    await domains.verify(world.owner, "blog", "www.example.test", "dns")  # fails: no change
    await domains.mark_verified(world.admin, "blog", "www.example.test")
    await domains.delete(world.owner, "blog", "www.example.test")
    assert (await world.store.routing_progress()).version == before + 3


# Through the HTTP API: the real app with the domain routes and service added.


@pytest.fixture
async def api(
    aiohttp_client: Any,
    settings: Settings,
    fake_dns: tuple[FakeDns, int],
    challenge_server: ChallengeServer,
) -> AsyncIterator[TestClient]:
    """A control plane (no worker) whose domain checks ask the fake DNS, and an admin."""
    settings = settings.replace(worker=False)
    options = domain_options(settings, fake_dns[1], challenge_server.address)
    async with open_services(settings) as services:
        domains = Domains(DomainStore(services.store.pool), services.sites, options)
        app = create_app(settings, dataclasses.replace(services, domains=domains))
        client: TestClient = await aiohttp_client(app)
        await services.accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
        try:
            yield client
        finally:
            await client.close()  # the app's background work stops before its services close


@pytest.fixture
async def people(api: TestClient) -> dict[str, dict[str, str]]:
    """Authorization headers of the admin, the owner of `blog`, and a stranger."""
    admin = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    owner = await make_member(api, admin, "owner@example.test")
    stranger = await make_member(api, admin, "stranger@example.test")
    created = await api.post("/api/v1/sites", json={"name": "blog"}, headers=owner)
    assert created.status == 201
    return {"admin": admin, "owner": owner, "stranger": stranger}


DOMAINS_URL = "/api/v1/sites/blog/domains"


async def test_domain_api_add_list_verify_delete(
    api: TestClient,
    people: dict[str, dict[str, str]],
    fake_dns: tuple[FakeDns, int],
    settings: Settings,
) -> None:
    owner = people["owner"]
    added = await api.post(DOMAINS_URL, json={"hostname": "Bücher.example"}, headers=owner)
    assert added.status == 201, await added.text()
    domain = await added.json()
    token = domain["token"]
    assert domain == {
        "hostname": "xn--bcher-kva.example",
        "environment": "production",
        "status": "pending",
        "verified_at": None,
        "verified_by": None,
        "token": token,
        "dns_record": {
            "name": "_wharf-challenge.xn--bcher-kva.example",
            "type": "TXT",
            "value": token,
        },
        "http_check": {
            "url": f"http://xn--bcher-kva.example/.well-known/wharf-challenge/{token}",
            "body": token,
        },
        "last_checked_at": None,
        "last_error": None,
        "created_at": domain["created_at"],
        "routing": domain["routing"],
    }
    assert domain["routing"]["state"] in ("pending", "confirmed")
    listed = await (await api.get(DOMAINS_URL, headers=owner)).json()
    assert [d["hostname"] for d in listed["domains"]] == ["xn--bcher-kva.example"]

    one = f"{DOMAINS_URL}/xn--bcher-kva.example"
    fake_dns[0].records["_wharf-challenge.xn--bcher-kva.example"] = ["wrong"]
    pending = await api.post(f"{one}/verify", json={"method": "dns"}, headers=owner)
    assert pending.status == 200
    body = await pending.json()
    assert body["status"] == "pending" and body["last_checked_at"] is not None
    assert "does not hold this domain's token" in body["last_error"]

    fake_dns[0].records["_wharf-challenge.xn--bcher-kva.example"] = [token]
    verified = await (await api.post(f"{one}/verify", headers=owner)).json()
    assert (verified["status"], verified["verified_by"], verified["last_error"]) == (
        "verified",
        "dns",
        None,
    )
    assert (await (await api.get(one, headers=owner)).json())["status"] == "verified"

    assert (await api.delete(one, headers=owner)).status == 204
    assert not (settings.data_dir / "challenges" / token).exists()
    gone = await api.get(one, headers=owner)
    assert gone.status == 404
    assert (await gone.json())["error"]["code"] == "domain_not_found"


async def test_domain_api_http_check_and_admin_marking(
    api: TestClient, people: dict[str, dict[str, str]], challenge_server: ChallengeServer
) -> None:
    owner, admin = people["owner"], people["admin"]
    for hostname in ("www.example.test", "intranet.example.test"):
        response = await api.post(DOMAINS_URL, json={"hostname": hostname}, headers=owner)
        assert response.status == 201
    checked = await api.post(
        f"{DOMAINS_URL}/www.example.test/verify", json={"method": "http"}, headers=owner
    )
    assert (await checked.json())["verified_by"] == "http"
    assert challenge_server.hosts == ["www.example.test"]

    url = f"{DOMAINS_URL}/intranet.example.test/verify"
    refused = await api.post(url, json={"method": "admin"}, headers=owner)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "admin_required"
    marked = await api.post(url, json={"method": "admin"}, headers=admin)
    assert marked.status == 200
    assert (await marked.json())["verified_by"] == "admin"
    bad = await api.post(url, json={"method": "carrier-pigeon"}, headers=owner)
    assert bad.status == 422
    assert (await bad.json())["error"]["code"] == "invalid_method"


async def test_domain_api_errors_and_strangers(
    api: TestClient, people: dict[str, dict[str, str]], fake_dns: tuple[FakeDns, int]
) -> None:
    owner, stranger, admin = people["owner"], people["stranger"], people["admin"]
    assert (
        await api.post(DOMAINS_URL, json={"hostname": "www.example.test"}, headers=owner)
    ).status == 201
    for body, status, code in [
        ({"hostname": "www.example.test"}, 409, "domain_exists"),
        ({"hostname": "evil.test/x"}, 422, "invalid_hostname"),
        ({"hostname": "*.evil.test"}, 422, "wildcard_not_allowed"),
        ({"hostname": "blog--staging.localhost"}, 422, "reserved_hostname"),
        ({"hostname": "ok.test", "environment": "qa"}, 422, "invalid_environment"),
        ({}, 422, "invalid_hostname"),
    ]:
        response = await api.post(DOMAINS_URL, json=body, headers=owner)
        assert response.status == status, body
        assert (await response.json())["error"]["code"] == code
    # A site of the stranger cannot take the hostname either.
    await api.post("/api/v1/sites", json={"name": "theirs"}, headers=stranger)
    taken = await api.post(
        "/api/v1/sites/theirs/domains", json={"hostname": "www.example.test"}, headers=stranger
    )
    assert taken.status == 409

    one = f"{DOMAINS_URL}/www.example.test"
    for method, path, body in [
        ("GET", DOMAINS_URL, None),
        ("POST", DOMAINS_URL, {"hostname": "new.example.test"}),
        ("POST", DOMAINS_URL, "not json"),
        ("GET", one, None),
        ("DELETE", one, None),
        ("POST", f"{one}/verify", {"method": "dns"}),
        ("POST", f"{one}/verify", {"method": "admin"}),
    ]:
        response = await api.request(method, path, json=body, headers=stranger)
        assert response.status == 404, (method, path)
        assert (await response.json())["error"]["code"] == "site_not_found"
    assert fake_dns[0].queries == []
    assert (await api.get(DOMAINS_URL)).status == 401
    # The admin sees every site's domains.
    seen = await (await api.get(DOMAINS_URL, headers=admin)).json()
    assert [d["hostname"] for d in seen["domains"]] == ["www.example.test"]
