"""The ACME client against a real pebble: HTTP-01, DNS-01 wildcards, account reuse, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rdatatype
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controlplane.secrets import Secret
from controlplane.tls.acme_client import AcmeClient, AcmeError, IssuedCertificate
from controlplane.tls.certificates import check_certificate, covers
from controlplane.tls.dns_providers import DnsProviderError
from tests.harness.ports import free_port
from tests.pebble import DEBIAN_PACKAGE, Pebble, available, running_pebble

pytestmark = pytest.mark.slow
EMAIL = "ops@example.test"


@pytest.fixture(scope="module")
def pebble() -> Iterator[Pebble]:
    """One pebble for the module; it reuses an account's valid authorizations every time."""
    assert available(), f"install Debian's {DEBIAN_PACKAGE} package (make debian-deps, as root)"
    with running_pebble(free_port(), authz_reuse=100) as server:
        yield server


@pytest.fixture(autouse=True)
def pebble_logs_on_failure(
    request: pytest.FixtureRequest, pebble: Pebble, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Print pebble's and challtestsrv's logs when the test failed."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        with capsys.disabled():
            print(f"\n{request.node.name}:\n{pebble.logs()}")


class Responder:
    """Stands in for the edge: serves /.well-known/acme-challenge/<token> from one directory."""

    def __init__(self, challenge_dir: Path) -> None:
        self.challenge_dir = challenge_dir
        self.served: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        path = self.challenge_dir / token
        if not path.is_file():
            return web.Response(status=404)
        self.served.append(token)
        return web.Response(body=path.read_bytes(), content_type="text/plain")


@pytest.fixture
async def responder(pebble: Pebble, tmp_path: Path) -> AsyncIterator[Responder]:
    """An HTTP-01 responder on the port pebble validates against, over tmp_path/acme."""
    served = Responder(tmp_path / "acme")
    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", pebble.http_port).start()
    yield served
    await runner.cleanup()


class ChalltestsrvDns:
    """A DnsProvider on challtestsrv's management API, remembering what it published."""

    def __init__(self, pebble: Pebble) -> None:
        self.pebble = pebble
        self.records: dict[str, list[str]] = {}
        self.added: list[tuple[str, str]] = []

    async def add_txt(self, fqdn: str, value: str) -> None:
        self.added.append((fqdn, value))
        self.records.setdefault(fqdn, []).append(value)
        await asyncio.to_thread(self.pebble.set_txt, fqdn, value)

    async def remove_txt(self, fqdn: str, value: str) -> None:
        left = [other for other in self.records.pop(fqdn, []) if other != value]
        # challtestsrv clears every value of a name at once: put back those still wanted.
        await asyncio.to_thread(self.pebble.clear_txt, fqdn)
        for other in left:
            await asyncio.to_thread(self.pebble.set_txt, fqdn, other)
        if left:
            self.records[fqdn] = left


def client(pebble: Pebble, key: Secret | None = None) -> AcmeClient:
    return AcmeClient(pebble.directory_url, key, EMAIL, ca_bundle=pebble.ca_bundle, timeout=10)


def assert_chains_to_pebble_root(issued: IssuedCertificate, pebble: Pebble) -> None:
    """The last certificate of the chain is issued by the root pebble generated at start."""
    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    root = x509.load_pem_x509_certificate(pebble.root_pem().encode())
    assert chain, "the chain is empty"
    chain[-1].verify_directly_issued_by(root)


async def txt_values(pebble: Pebble, name: str) -> list[str]:
    """The TXT values challtestsrv's DNS answers for name right now."""
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    answer = await dns.asyncquery.udp(query, "127.0.0.1", port=pebble.dns_port, timeout=2)
    return [
        b"".join(record.strings).decode()
        for rrset in answer.answer
        for record in rrset
        if rrset.rdtype == dns.rdatatype.TXT
    ]


async def test_acme_http01_issues_a_checked_certificate_and_removes_the_file(
    pebble: Pebble, responder: Responder
) -> None:
    pebble.add_a("www.example.test")
    issued = await client(pebble).issue_http01(["www.example.test"], responder.challenge_dir)
    info = check_certificate(
        issued.cert_pem, issued.key_pem.reveal(), issued.chain_pem, ["www.example.test"]
    )
    assert info.names == ("www.example.test",)
    assert_chains_to_pebble_root(issued, pebble)
    key = serialization.load_pem_private_key(issued.key_pem.reveal().encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert "PRIVATE" not in repr(issued)
    # Pebble fetched the token from the responder while it was there, and the file is gone now.
    assert len(responder.served) >= 1
    assert list(responder.challenge_dir.iterdir()) == []


async def test_acme_dns01_issues_a_wildcard_and_removes_the_records(pebble: Pebble) -> None:
    provider = ChalltestsrvDns(pebble)
    issued = await client(pebble).issue_dns01(["*.example.test", "example.test"], provider)
    info = check_certificate(
        issued.cert_pem,
        issued.key_pem.reveal(),
        issued.chain_pem,
        ["example.test", "*.example.test", "blog.example.test"],
    )
    assert sorted(info.names) == ["*.example.test", "example.test"]
    assert not covers(info.names, "a.b.example.test")
    assert_chains_to_pebble_root(issued, pebble)
    # One TXT value per authorization, both at the name without "*.", all withdrawn afterwards.
    assert [fqdn for fqdn, _ in provider.added] == ["_acme-challenge.example.test"] * 2
    assert len({value for _, value in provider.added}) == 2
    assert provider.records == {}
    assert await txt_values(pebble, "_acme-challenge.example.test.") == []


async def test_acme_same_account_key_in_a_new_client_finds_the_same_account(
    pebble: Pebble, responder: Responder
) -> None:
    first = client(pebble)
    account = await first.register()
    await first.issue_http01(["reuse.example.test"], responder.challenge_dir)
    served = len(responder.served)

    # As after a restart: a new client from the stored key PEM.
    stored = first.account_key_pem.reveal()
    again = client(pebble, Secret(stored))
    assert await again.register() == account
    # Pebble reuses this account's valid authorization, so no challenge is presented again:
    # proof that the new client signs as the same account.
    issued = await again.issue_http01(["reuse.example.test"], responder.challenge_dir)
    check_certificate(
        issued.cert_pem, issued.key_pem.reveal(), issued.chain_pem, ["reuse.example.test"]
    )
    assert len(responder.served) == served
    assert await client(pebble).register() != account  # a fresh key is a new account


async def test_acme_http01_failure_raises_a_readable_error_and_leaves_no_file(
    pebble: Pebble, tmp_path: Path
) -> None:
    challenge_dir = tmp_path / "acme"
    # Nothing listens on pebble's HTTP-01 port in this test.
    with pytest.raises(AcmeError) as raised:
        await client(pebble).issue_http01(["fail.example.test"], challenge_dir)
    message = str(raised.value)
    assert message.startswith("the CA could not validate fail.example.test (http-01): ")
    assert "connection refused" in message.lower()
    assert list(challenge_dir.iterdir()) == []


async def test_acme_dns_provider_failure_withdraws_what_was_published(pebble: Pebble) -> None:
    class FailsSecond(ChalltestsrvDns):
        async def add_txt(self, fqdn: str, value: str) -> None:
            if self.added:
                raise DnsProviderError("the DNS API said no")
            await super().add_txt(fqdn, value)

    provider = FailsSecond(pebble)
    with pytest.raises(AcmeError, match=r"cannot publish the TXT record .*: the DNS API said no"):
        await client(pebble).issue_dns01(["*.fails.example.test", "fails.example.test"], provider)
    assert len(provider.added) == 1
    assert provider.records == {}


async def test_acme_http01_refuses_wildcards_before_asking_the_ca(tmp_path: Path) -> None:
    acme = AcmeClient("https://127.0.0.1:1/dir", None, None)
    with pytest.raises(AcmeError, match=r"HTTP-01 cannot validate the wildcard \*\.example\.test"):
        await acme.issue_http01(["*.example.test"], tmp_path)
    with pytest.raises(AcmeError, match="is not a DNS name"):
        await acme.issue_http01(["../etc"], tmp_path)


async def test_acme_untrusted_or_unreachable_ca_raises_acme_error(pebble: Pebble) -> None:
    # Pebble's listener certificate is signed by the test's own CA, which only ca_bundle names.
    with pytest.raises(AcmeError, match=r"cannot reach the CA .*CERTIFICATE_VERIFY_FAILED"):
        await AcmeClient(pebble.directory_url, None, EMAIL).register()
    with pytest.raises(AcmeError, match="cannot reach the CA"):
        await AcmeClient(f"https://127.0.0.1:{free_port()}/dir", None, EMAIL).register()


def test_acme_bad_account_key_is_refused_without_quoting_it() -> None:
    junk = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n"
    with pytest.raises(AcmeError) as raised:
        AcmeClient("https://127.0.0.1:1/dir", Secret(junk), None)
    assert "c2VjcmV0" not in str(raised.value)
    small = AcmeClient.new_account_key()
    assert "BEGIN PRIVATE KEY" in small.reveal() and "BEGIN" not in repr(small)
