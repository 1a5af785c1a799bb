"""TLS end to end: pebble, real Traefik and the edge; the wharf and traefik strategies, by SNI."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from prometheus_client import REGISTRY

from controlplane.config import Settings
from controlplane.models import Owner, User
from controlplane.services import Services, issuer_for, open_services
from tests.harness.ports import free_port
from tests.harness.stack import edge_and_traefik, stack_settings
from tests.pebble import DEBIAN_PACKAGE, Pebble, available, running_pebble

pytestmark = pytest.mark.slow
BASE_DOMAIN = "sites.test"
SHOP = "www.shop.example"


@dataclass
class Stack:
    """Pebble, the control plane's services, the edge and Traefik, on loopback ports."""

    settings: Settings
    services: Services
    pebble: Pebble
    admin: User

    @property
    def https_port(self) -> int:
        return self.settings.https_listen[1]

    @property
    def http_port(self) -> int:
        return self.settings.http_listen[1]


def write_exec_script(folder: Path, pebble: Pebble) -> Path:
    """A DNS-01 script in lego's exec convention that publishes TXT records in challtestsrv."""
    script = folder / "dns-exec"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, urllib.request\n"
        "action, fqdn, value = sys.argv[1:4]\n"
        "body = {'host': fqdn, 'value': value} if action == 'present' else {'host': fqdn}\n"
        "path = '/set-txt' if action == 'present' else '/clear-txt'\n"
        f"url = {pebble.challtestsrv_url!r} + path\n"
        "request = urllib.request.Request(url, data=json.dumps(body).encode(), method='POST')\n"
        "urllib.request.urlopen(request, timeout=5).read()\n"
    )
    script.chmod(0o700)
    return script


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """Everything running; pebble validates HTTP-01 and TLS-ALPN-01 on Traefik's entrypoints."""
    assert available(), f"install Debian's {DEBIAN_PACKAGE} package (make debian-deps, as root)"
    http_port, https_port = free_port(), free_port()
    with running_pebble(http_port, tls_port=https_port) as pebble:
        settings = stack_settings(
            tmp_path / "data",
            database_url=database_url,
            base_domain=BASE_DOMAIN,
            allow_wildcard_domains="true",
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            acme_directory=pebble.directory_url,
            acme_ca_bundle=str(pebble.ca_bundle),
            acme_email="ops@example.test",
            dns_provider="exec",
            dns_exec_script=str(write_exec_script(tmp_path, pebble)),
            dns_propagation_wait="0",
            dns_resolver=f"127.0.0.1:{pebble.dns_port}",
            worker="false",
        )
        async with open_services(settings) as services:
            admin = await services.accounts.create_user(
                None, "admin@example.test", "admin-password-1", "admin"
            )
            # Routing follows the database as in `wharf serve`: its reconciler runs throughout.
            stop = asyncio.Event()
            reconciler = asyncio.create_task(services.routing.run(stop, 60))
            try:
                async with edge_and_traefik(settings, {"wharf-sites", "wharf-acme-http01"}):
                    yield Stack(settings, services, pebble, admin)
            finally:
                stop.set()
                await reconciler
                print(pebble.logs())


def presented(port: int, sni: str) -> x509.Certificate:
    """The certificate Traefik presents for an SNI name (not verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def get(port: int, host: str, root_pem: str | None = None) -> tuple[str, dict[str, str]]:
    """GET /a?b=1 over plain HTTP, or over TLS verified against root_pem for host;
    (status line, headers)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        sock = raw
        if root_pem is not None:
            context = ssl.create_default_context(cadata=root_pem)
            sock = context.wrap_socket(raw, server_hostname=host)
        sock.sendall(f"GET /a?b=1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head = response.split(b"\r\n\r\n", 1)[0].decode()
    status, *lines = head.split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


async def until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    """Poll check (in a thread) until it is true."""
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        await asyncio.sleep(0.1)


def issued_by_pebble(port: int, sni: str) -> bool:
    """Whether Traefik presents a certificate from pebble's CA for sni."""
    try:
        issuer = presented(port, sni).issuer.rfc4514_string()
    except OSError:
        return False
    return "Pebble" in issuer


def verifies(port: int, sni: str, root_pem: str) -> bool:
    """A full TLS handshake verified against pebble's root, with hostname checking."""
    context = ssl.create_default_context(cadata=root_pem)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=sni),
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False


def files_holding(folder: Path, text: str) -> list[Path]:
    """Every file under folder whose bytes contain text (the database's own files excepted)."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and "pg" not in path.relative_to(folder).parts[:1]
        and text.encode() in path.read_bytes()
    ]


async def test_tls_wharf_strategy_issues_over_http01_and_dns01_and_renews_without_a_gap(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    services, pebble, admin = stack.services, stack.pebble, stack.admin
    await services.sites.create(admin, "shop")
    await services.domains.add(admin, "shop", SHOP)
    await services.domains.mark_verified(admin, "shop", SHOP)
    pebble.add_a(SHOP)  # pebble's validator reaches Traefik's http entrypoint for it
    # The base domain's wildcard by DNS-01 (exec script); the custom domain follows the base
    # domain's strategy and is validated over HTTP-01 through Traefik and the edge.
    await services.tls.set_base(admin, {"strategy": "wharf"})
    assert sorted(await services.issuer.run_once()) == ["base", SHOP]

    root = pebble.root_pem()
    await until("the custom domain's certificate", lambda: verifies(stack.https_port, SHOP, root))
    for sni in (BASE_DOMAIN, f"shop.{BASE_DOMAIN}", f"abcdefabcdef--shop.{BASE_DOMAIN}"):
        assert verifies(stack.https_port, sni, root), sni
    wildcard = presented(stack.https_port, f"shop.{BASE_DOMAIN}")
    assert fingerprint(presented(stack.https_port, BASE_DOMAIN)) == fingerprint(wildcard)
    assert SHOP not in str(wildcard.subject) and fingerprint(
        presented(stack.https_port, SHOP)
    ) != fingerprint(wildcard)
    # An unknown name gets the base domain's certificate, not Traefik's self-signed one.
    assert fingerprint(presented(stack.https_port, "nobody.elsewhere.test")) == fingerprint(
        wildcard
    )
    # Served through to the edge over HTTPS; plain HTTP redirects.
    status, headers = get(stack.https_port, SHOP, root)
    assert "x-wharf-deploy" in headers, status
    status, headers = get(stack.http_port, SHOP)
    assert status.split()[1] in ("301", "308")
    assert headers["location"] == f"https://{SHOP}/a?b=1"

    # The expiry gauge and the API's status.
    domain = next(d for d in await services.store.domain_tls() if d.hostname == SHOP)
    owner = Owner(domain_id=domain.domain_id)
    stored = await services.store.certificate(owner)
    assert stored is not None and stored.source == "acme"
    gauge = REGISTRY.get_sample_value("wharf_certificate_expiry_seconds", {"certificate": SHOP})
    assert gauge is not None
    assert abs(gauge - (stored.not_after - datetime.now(UTC)).total_seconds()) < 120
    view = await services.tls.site(admin, "shop")
    assert view.domains[0].certificate is not None
    assert view.domains[0].certificate.fingerprint == stored.fingerprint
    # The issued key: in no log line, and on disk only in Traefik's file, which is 0600.
    key_line = services.tls.box.open(stored.key_encrypted).reveal().splitlines()[1]
    assert key_line not in caplog.text
    [holder] = files_holding(stack.settings.data_dir, key_line)
    assert holder == stack.settings.traefik_watched_dir / "wharf.yml"
    assert holder.stat().st_mode & 0o077 == 0

    # Not due 31 days before expiry; due at 29: renewed while handshakes run without a pause.
    assert await services.issuer.run_once(now=stored.not_after - timedelta(days=31)) == []
    old = fingerprint(presented(stack.https_port, SHOP))
    seen: list[str] = []
    stop = threading.Event()

    def handshakes() -> None:
        while not stop.is_set():
            seen.append(fingerprint(presented(stack.https_port, SHOP)))

    worker = threading.Thread(target=handshakes)
    worker.start()
    try:
        renewed = await services.issuer.run_once(now=stored.not_after - timedelta(days=29))
        assert SHOP in renewed
        new = (await services.store.certificate(owner)).fingerprint  # type: ignore[union-attr]
        await until("the renewed certificate", lambda: new in seen[-5:])
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert new != old
    assert set(seen) == {old, new}, "a handshake saw a certificate that is neither"
    assert seen[-1] == new and len(seen) > 20


async def test_tls_wharf_failures_back_off_and_the_account_is_kept(stack: Stack) -> None:
    services, admin = stack.services, stack.admin
    await services.sites.create(admin, "shop")
    await services.domains.add(admin, "shop", "nowhere.shop.example")
    await services.domains.mark_verified(admin, "shop", "nowhere.shop.example")
    stack.pebble.add_a("nowhere.shop.example", "127.0.0.2")  # where nothing listens
    await services.tls.set_site(admin, "shop", {"strategy": "wharf"})
    assert await services.issuer.run_once() == []
    [domain] = await services.store.domain_tls()
    assert (
        domain.attempts == 1 and domain.last_error and "nowhere.shop.example" in domain.last_error
    )
    assert domain.retry_at is not None
    first_wait = (domain.retry_at - datetime.now(UTC)).total_seconds()
    assert 50 < first_wait <= 60
    view = await services.tls.site(admin, "shop")
    assert view.domains[0].last_error == domain.last_error
    # Not again before its time; then again, waiting twice as long after the second failure.
    assert await services.issuer.run_once() == []
    assert (await services.store.domain_tls())[0].attempts == 1
    assert await services.issuer.run_once(now=domain.retry_at + timedelta(seconds=1)) == []
    [again] = await services.store.domain_tls()
    assert again.attempts == 2 and again.retry_at is not None
    assert 110 < (again.retry_at - datetime.now(UTC)).total_seconds() <= 120

    # The install's ACME account is stored (key encrypted) and found again after a restart.
    stored = await services.store.acme_account(stack.settings.acme_directory)
    assert stored is not None and stored[1] is not None
    assert "PRIVATE KEY" not in stored[0]
    restarted = issuer_for(stack.settings, services.store, services.tls.box)
    assert await restarted.account_url() == stored[1]


async def test_tls_traefik_strategy_gets_certificates_from_traefiks_own_resolvers(
    stack: Stack,
) -> None:
    services, pebble, admin = stack.services, stack.pebble, stack.admin
    await services.sites.create(admin, "blog")
    await services.domains.add(admin, "blog", "blog.example")
    await services.domains.mark_verified(admin, "blog", "blog.example")
    pebble.add_a("blog.example")  # pebble's TLS-ALPN-01 check reaches Traefik's https entrypoint
    await services.tls.set_base(admin, {"strategy": "traefik"})
    root = pebble.root_pem()
    # The custom domain by TLS-ALPN-01, the base domain's wildcard by DNS-01 (lego's exec).
    await until("blog.example", lambda: verifies(stack.https_port, "blog.example", root), 60)
    # Longer than lego's 60 s DNS propagation timeout, so that a failure is in Traefik's log.
    await until("the wildcard", lambda: verifies(stack.https_port, f"blog.{BASE_DOMAIN}", root), 90)
    wildcard = presented(stack.https_port, f"blog.{BASE_DOMAIN}")
    names = wildcard.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == [f"*.{BASE_DOMAIN}", BASE_DOMAIN]
    assert fingerprint(presented(stack.https_port, "blog.example")) != fingerprint(wildcard)
    # Wharf holds none of these: Traefik keeps them in its acme.json, and says how in its log.
    assert await services.store.certificates() == []
    log = stack.settings.layout.traefik_log.read_text()
    assert "dns01: waiting for record propagation" in log and "domain=*.sites.test" in log
    status, headers = get(stack.http_port, "blog.example")
    assert status.split()[1] in ("301", "308") and headers["location"].startswith("https://")
