"""Traefik rule strings, built only from hostnames that passed validation."""

from __future__ import annotations

import re

from controlplane.names import is_hostname


def _checked(host: str) -> str:
    """The host if it is a lower-case LDH hostname; nothing else may reach a rule."""
    if not is_hostname(host):
        raise ValueError(f"not a valid hostname: {host!r}")
    return host


def host_rule(*hosts: str) -> str:
    """Host(`a`) || Host(`b`): Traefik v3 takes one host per Host()."""
    if not hosts:
        raise ValueError("a Host rule needs at least one host")
    return " || ".join(f"Host(`{_checked(host)}`)" for host in hosts)


def subdomain_rule(base_domain: str) -> str:
    """Every single label under the base domain, anchored (HostRegexp is unanchored otherwise)."""
    escaped = re.escape(_checked(base_domain))
    return f"HostRegexp(`^[a-z0-9-]+\\.{escaped}$`)"
