"""The Traefik dynamic configuration as a pure function of Wharf's state: same state, same dict."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.names import HOST_PART_SEPARATOR, site_hosts
from controlplane.traefik.rules import host_rule, subdomain_rule

EDGE_SERVICE = "wharf-edge"
CONTROL_SERVICE = "wharf-controlplane"
# Explicit priorities: Traefik's default is the rule's length, so a long wildcard regexp would
# beat a short custom Host() rule. Custom and gated hosts always outrank the wildcard.
CHALLENGE_PATH = "/.well-known/wharf-challenge/"
# Everything under it on a password-gated host goes to the control plane (the login page).
GATE_PATH_PREFIX = "/.wharf/"
GATE_CHECK_PATH = "/.wharf/gate/check"
PRIORITY_WILDCARD = 10
# A gated previews regexp matches only `<deploy-id>--<site>.<base>`: above the base wildcard.
PRIORITY_GATE_PREVIEWS = 20
# A gated wildcard custom domain outranks its own ungated router, never an exact custom host.
PRIORITY_DOMAIN_WILDCARD = 900
PRIORITY_GATE_WILDCARD = 901
PRIORITY_HOST = 1000
# An exact gated host outranks every other router for that host. The `/.wharf/` router of a
# password-gated host is its gate router's priority + 1: the login page itself is never gated.
PRIORITY_GATE_HOST = 1100
_SITE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class GateRoute:
    """A gated environment of a site: production, staging, or every preview ("previews")."""

    site: str
    environment: str
    mode: str  # basic (Traefik checks users) or password (forwardAuth to the control plane)
    users: tuple[str, ...] = ()  # basic: `name:bcrypt-hash`, stored that way, never doubled `$`
    domains: tuple[str, ...] = ()  # verified custom domains of the environment


@dataclass(frozen=True)
class RoutingState:
    """What routing depends on."""

    base_domain: str
    edge_url: str
    entry_points: tuple[str, ...] = ("http",)
    control_url: str | None = None
    control_host: str | None = None
    custom_domains: dict[str, str] = field(default_factory=dict)  # verified hostname -> site
    # Domains waiting for their HTTP ownership check: only the token path reaches the edge.
    pending_domains: tuple[str, ...] = ()
    gates: tuple[GateRoute, ...] = ()


def site_routers(state: RoutingState, site: str) -> set[str]:
    """The routers that serve one site: the wildcard, its custom domains and its gates."""
    own = replace(
        state,
        custom_domains={host: name for host, name in state.custom_domains.items() if name == site},
        pending_domains=(),
        gates=tuple(gate for gate in state.gates if gate.site == site),
        control_host=None,
    )
    return set(render(own)["http"]["routers"])


def render(state: RoutingState) -> dict[str, Any]:
    """The dynamic configuration; empty sections are pruned (an empty map freezes Traefik)."""
    entry_points = list(state.entry_points)
    routers: dict[str, Any] = {
        "wharf-sites": {
            "rule": subdomain_rule(state.base_domain),
            "entryPoints": entry_points,
            "service": EDGE_SERVICE,
            "priority": PRIORITY_WILDCARD,
        }
    }
    services: dict[str, Any] = {
        EDGE_SERVICE: {"loadBalancer": {"servers": [{"url": state.edge_url}]}}
    }
    for hostname in sorted(state.custom_domains):
        wildcard = hostname.startswith("*.")
        routers[
            f"wharf-domain-{_slug(hostname.removeprefix('*.'))}{'-any' if wildcard else ''}"
        ] = {
            "rule": subdomain_rule(hostname[2:]) if wildcard else host_rule(hostname),
            "entryPoints": entry_points,
            "service": EDGE_SERVICE,
            # An exact custom host beats a wildcard custom domain; both beat the base wildcard.
            "priority": PRIORITY_DOMAIN_WILDCARD if wildcard else PRIORITY_HOST,
        }
    for hostname in sorted(set(state.pending_domains) - set(state.custom_domains)):
        routers[f"wharf-challenge-{_slug(hostname)}"] = {
            "rule": f"{host_rule(hostname)} && PathPrefix(`{CHALLENGE_PATH}`)",
            "entryPoints": entry_points,
            "service": EDGE_SERVICE,
            "priority": PRIORITY_HOST,
        }
    middlewares: dict[str, Any] = {}
    for gate in sorted(state.gates, key=lambda gate: (gate.site, gate.environment)):
        _render_gate(state, gate, routers, middlewares)
    uses_control = any(router["service"] == CONTROL_SERVICE for router in routers.values())
    if state.control_url and state.control_host:
        routers["wharf-controlplane"] = {
            "rule": host_rule(state.control_host),
            "entryPoints": entry_points,
            "service": CONTROL_SERVICE,
            "priority": PRIORITY_HOST + 1,
        }
        uses_control = True
    if uses_control and state.control_url:
        services[CONTROL_SERVICE] = {"loadBalancer": {"servers": [{"url": state.control_url}]}}
    http: dict[str, Any] = {"routers": routers, "services": services}
    if middlewares:
        http["middlewares"] = middlewares
    return {"http": http}


def _render_gate(
    state: RoutingState, gate: GateRoute, routers: dict[str, Any], middlewares: dict[str, Any]
) -> None:
    """A gate's middleware, a router with it per gated host, and the login path's router."""
    site, environment = gate.site, gate.environment
    if not _SITE.fullmatch(site) or HOST_PART_SEPARATOR in site:
        raise ValueError(f"not a valid site name: {site!r}")
    targets = _gate_targets(state.base_domain, gate)
    if not targets:
        return
    middleware = _name("gate", f"{site}.{environment}")
    if gate.mode == "basic":
        if not gate.users:
            raise ValueError(f"the basic gate of {site} {environment} has no users")
        middlewares[middleware] = {"basicAuth": {"users": list(gate.users)}}
    elif gate.mode == "password":
        if not state.control_url:
            raise ValueError("password gates need the control plane's URL")
        middlewares[middleware] = {
            "forwardAuth": {
                "address": f"{state.control_url.rstrip('/')}{GATE_CHECK_PATH}/{site}/{environment}",
                # Traefik's entrypoint replaces a client's X-Forwarded-Host with the real Host.
                "trustForwardHeader": True,
            }
        }
    else:
        raise ValueError(f"unknown gate mode {gate.mode!r}")
    entry_points = list(state.entry_points)
    for key, rule, priority in targets:
        routers[_name("gated", key)] = {
            "rule": rule,
            "entryPoints": entry_points,
            "service": EDGE_SERVICE,
            "middlewares": [middleware],
            "priority": priority,
        }
        if gate.mode == "password":
            routers[_name("gatepath", key)] = {
                "rule": f"{rule} && PathPrefix(`{GATE_PATH_PREFIX}`)",
                "entryPoints": entry_points,
                "service": CONTROL_SERVICE,
                "priority": priority + 1,
            }


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
    exact = [own] if len(own.split(".")[0]) <= 63 else []  # a long site has no staging host
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
    """`wharf-<kind>-<slug>-<hash8>`, at most 63 characters, unique per text."""
    prefix = f"wharf-{kind}-"
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    slug = text.replace("*", "any").replace(".", "-")[: 63 - len(prefix) - 9].rstrip("-")
    return f"{prefix}{slug}-{digest}"


def _slug(hostname: str) -> str:
    """A short, unique, name-safe form of a hostname (`a-b.c` and `a.b-c` must not collide)."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()[:8]
    return f"{hostname.replace('.', '-')[:40]}-{digest}"
