"""The static configuration of the Traefik that `wharf up` runs (entrypoint names as Coolify's)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Resolvers:
    """Traefik's own ACME resolvers, for the traefik TLS strategy."""

    directory_url: str
    email: str | None
    storage: Path  # Traefik's acme.json (it keeps the account and certificates there)
    cert_resolver: str  # TLS-ALPN-01 on the https entrypoint
    wildcard_resolver: str  # DNS-01 through lego's provider of the same name
    dns_provider: str | None  # lego's provider name: exec or cloudflare; None: no DNS resolver
    dns_servers: tuple[str, ...] = ()  # host:port of the DNS servers lego checks records with


def cloudflare_ranges() -> tuple[str, ...]:
    """Cloudflare's published proxy ranges, as kept in the package (see the file to refresh)."""
    text = resources.files("controlplane.traefik").joinpath("data/cloudflare-ips.txt").read_text()
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def _resolvers(acme: Resolvers) -> dict[str, Any]:
    """certificatesResolvers: TLS-ALPN-01, and DNS-01 when a DNS provider is configured.

    Not HTTP-01: Traefik would then answer every /.well-known/acme-challenge/ request itself
    (a router above all others), and the wharf strategy's HTTP-01 answers would never reach
    the edge.
    """

    def resolver(challenge: dict[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "caServer": acme.directory_url,
            "storage": str(acme.storage),
            "keyType": "EC256",  # RSA4096, Traefik's default, takes seconds to generate
        }
        if acme.email:
            config["email"] = acme.email
        return {"acme": {**config, **challenge}}

    resolvers = {acme.cert_resolver: resolver({"tlsChallenge": {}})}
    if acme.dns_provider:
        dns: dict[str, Any] = {"provider": acme.dns_provider}
        if acme.dns_servers:
            # Check the TXT records through these servers only: lego's check of the zone's
            # authoritative servers needs an SOA answer that split or test DNS may not give.
            dns["resolvers"] = list(acme.dns_servers)
            dns["propagation"] = {"disableANSChecks": True}
        resolvers[acme.wildcard_resolver] = resolver({"dnsChallenge": dns})
    return resolvers


def render_static(
    http: tuple[str, int],
    https: tuple[str, int],
    api: tuple[str, int],
    dynamic_dir: Path,
    *,
    acme: Resolvers | None = None,
    trusted_ips: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Entrypoints http/https, the API on its own loopback entrypoint, the file provider; ACME
    resolvers; X-Forwarded-* trusted from trusted_ips (Cloudflare's ranges) when given."""

    def address(listen: tuple[str, int]) -> str:
        host, port = listen
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    entry_points: dict[str, Any] = {
        "http": {"address": address(http)},
        "https": {"address": address(https)},
        "traefik": {"address": address(api)},
    }
    for name in ("http", "https"):
        # Idle keep-alive connections (an ACME validator's) would hold a stop for 10 s.
        entry_points[name]["transport"] = {"lifeCycle": {"graceTimeOut": "3s"}}
        if trusted_ips:
            entry_points[name]["forwardedHeaders"] = {"trustedIPs": list(trusted_ips)}
    static: dict[str, Any] = {
        "entryPoints": entry_points,
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        # Traefik waits this long after one config change before applying the next (2 s by
        # default): a domain added then verified at once would otherwise wait 2 s to route.
        "providers": {
            "providersThrottleDuration": "50ms",
            "file": {"directory": str(dynamic_dir), "watch": True},
        },
        # INFO: lego logs each ACME step (solver, propagation wait, validation) at that level,
        # the one record of why a certificate of the traefik TLS strategy did not come.
        "log": {"level": "INFO", "noColor": True},
    }
    if acme is not None:
        static["certificatesResolvers"] = _resolvers(acme)
    return static
