"""The Traefik dynamic configuration as a pure function of Wharf's state: same state, same dict."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from controlplane.traefik.rules import host_rule, subdomain_rule

EDGE_SERVICE = "wharf-edge"
CONTROL_SERVICE = "wharf-controlplane"
# Explicit priorities: Traefik's default is the rule's length, so a long wildcard regexp would
# beat a short custom Host() rule. Custom and gated hosts always outrank the wildcard.
CHALLENGE_PATH = "/.well-known/wharf-challenge/"
PRIORITY_WILDCARD = 10
PRIORITY_HOST = 1000


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
            "priority": PRIORITY_HOST - 1 if wildcard else PRIORITY_HOST,
        }
    for hostname in sorted(set(state.pending_domains) - set(state.custom_domains)):
        routers[f"wharf-challenge-{_slug(hostname)}"] = {
            "rule": f"{host_rule(hostname)} && PathPrefix(`{CHALLENGE_PATH}`)",
            "entryPoints": entry_points,
            "service": EDGE_SERVICE,
            "priority": PRIORITY_HOST,
        }
    if state.control_url and state.control_host:
        routers["wharf-controlplane"] = {
            "rule": host_rule(state.control_host),
            "entryPoints": entry_points,
            "service": CONTROL_SERVICE,
            "priority": PRIORITY_HOST + 1,
        }
        services[CONTROL_SERVICE] = {"loadBalancer": {"servers": [{"url": state.control_url}]}}
    return {"http": {"routers": routers, "services": services}}


def _slug(hostname: str) -> str:
    """A short, unique, name-safe form of a hostname (`a-b.c` and `a.b-c` must not collide)."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()[:8]
    return f"{hostname.replace('.', '-')[:40]}-{digest}"
