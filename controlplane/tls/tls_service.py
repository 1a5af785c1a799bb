"""TLS strategies: which one each host uses, uploaded certificates, and the operations on them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast, get_args

from controlplane.domains.domain_service import stored_hostname
from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.models import (
    BASE,
    BaseTls,
    CertificateSource,
    DomainTls,
    HostsStatus,
    NewCertificate,
    Owner,
    Site,
    SiteTls,
    SiteTlsView,
    StoredCertificate,
    Strategy,
    User,
)
from controlplane.secrets import Secret, SecretBox
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.tls.certificates import CertificateInfo, check_certificate, covers

STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
# A CA issues these for any host: custom domains follow the base domain's choice of one.
ISSUING = ("traefik", "wharf")
# These serve a certificate someone uploaded (a Cloudflare origin certificate is one).
UPLOADED = ("custom", "cloudflare")
HSTS_MAX = 63072000  # two years, the preload list's requirement
_FIELDS = {"strategy", "redirect_https", "hsts_max_age", "certificate", "chain", "key"}


def site_strategy(base: BaseTls, site: SiteTls | None) -> Strategy:
    """A site's strategy for its custom domains: its own, else the base domain's if a CA's."""
    if site is not None and site.strategy is not None:
        return site.strategy
    return base.strategy if base.strategy in ISSUING else "none"


def in_use(strategy: Strategy, certificate: StoredCertificate | None) -> bool:
    """Whether a stored certificate is the one a strategy serves (an upload for custom, …)."""
    if certificate is None:
        return False
    return (strategy == "wharf" and certificate.source == "acme") or (
        strategy in UPLOADED and certificate.source == "upload"
    )


def domain_certificate(
    strategy: Strategy,
    own: StoredCertificate | None,
    site_upload: StoredCertificate | None,
    hostname: str,
) -> StoredCertificate | None:
    """The certificate a custom domain is served with: its own, else its site's upload if that
    covers it; None when Wharf holds none for it."""
    if in_use(strategy, own):
        return own
    if site_upload is not None and in_use(strategy, site_upload):
        return site_upload if covers(site_upload.names, hostname) else None
    return None


@dataclass(frozen=True)
class Upload:
    """A certificate, its chain and key as sent; the key is a Secret from the start."""

    certificate: str
    chain: str
    key: Secret


@dataclass(frozen=True)
class TlsChange:
    """A validated PUT body; None fields inherit (site, domain) or reset to the default."""

    strategy: Strategy | None
    redirect_https: bool | None
    hsts_max_age: int | None
    upload: Upload | None


def parse_change(body: dict[str, Any], *, inherit: bool) -> TlsChange:
    """Check a PUT body's fields; Invalid naming the first bad one."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}", code="invalid_tls")
    strategy = body.get("strategy")
    if strategy is None and not inherit:
        raise Invalid(f"strategy is one of {', '.join(STRATEGIES)}", code="invalid_strategy")
    if strategy is not None and strategy not in STRATEGIES:
        allowed = ", ".join(STRATEGIES) + (" or null (inherit)" if inherit else "")
        raise Invalid(f"strategy is one of {allowed}", code="invalid_strategy")
    redirect = body.get("redirect_https")
    if redirect is not None and not isinstance(redirect, bool):
        raise Invalid("redirect_https is true, false or null (auto)", code="invalid_tls")
    hsts = body.get("hsts_max_age")
    if hsts is not None and (
        isinstance(hsts, bool) or not isinstance(hsts, int) or not 0 <= hsts <= HSTS_MAX
    ):
        raise Invalid(f"hsts_max_age is 0 to {HSTS_MAX} seconds", code="invalid_tls")
    texts = {name: body.get(name) for name in ("certificate", "chain", "key")}
    for name, text in texts.items():
        if text is not None and not isinstance(text, str):
            raise Invalid(f"{name} is PEM text", code="invalid_tls")
    upload = None
    if any(texts.values()):
        if not (texts["certificate"] and texts["key"]):
            raise Invalid("upload the certificate and its key together", code="invalid_tls")
        if strategy not in UPLOADED:
            raise Invalid(
                "a certificate is uploaded with the custom or cloudflare strategy",
                code="invalid_tls",
            )
        upload = Upload(
            texts["certificate"] or "", texts["chain"] or "", Secret(texts["key"] or "")
        )
    return TlsChange(cast("Strategy | None", strategy), redirect, hsts, upload)


def sealed(
    box: SecretBox,
    source: CertificateSource,
    info: CertificateInfo,
    cert_pem: str,
    chain_pem: str,
    key: Secret,
) -> NewCertificate:
    """A checked certificate ready to store, its key sealed."""
    return NewCertificate(
        source=source,
        names=info.names,
        cert_pem=cert_pem.strip() + "\n",
        chain_pem=chain_pem.strip() + "\n" if chain_pem.strip() else "",
        key_encrypted=box.seal(key),
        issuer=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        fingerprint=info.fingerprint_sha256,
    )


def base_hostnames(base_domain: str) -> tuple[str, str]:
    """The names a base-domain certificate must cover: the base and its wildcard."""
    return base_domain, f"*.{base_domain}"


class Tls:
    """TLS operations on behalf of a user: read and change strategies, upload certificates."""

    def __init__(
        self,
        store: Store,
        sites: Sites,
        box: SecretBox,
        base_domain: str,
    ) -> None:
        self.store = store
        self.sites = sites
        self.box = box
        self.base_domain = base_domain

    async def base(self, actor: User) -> tuple[BaseTls, HostsStatus]:
        """The base domain's TLS (admins only)."""
        if not actor.is_admin:
            raise Forbidden("only admins see the base domain's TLS", code="admin_required")
        return await self._base_status()

    async def set_base(self, actor: User, body: dict[str, Any]) -> tuple[BaseTls, HostsStatus]:
        """Choose the base domain's strategy, redirect and HSTS; upload its certificate."""
        if not actor.is_admin:
            raise Forbidden("only admins change the base domain's TLS", code="admin_required")
        change = parse_change(body, inherit=False)
        assert change.strategy is not None
        await self._store_upload(BASE, change, list(base_hostnames(self.base_domain)))
        await self.store.set_base_tls(
            change.strategy, change.redirect_https, change.hsts_max_age or 0
        )
        return await self._base_status()

    async def site(self, actor: User, site_name: str) -> SiteTlsView:
        """A site's TLS and its custom domains' status."""
        return await self._site_view(await self.sites.get(actor, site_name))

    async def set_site(self, actor: User, site_name: str, body: dict[str, Any]) -> SiteTlsView:
        """Set a site's strategy for its custom domains, its redirect and HSTS; upload a
        certificate that covers every custom domain following the site's strategy."""
        site = await self.sites.get(actor, site_name)
        change = parse_change(body, inherit=True)
        following = [
            domain.hostname
            for domain in await self.store.domain_tls(site.id)
            if domain.strategy is None
        ]
        await self._store_upload(Owner(site_id=site.id), change, following)
        await self.store.set_site_tls(
            site.id, SiteTls(change.strategy, change.redirect_https, change.hsts_max_age)
        )
        return await self._site_view(site)

    async def set_domain(
        self, actor: User, site_name: str, hostname: str, body: dict[str, Any]
    ) -> SiteTlsView:
        """Set one verified custom domain's own strategy (null: the site's); upload its
        certificate."""
        site = await self.sites.get(actor, site_name)
        stored = stored_hostname(hostname, self.base_domain)
        domain = next(
            (d for d in await self.store.domain_tls(site.id) if d.hostname == stored), None
        )
        if domain is None:
            raise NotFound(
                f"{site.name} has no verified domain {hostname!r}", code="domain_not_found"
            )
        change = parse_change(body, inherit=True)
        if change.redirect_https is not None or change.hsts_max_age is not None:
            raise Invalid("redirect_https and hsts_max_age are set per site", code="invalid_tls")
        await self._store_upload(
            Owner(domain_id=domain.domain_id),
            change,
            [domain.hostname],
            fallback=Owner(site_id=site.id),
        )
        await self.store.set_domain_tls_strategy(domain.domain_id, change.strategy)
        return await self._site_view(site)

    async def _store_upload(
        self, owner: Owner, change: TlsChange, hostnames: list[str], fallback: Owner | None = None
    ) -> None:
        """Check and keep an uploaded certificate (off the event loop); an upload strategy
        without one needs one stored already (the owner's, or the fallback's: a domain's site)."""
        if change.upload is None:
            if change.strategy not in UPLOADED:
                return
            current = await self.store.certificate(owner)
            if fallback is not None and not (current and current.source == "upload"):
                current = await self.store.certificate(fallback)
            if current is None or current.source != "upload":
                raise Invalid(
                    f"the {change.strategy} strategy needs a certificate and key",
                    code="certificate_required",
                )
            # The names must still be covered (a domain may have been added meanwhile).
            missing = [host for host in hostnames if not covers(current.names, host)]
            if missing:
                raise Invalid(
                    f"the certificate does not cover {', '.join(missing)}",
                    code="names_do_not_cover",
                )
            return
        upload = change.upload
        info = await asyncio.to_thread(
            check_certificate,
            upload.certificate,
            upload.key.reveal(),
            upload.chain,
            hostnames,
        )
        await self.store.put_certificate(
            owner, sealed(self.box, "upload", info, upload.certificate, upload.chain, upload.key)
        )

    async def _base_status(self) -> tuple[BaseTls, HostsStatus]:
        base = await self.store.base_tls()
        certificate = await self.store.certificate(BASE)
        return base, self._base_view(
            base, certificate if in_use(base.strategy, certificate) else None
        )

    def _base_view(self, base: BaseTls, certificate: StoredCertificate | None) -> HostsStatus:
        """The base domain's status (certificate: the one its strategy serves)."""
        wharf = base.strategy == "wharf"
        return HostsStatus(
            base_hostnames(self.base_domain),
            base.strategy,
            base.strategy,
            certificate,
            base.last_error if wharf else None,
            base.retry_at if wharf else None,
        )

    async def _site_view(self, site: Site) -> SiteTlsView:
        served = await served_tls(self.store, site.id)
        base = served.base
        settings = served.sites.get(site.id, (site.name, SiteTls()))[1]
        default = site_strategy(base, settings)
        domains = []
        for item in served.domains:
            domain, effective = item.domain, item.strategy
            wharf = effective == "wharf"
            error = domain.last_error if wharf else None
            if effective in UPLOADED and item.certificate is None:
                error = f"no uploaded certificate covers {domain.hostname}: upload one for it"
            domains.append(
                HostsStatus(
                    (domain.hostname,),
                    domain.strategy,
                    effective,
                    item.certificate,
                    error,
                    domain.retry_at if wharf else None,
                )
            )
        site_upload = served.certificates.get(Owner(site_id=site.id))
        return SiteTlsView(
            settings,
            default,
            settings.redirect_https,
            base.hsts_max_age if settings.hsts_max_age is None else settings.hsts_max_age,
            site_upload if in_use(default, site_upload) else None,
            self._base_view(base, served.base_certificate),
            tuple(domains),
        )


@dataclass(frozen=True)
class ServedDomain:
    """A verified custom domain: the strategy in effect and the certificate Wharf serves it with."""

    domain: DomainTls
    strategy: Strategy
    site: SiteTls  # its site's settings
    certificate: StoredCertificate | None


@dataclass(frozen=True)
class ServedTls:
    """Every TLS choice as stored, resolved: what is in effect and which certificate serves."""

    base: BaseTls
    base_certificate: StoredCertificate | None  # the base domain's, when its strategy serves it
    sites: dict[int, tuple[str, SiteTls]]  # site id -> (name, settings) of sites that set some
    certificates: dict[Owner, StoredCertificate]  # every stored one, in use or not
    domains: list[ServedDomain]


async def served_tls(store: Store, site_id: int | None = None) -> ServedTls:
    """The TLS of the base domain and of every verified custom domain (or one site's)."""
    base = await store.base_tls()
    stored = {cert.owner: cert for cert in await store.certificates()}
    sites = await store.site_tls()
    domains = []
    for domain in await store.domain_tls(site_id):
        own = sites.get(domain.site_id, ("", SiteTls()))[1]
        strategy = domain.strategy or site_strategy(base, own)
        certificate = domain_certificate(
            strategy,
            stored.get(Owner(domain_id=domain.domain_id)),
            stored.get(Owner(site_id=domain.site_id)),
            domain.hostname,
        )
        domains.append(ServedDomain(domain, strategy, own, certificate))
    base_certificate = stored.get(BASE)
    return ServedTls(
        base,
        base_certificate if in_use(base.strategy, base_certificate) else None,
        sites,
        stored,
        domains,
    )
