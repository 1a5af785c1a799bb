"""The wharf TLS strategy: issue and renew certificates from an ACME CA, retrying with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import Gauge

from controlplane.errors import Invalid
from controlplane.models import BASE, Owner, StoredCertificate
from controlplane.secrets import SecretBox
from controlplane.store import Store
from controlplane.tls.acme_client import AcmeClient, AcmeError
from controlplane.tls.certificates import check_certificate, covers
from controlplane.tls.dns_providers import DnsProvider
from controlplane.tls.tls_service import base_hostnames, sealed, served_tls

log = logging.getLogger(__name__)

EXPIRY = Gauge(
    "wharf_certificate_expiry_seconds",
    "Seconds until a certificate Wharf serves expires",
    ["certificate"],
)
# Failed issuance: wait 1 minute, then twice as long after each failure, at most 12 hours
# (Let's Encrypt allows 5 failed validations per hostname an hour).
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=12)


@dataclass(frozen=True)
class IssuerOptions:
    """Where certificates come from and how early they are renewed."""

    base_domain: str
    directory_url: str
    contact_email: str | None
    ca_bundle: Path | None
    challenge_dir: Path  # the edge serves HTTP-01 answers from here
    dns: DnsProvider | None  # for wildcards (DNS-01)
    propagation_wait: float
    renew_before: timedelta


@dataclass(frozen=True)
class Order:
    """One certificate to issue or renew."""

    owner: Owner
    names: tuple[str, ...]
    label: str  # "base" or the custom hostname: for logs and the expiry gauge
    failures: int = 0  # failed attempts since the last success


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts (1 or more)."""
    doublings = min(max(attempts - 1, 0), 20)  # 2**20 minutes is far past the cap already
    return min(RETRY_FIRST * (1 << doublings), RETRY_MAX)


def needs_issuing(
    certificate: StoredCertificate | None,
    names: tuple[str, ...],
    now: datetime,
    renew_before: timedelta,
) -> bool:
    """Whether there is no ACME certificate for the names, or it is due for renewal."""
    if certificate is None or certificate.source != "acme":
        return True
    if not all(covers(certificate.names, name) for name in names):
        return True
    return certificate.not_after - now <= renew_before


class CertificateIssuer:
    """Keeps every host under the wharf strategy holding a valid certificate."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        options: IssuerOptions,
    ) -> None:
        self.store = store
        self.box = box
        self.options = options
        self._client: AcmeClient | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for work now (a strategy changed, a domain was verified)."""
        self._wake.set()

    async def orders(self, now: datetime) -> list[Order]:
        """What is due: missing, no longer matching, or expiring within the renewal window."""
        served = await served_tls(self.store)
        base = served.base
        candidates: list[tuple[Order, StoredCertificate | None, datetime | None]] = []
        if base.strategy == "wharf":
            names = base_hostnames(self.options.base_domain)
            order = Order(BASE, names, "base", base.attempts)
            candidates.append((order, served.base_certificate, base.retry_at))
        for item in served.domains:
            domain = item.domain
            if item.strategy == "wharf":
                owner = Owner(domain_id=domain.domain_id)
                order = Order(owner, (domain.hostname,), domain.hostname, domain.attempts)
                candidates.append((order, item.certificate, domain.retry_at))
        return [
            order
            for order, certificate, retry_at in candidates
            if (retry_at is None or retry_at <= now)
            and needs_issuing(certificate, order.names, now, self.options.renew_before)
        ]

    async def run_once(self, now: datetime | None = None) -> list[str]:
        """Issue what is due (now: the moment to judge expiry by); the labels issued. Nothing
        when another process is issuing: two would order the same certificates."""
        async with self.store.issuer_lock() as mine:
            issued = await self._issue_due(now or datetime.now(UTC)) if mine else []
        await self.refresh_gauge()
        return issued

    async def _issue_due(self, now: datetime) -> list[str]:
        """Issue every due order, recording failures; the labels issued."""
        issued = []
        for order in await self.orders(now):
            try:
                await self._issue(order)
            except (AcmeError, Invalid) as exc:
                attempts = order.failures + 1
                retry_at = datetime.now(UTC) + retry_delay(attempts)
                message = exc.message if isinstance(exc, Invalid) else str(exc)
                await self.store.record_issuance_failure(order.owner, message, retry_at)
                log.warning(
                    "tls: cannot issue for %s (attempt %d, next at %s): %s",
                    order.label,
                    attempts,
                    retry_at.isoformat(timespec="seconds"),
                    message,
                )
                continue
            issued.append(order.label)
        return issued

    async def _issue(self, order: Order) -> None:
        """Order, validate and store one certificate."""
        client = await self._acme()
        names = list(order.names)
        if any(name.startswith("*.") for name in names):
            if self.options.dns is None:
                raise AcmeError(
                    f"{order.names[-1]} needs a DNS-01 challenge: set WHARF_DNS_PROVIDER"
                )
            certificate = await client.issue_dns01(
                names, self.options.dns, propagation_wait=self.options.propagation_wait
            )
        else:
            certificate = await client.issue_http01(names, self.options.challenge_dir)
        info = await asyncio.to_thread(
            check_certificate,
            certificate.cert_pem,
            certificate.key_pem.reveal(),
            certificate.chain_pem,
            names,
        )
        await self.store.put_certificate(
            order.owner,
            sealed(
                self.box,
                "acme",
                info,
                certificate.cert_pem,
                certificate.chain_pem,
                certificate.key_pem,
            ),
        )
        log.info("tls: issued a certificate for %s until %s", order.label, info.not_after)

    async def account_url(self) -> str:
        """The install's account at the CA (registered, or found by its stored key)."""
        url = (await self._acme()).account_url
        assert url is not None
        return url

    async def _acme(self) -> AcmeClient:
        """The ACME client under the install's account at the directory (made on first use)."""
        if self._client is not None:
            return self._client
        directory = self.options.directory_url
        stored = await self.store.acme_account(directory)
        if stored is None:
            # Two processes may race here: save_acme_account keeps the first key stored.
            new_key = self.box.seal(AcmeClient.new_account_key())
            stored = await self.store.save_acme_account(directory, new_key, None)
        try:
            key = self.box.open(stored[0])
        except ValueError as exc:
            raise AcmeError(f"the stored ACME account key: {exc}") from None
        client = AcmeClient(
            directory, key, self.options.contact_email, ca_bundle=self.options.ca_bundle
        )
        url = await client.register()
        if stored[1] != url:
            await self.store.save_acme_account(directory, stored[0], url)
        self._client = client
        return client

    async def refresh_gauge(self, now: datetime | None = None) -> None:
        """Set the expiry gauge for every certificate Wharf serves, and only those."""
        now = now or datetime.now(UTC)
        served = await served_tls(self.store)
        serving: dict[str, StoredCertificate] = {}
        if served.base_certificate is not None:
            serving["base"] = served.base_certificate
        for item in served.domains:
            cert = item.certificate
            if cert is not None and cert.site_id is not None:
                site = served.sites.get(cert.site_id, (str(cert.site_id),))[0]
                serving[f"site:{site}"] = cert
            elif cert is not None:
                serving[item.domain.hostname] = cert
        EXPIRY.clear()
        for label, cert in serving.items():
            EXPIRY.labels(label).set((cert.not_after - now).total_seconds())

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Check every interval seconds, or when woken, until stop is set."""
        while not stop.is_set():
            self._wake.clear()  # a wake during the run below starts the next one at once
            try:
                await self.run_once()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("tls: the certificate check failed")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED), interval
                )
            for waiter in waiters:
                waiter.cancel()
