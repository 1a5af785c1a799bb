"""The composition root: every long-lived service of one process, built from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from controlplane.accounts.account_service import Accounts
from controlplane.accounts.external_sign_in import ExternalSignIn, SignInOptions, client_for
from controlplane.accounts.providers import configured_providers
from controlplane.config import ConfigError, Settings
from controlplane.deploys.archive import ArchiveLimits
from controlplane.deploys.build_worker import BuildWorker, WorkerOptions
from controlplane.deploys.canary_service import Canaries
from controlplane.deploys.deploy_service import Deploys
from controlplane.deploys.live_pointers import LivePointers
from controlplane.deploys.probe_service import ProbeOptions, PublishProbes
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.deploys.retention import RetentionPolicy, retention_loop
from controlplane.domains.domain_service import DomainOptions, Domains
from controlplane.gates.gate_service import GateOptions, Gates
from controlplane.monitoring.monitor import Monitor, MonitorOptions
from controlplane.names import reserved_site_names
from controlplane.routing.reconciler import Routing
from controlplane.runtime.database import open_store
from controlplane.secrets import Secret, SecretBox, derive_key, load_or_create_secret_key
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.tls.dns_providers import DnsProvider, DnsProviderError, provider_from_config
from controlplane.tls.issuer import CertificateIssuer, IssuerOptions
from controlplane.tls.tls_service import Tls
from controlplane.webhooks.webhook_delivery import DeliveryOptions, WebhookDeliverer
from controlplane.webhooks.webhook_service import WebhookOptions, Webhooks


def secret_key_for(settings: Settings) -> Secret:
    """The configured secret key, or the one generated once into the data directory."""
    return settings.secret_key or load_or_create_secret_key(settings.data_dir)


def archive_limits(settings: Settings) -> ArchiveLimits:
    """The upload limits from the settings."""
    return ArchiveLimits(
        max_upload_bytes=settings.max_upload_bytes,
        max_file_bytes=settings.max_file_bytes,
        max_entries=settings.max_entries,
        max_total_bytes=settings.max_total_bytes,
        max_ratio=float(settings.max_compression_ratio),
    )


def accounts_for(settings: Settings, store: Store) -> Accounts:
    """The account service for these settings (also what the CLI's user commands use)."""
    return Accounts(
        store,
        derive_key(secret_key_for(settings), "jwt"),
        access_token_ttl=settings.access_token_ttl,
        max_failures=settings.login_max_failures,
        failure_window=settings.login_window,
    )


def sign_in_for(settings: Settings, store: Store, accounts: Accounts) -> ExternalSignIn:
    """Sign-in with the providers these settings configure (none: no buttons)."""
    return ExternalSignIn(
        store,
        accounts,
        {config.key: client_for(config) for config in configured_providers(settings)},
        derive_key(secret_key_for(settings), "sign-in-flows"),
        SignInOptions(
            browser_url=settings.browser_url,
            allowed_domains=settings.oauth_allowed_domains,
            allowed_orgs=settings.oauth_allowed_github_orgs,
            max_failures=settings.login_max_failures,
            failure_window=settings.login_window,
        ),
    )


def dns_provider_for(settings: Settings) -> DnsProvider | None:
    """The DNS-01 provider the settings name, or None; ConfigError when it cannot be built."""
    if settings.dns_provider is None:
        return None
    token = settings.cloudflare_api_token
    options = {
        "exec": {"script": settings.dns_exec_script or ""},
        "cloudflare": {"api_token": token.reveal() if token else ""},
    }[settings.dns_provider]
    try:
        return provider_from_config(settings.dns_provider, options)
    except DnsProviderError as exc:
        raise ConfigError(f"WHARF_DNS_PROVIDER: {exc}") from None


def issuer_for(settings: Settings, store: Store, box: SecretBox) -> CertificateIssuer:
    """The certificate issuer of the wharf strategy, for these settings."""
    return CertificateIssuer(
        store,
        box,
        IssuerOptions(
            base_domain=settings.base_domain,
            directory_url=settings.acme_directory,
            contact_email=settings.acme_email,
            ca_bundle=Path(settings.acme_ca_bundle) if settings.acme_ca_bundle else None,
            challenge_dir=settings.layout.acme_challenges,
            dns=dns_provider_for(settings),
            propagation_wait=float(settings.dns_propagation_wait),
            renew_before=timedelta(days=settings.tls_renew_days),
        ),
    )


def webhook_box(secret_key: Secret) -> SecretBox:
    """The box webhook secrets are sealed in: a key of their own, derived from the secret key."""
    return SecretBox(secret_key, "webhook-secrets")


def deliverer_for(settings: Settings, store: Store) -> WebhookDeliverer:
    """The webhook delivery loop for these settings."""
    return WebhookDeliverer(
        store,
        webhook_box(secret_key_for(settings)),
        DeliveryOptions(
            retry_delays=settings.webhook_retry_delays,
            timeout=float(settings.webhook_timeout),
            allow_private=settings.webhook_allow_private,
        ),
    )


@dataclass(frozen=True)
class Services:
    """Every long-lived domain object of one process."""

    settings: Settings
    store: Store
    files: ReleaseFiles
    accounts: Accounts
    sign_in: ExternalSignIn
    sites: Sites
    deploys: Deploys
    live_pointers: LivePointers
    routing: Routing
    domains: Domains
    gates: Gates
    tls: Tls
    issuer: CertificateIssuer
    probes: PublishProbes
    monitor: Monitor
    canaries: Canaries
    webhooks: Webhooks

    async def database_up(self) -> bool:
        """Whether the database answers."""
        try:
            await self.store.ping()
        except Exception:  # any failure to reach the database means it is down
            return False
        return True


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Open the database and build the services on it."""
    secret_key = secret_key_for(settings)
    files = ReleaseFiles(settings.data_dir)
    await asyncio.to_thread(files.ensure_dirs)
    async with open_store(settings) as store:
        box = SecretBox(secret_key)
        routing = Routing(settings, store, box)
        # Written before anything starts that reads it (wharf up's Traefik, the edge);
        # confirmed by the first round of `run`, once Traefik is up.
        await routing.reconcile(force=True, confirm=False)
        issuer = issuer_for(settings, store, box)
        # A change of routing may call for a certificate (a domain verified, a strategy set).
        routing.listeners.append(issuer.wake)
        reserved = reserved_site_names(
            settings.reserved_site_names, settings.control_host, settings.base_domain
        )
        sites = Sites(store, files, reserved)
        domains = Domains(
            store,
            sites,
            DomainOptions(
                base_domain=settings.base_domain,
                data_dir=settings.data_dir,
                allow_wildcard=settings.allow_wildcard_domains,
                dns_resolver=settings.dns_resolver,
                check_timeout=float(settings.domain_check_timeout),
                http_check_address=settings.http_check_address,
            ),
        )
        await domains.prune_challenges()
        gates = Gates(
            store,
            sites,
            derive_key(secret_key, "gates"),
            GateOptions(
                base_domain=settings.base_domain,
                site_link_template=settings.site_link_template,
                max_failures=settings.login_max_failures,
                failure_window=settings.login_window,
                browser_url=settings.browser_url,
                oauth_providers=tuple(c.key for c in configured_providers(settings)),
            ),
        )
        deploys = Deploys(store, files, sites, archive_limits(settings))
        accounts = accounts_for(settings, store)
        webhooks = Webhooks(
            store,
            sites,
            webhook_box(secret_key),
            WebhookOptions(allow_private=settings.webhook_allow_private),
        )
        probes = PublishProbes(
            store,
            files,
            deploys,
            ProbeOptions(settings.base_domain, settings.edge_upstream, settings.probe_traefik_url),
            webhooks.notify,
        )
        monitor = Monitor(
            store,
            sites,
            MonitorOptions(
                settings.base_domain,
                settings.edge_upstream,
                settings.probe_traefik_url,
                settings.probe_traefik_https,
            ),
            webhooks.notify,
        )
        try:
            yield Services(
                settings=settings,
                store=store,
                files=files,
                accounts=accounts,
                sign_in=sign_in_for(settings, store, accounts),
                sites=sites,
                deploys=deploys,
                live_pointers=LivePointers(store, files, deploys),
                routing=routing,
                domains=domains,
                gates=gates,
                tls=Tls(store, sites, box, settings.base_domain),
                issuer=issuer,
                probes=probes,
                monitor=monitor,
                canaries=Canaries(store, files, sites, deploys),
                webhooks=webhooks,
            )
        finally:
            await probes.close()
            await routing.close()


async def run_background(services: Services, stop: asyncio.Event, *, build: bool = True) -> None:
    """Until stop is set: the routing and live-pointer reconcilers, and with build the build
    worker, retention, the certificate issuer and the webhook delivery loop."""
    settings = services.settings
    reconcilers = [
        services.routing.run(stop, settings.routing_interval),
        services.live_pointers.run(stop, settings.reconcile_interval),
    ]
    if not build:
        await asyncio.gather(*reconcilers)
        return
    worker = BuildWorker(
        services.store,
        services.files,
        services.deploys,
        archive_limits(settings),
        WorkerOptions(
            lease_seconds=settings.job_lease,
            poll_seconds=settings.job_poll,
            minify_override=settings.minify,
            brotli_quality=settings.brotli_quality,
            base_domain=settings.base_domain,
        ),
        services.probes,
    )
    policy = RetentionPolicy(
        settings.retention_free, settings.retention_pro, settings.failed_retention_days
    )
    await asyncio.gather(
        worker.run(stop),
        retention_loop(services.store, services.files, policy, settings.retention_interval, stop),
        services.issuer.run(stop, settings.tls_check_interval),
        services.monitor.run(stop),
        deliverer_for(settings, services.store).run(stop),
        *reconcilers,
    )
