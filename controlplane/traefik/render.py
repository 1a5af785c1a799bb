"""The Traefik dynamic configuration as a pure function of Wharf's state: same state, same dict."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.models import Strategy
from controlplane.names import (
    ACME_PATH,
    CHALLENGE_PATH,
    HOST_PART_SEPARATOR,
    is_dns_label,
    site_hosts,
)
from controlplane.secrets import Secret
from controlplane.tls.certificates import covers
from controlplane.traefik.rule_strings import host_rule, subdomain_rule

EDGE_SERVICE = "wharf-edge"
CONTROL_SERVICE = "wharf-controlplane"
# Explicit priorities: Traefik's default is the rule's length, so a long wildcard regexp would
# beat a short custom Host() rule. Custom and gated hosts always outrank the wildcard.
# Everything under it on a password-gated host goes to the control plane (the login page).
GATE_PATH_PREFIX = "/.wharf/"
GATE_CHECK_PATH = "/.wharf/gate/check"
PRIORITY_WILDCARD = 10
# A site whose redirect or HSTS differs from the base domain's gets routers for its own hosts.
PRIORITY_SITE = 15
# A gated previews regexp matches only `<deploy-id>--<site>.<base>`: above the base wildcard.
PRIORITY_GATE_PREVIEWS = 20
# A gated wildcard custom domain outranks its own ungated router, never an exact custom host.
PRIORITY_DOMAIN_WILDCARD = 900
PRIORITY_GATE_WILDCARD = 901
PRIORITY_HOST = 1000
# An exact gated host outranks every other router for that host. The `/.wharf/` router of a
# password-gated host is its gate router's priority + 1: the login page itself is never gated.
PRIORITY_GATE_HOST = 1100
# The wharf strategy's HTTP-01 answers, on plain HTTP for every host, never redirected or gated.
PRIORITY_ACME = 5000
ACME_ROUTER = "wharf-acme-http01"
REDIRECT_MIDDLEWARE = "wharf-redirect-https"
VERSION_MIDDLEWARE = "wharf-routing-version"
VERSION_HEADER = "X-Wharf-Routing-Version"
# `tls.options: default` names Traefik's default TLS options: the same as `tls: {}`, without
# the empty map that validate() refuses.
_TLS_DEFAULT = {"options": "default"}


@dataclass(frozen=True)
class GateRoute:
    """A gated environment of a site: production, staging, or every preview ("previews")."""

    site: str
    environment: str
    mode: str  # basic (Traefik checks users); password or oauth (forwardAuth to the control plane)
    users: tuple[str, ...] = ()  # basic: `name:bcrypt-hash`, stored that way, never doubled `$`
    domains: tuple[str, ...] = ()  # verified custom domains of the environment


@dataclass(frozen=True)
class HostTls:
    """How hosts are served: HTTP only ("none"), or HTTPS too, with redirect and HSTS."""

    # The API's own word: none (HTTP only), traefik (Traefik's resolvers issue), or wharf,
    # custom or cloudflare (the certificate Wharf holds is served from tls.certificates).
    strategy: Strategy = "none"
    redirect: bool = False
    hsts_max_age: int = 0


@dataclass(frozen=True)
class TlsCertificate:
    """A certificate Traefik serves by SNI: the full chain, leaf first, and its key."""

    chain_pem: str
    key_pem: Secret


@dataclass(frozen=True)
class RoutingState:
    """What routing depends on."""

    base_domain: str
    edge_url: str
    entry_points: tuple[str, ...] = ("http",)
    tls_entry_points: tuple[str, ...] = ("https",)
    control_url: str | None = None
    control_host: str | None = None
    custom_domains: dict[str, str] = field(default_factory=dict)  # verified hostname -> site
    # Domains waiting for their HTTP ownership check: only the token path reaches the edge.
    pending_domains: tuple[str, ...] = ()
    gates: tuple[GateRoute, ...] = ()
    base_tls: HostTls = HostTls()  # the wildcard of the base domain
    site_tls: dict[str, HostTls] = field(default_factory=dict)  # a site's own hosts, if not base's
    domain_tls: dict[str, HostTls] = field(default_factory=dict)  # verified hostname -> its TLS
    certificates: tuple[TlsCertificate, ...] = ()
    default_certificate: TlsCertificate | None = None  # for an unknown SNI name
    cert_resolver: str = "letsencrypt"
    wildcard_resolver: str = "letsencrypt-dns"
    # The routing change this state includes (0: unnumbered). Rendered into a middleware no
    # router uses, so Traefik's API shows which file it has loaded, whole.
    version: int = 0


def site_routers(state: RoutingState, site: str) -> set[str]:
    """The routers that serve one site: the wildcard, its own hosts, custom domains and gates."""
    own = replace(
        state,
        custom_domains={host: name for host, name in state.custom_domains.items() if name == site},
        pending_domains=(),
        gates=tuple(gate for gate in state.gates if gate.site == site),
        site_tls={name: tls for name, tls in state.site_tls.items() if name == site},
        control_host=None,
    )
    return set(render(own)["http"]["routers"]) - {ACME_ROUTER}


class _Config:
    """The routers, services and middlewares being rendered."""

    def __init__(self, state: RoutingState) -> None:
        self.state = state
        self.routers: dict[str, Any] = {}
        self.middlewares: dict[str, Any] = {}

    def route(
        self,
        name: str,
        rule: str,
        priority: int,
        tls: HostTls,
        *,
        service: str = EDGE_SERVICE,
        middlewares: tuple[str, ...] = (),
        issue: dict[str, Any] | None = None,
    ) -> None:
        """A router on HTTP, and its `-tls` twin on HTTPS when the hosts have TLS.

        `issue` is the router's `tls` section under the traefik strategy (the routers that own
        a certificate ask Traefik's resolver for it; the others are served from the store).
        """
        router: dict[str, Any] = {
            "rule": rule,
            "entryPoints": list(self.state.entry_points),
            "service": service,
            "priority": priority,
        }
        if middlewares:
            router["middlewares"] = list(middlewares)
        self.routers[name] = router
        if tls.strategy == "none":
            return
        secure = {**router, "entryPoints": list(self.state.tls_entry_points)}
        secure["tls"] = issue if tls.strategy == "traefik" and issue else dict(_TLS_DEFAULT)
        if tls.hsts_max_age:
            hsts = f"wharf-hsts-{tls.hsts_max_age}"
            self.middlewares[hsts] = {"headers": {"stsSeconds": tls.hsts_max_age}}
            secure["middlewares"] = [hsts, *middlewares]
        self.routers[f"{name}-tls"] = secure
        if tls.redirect:
            # The redirect answers before any gate: it reveals nothing behind the gate.
            self.middlewares[REDIRECT_MIDDLEWARE] = {
                "redirectScheme": {"scheme": "https", "permanent": True}
            }
            router["middlewares"] = [REDIRECT_MIDDLEWARE]


def render(state: RoutingState) -> dict[str, Any]:
    """The dynamic configuration; empty sections are pruned (an empty map freezes Traefik)."""
    out = _Config(state)
    base = state.base_domain
    out.route(
        "wharf-sites",
        subdomain_rule(base),
        PRIORITY_WILDCARD,
        state.base_tls,
        issue={
            "certResolver": state.wildcard_resolver,
            "domains": [{"main": base, "sans": [f"*.{base}"]}],
        },
    )
    for site in sorted(state.site_tls):
        if state.site_tls[site] != state.base_tls:
            _render_site_hosts(out, site, state.site_tls[site])
    for hostname in sorted(state.custom_domains):
        wildcard = hostname.startswith("*.")
        out.route(
            _name("domain", hostname),
            subdomain_rule(hostname[2:]) if wildcard else host_rule(hostname),
            # An exact custom host beats a wildcard custom domain; both beat the base wildcard.
            PRIORITY_DOMAIN_WILDCARD if wildcard else PRIORITY_HOST,
            state.domain_tls.get(hostname, HostTls()),
            issue={
                "certResolver": state.wildcard_resolver,
                "domains": [{"main": hostname}],
            }
            if wildcard
            else {"certResolver": state.cert_resolver},
        )
    for hostname in sorted(set(state.pending_domains) - set(state.custom_domains)):
        out.route(
            _name("challenge", hostname),
            f"{host_rule(hostname)} && PathPrefix(`{CHALLENGE_PATH}`)",
            PRIORITY_HOST,
            HostTls(),
        )
    # Always there: a router added only when an order starts could still be loading when the
    # CA checks. Traefik's own HTTP-01 router, where one is configured, outranks it.
    out.route(ACME_ROUTER, f"PathPrefix(`{ACME_PATH}`)", PRIORITY_ACME, HostTls())
    for gate in sorted(state.gates, key=lambda gate: (gate.site, gate.environment)):
        _render_gate(out, gate)
    if state.control_url and state.control_host:
        # HTTPS (and its redirect) only where the base domain's certificate covers the host.
        covered = covers((base, f"*.{base}"), state.control_host)
        out.route(
            "wharf-controlplane",
            host_rule(state.control_host),
            PRIORITY_HOST + 1,
            state.base_tls if covered else HostTls(),
            service=CONTROL_SERVICE,
        )
    services: dict[str, Any] = {
        EDGE_SERVICE: {"loadBalancer": {"servers": [{"url": state.edge_url}]}}
    }
    if state.control_url and any(
        router["service"] == CONTROL_SERVICE for router in out.routers.values()
    ):
        services[CONTROL_SERVICE] = {"loadBalancer": {"servers": [{"url": state.control_url}]}}
    http: dict[str, Any] = {"routers": out.routers, "services": services}
    if state.version:
        out.middlewares[VERSION_MIDDLEWARE] = {
            "headers": {"customResponseHeaders": {VERSION_HEADER: str(state.version)}}
        }
    if out.middlewares:
        http["middlewares"] = out.middlewares
    config: dict[str, Any] = {"http": http}
    tls = _render_tls(state)
    if tls:
        config["tls"] = tls
    return config


def _render_tls(state: RoutingState) -> dict[str, Any]:
    """The certificates Traefik serves by SNI, and the one for names no certificate covers."""
    tls: dict[str, Any] = {}
    if state.certificates:
        tls["certificates"] = [_certificate(cert) for cert in state.certificates]
    store: dict[str, Any] = {}
    if state.default_certificate is not None:
        store["defaultCertificate"] = _certificate(state.default_certificate)
    elif state.base_tls.strategy == "traefik":
        base = state.base_domain
        store["defaultGeneratedCert"] = {
            "resolver": state.wildcard_resolver,
            "domain": {"main": base, "sans": [f"*.{base}"]},
        }
    if store:
        tls["stores"] = {"default": store}
    return tls


def _certificate(cert: TlsCertificate) -> dict[str, str]:
    """Traefik takes the PEM text itself where a file path would go."""
    return {"certFile": cert.chain_pem, "keyFile": cert.key_pem.reveal()}


def _site_tls(state: RoutingState, site: str) -> HostTls:
    """The TLS of a site's own hosts: its own redirect and HSTS, else the base domain's."""
    return state.site_tls.get(site, state.base_tls)


def _render_site_hosts(out: _Config, site: str, tls: HostTls) -> None:
    """Routers for a site's production, staging and preview hosts, above the wildcard."""
    for environment in ("production", "staging", "previews"):
        for key, rule, _ in _gate_targets(out.state.base_domain, GateRoute(site, environment, "")):
            out.route(_name("site", key), rule, PRIORITY_SITE, tls)


def _render_gate(out: _Config, gate: GateRoute) -> None:
    """A gate's middleware, a router with it per gated host, and the login path's router."""
    state = out.state
    site, environment = gate.site, gate.environment
    if not is_dns_label(site) or HOST_PART_SEPARATOR in site:
        raise ValueError(f"not a valid site name: {site!r}")
    targets = _gate_targets(state.base_domain, gate)
    if not targets:
        return
    middleware = _name("gate", f"{site}.{environment}")
    if gate.mode == "basic":
        if not gate.users:
            raise ValueError(f"the basic gate of {site} {environment} has no users")
        out.middlewares[middleware] = {"basicAuth": {"users": list(gate.users)}}
    elif gate.mode in ("password", "oauth"):
        if not state.control_url:
            raise ValueError("password and oauth gates need the control plane's URL")
        out.middlewares[middleware] = {
            "forwardAuth": {
                "address": f"{state.control_url.rstrip('/')}{GATE_CHECK_PATH}/{site}/{environment}",
                # Traefik's entrypoint replaces a client's X-Forwarded-Host with the real Host.
                "trustForwardHeader": True,
            }
        }
    else:
        raise ValueError(f"unknown gate mode {gate.mode!r}")
    for key, rule, priority in targets:
        # A gated custom domain is served as that domain; the site's own hosts as the site's.
        own = key in gate.domains
        tls = state.domain_tls.get(key, HostTls()) if own else _site_tls(state, site)
        out.route(_name("gated", key), rule, priority, tls, middlewares=(middleware,))
        if gate.mode in ("password", "oauth"):
            out.route(
                _name("gatepath", key),
                f"{rule} && PathPrefix(`{GATE_PATH_PREFIX}`)",
                priority + 1,
                tls,
                service=CONTROL_SERVICE,
            )


def _gate_targets(base: str, gate: GateRoute) -> list[tuple[str, str, int]]:
    """(name key, rule, priority) of every host a gate covers that can exist at all."""
    site = gate.site
    if gate.environment == "previews":
        # `<id>--staging.<base>` is the staging host of site <id>, and a label has at most 63
        # characters: such previews never exist, so there is nothing to gate.
        if site == "staging" or len(f"{'x' * 12}{HOST_PART_SEPARATOR}{site}") > 63:
            return []
        return [(f"{site}.previews", _previews_rule(site, base), PRIORITY_GATE_PREVIEWS)]
    if gate.environment not in ("production", "staging"):
        raise ValueError(f"unknown gate environment {gate.environment!r}")
    own = site_hosts(site, base)[gate.environment]
    exact = [own] if own is not None else []  # a long site has no staging host
    exact += sorted(domain for domain in gate.domains if not domain.startswith("*."))
    wildcards = sorted(domain for domain in gate.domains if domain.startswith("*."))
    return [(host, host_rule(host), PRIORITY_GATE_HOST) for host in exact] + [
        (domain, subdomain_rule(domain[2:]), PRIORITY_GATE_WILDCARD) for domain in wildcards
    ]


def _previews_rule(site: str, base_domain: str) -> str:
    """Every preview host of one site, `<deploy-id>--<site>.<base>`, anchored."""
    host_rule(f"{site}.{base_domain}")  # refuses anything but a hostname
    return f"HostRegexp(`^[a-z0-9]{{12}}--{re.escape(site)}\\.{re.escape(base_domain)}$`)"


def _name(kind: str, text: str) -> str:
    """`wharf-<kind>-<slug>-<hash8>`, at most 63 characters, unique per text: the one scheme
    of every per-host router and middleware name (`a-b.c` and `a.b-c` never collide)."""
    prefix = f"wharf-{kind}-"
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    slug = text.replace("*", "any").replace(".", "-")[: 63 - len(prefix) - 9].rstrip("-")
    return f"{prefix}{slug}-{digest}"
