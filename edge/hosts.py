"""Host header → which site, environment or deploy preview it names (no I/O but the domain map)."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The DNS-label rule of controlplane.names (the edge may not import it; a test compares them).
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DEPLOY_ID = re.compile(r"[a-z0-9]{12}")
SEPARATOR = "--"
# How often a worker looks at the config file's mtime: a new domain routes within this, and
# the stat stays off the per-request path.
_RECHECK_SECONDS = 0.05
ENVIRONMENTS = ("production", "staging")


class BadHost(ValueError):
    """The Host header is not a valid hostname."""


@dataclass(frozen=True)
class Target:
    """What a host names: a site's environment, or one deploy of a site (a preview)."""

    site: str
    environment: str | None = None
    deploy_id: str | None = None


def normalise_host(raw: str) -> str:
    """Lower-case, port stripped, validated as a DNS hostname; BadHost otherwise."""
    host = raw.strip().lower()
    if host.startswith("["):  # IPv6 literal: never a site, but a valid Host
        end = host.find("]")
        if end < 0:
            raise BadHost(raw)
        return host[: end + 1]
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        raise BadHost(raw)
    name = name.rstrip(".")
    if not name or len(name) > 253:
        raise BadHost(raw)
    if not all(LABEL.fullmatch(label) for label in name.split(".")):
        raise BadHost(raw)
    return name


class HostMap:
    """Maps hostnames to targets: the URL scheme under the base domain, then custom domains.

    Custom domains and per-site options come from the file the control plane writes
    atomically (`<data>/edge/config.json`), looked at no more than every 50 ms.
    """

    def __init__(
        self, base_domain: str, config_file: Path | None = None, spa: frozenset[str] = frozenset()
    ) -> None:
        self.base_domain = base_domain.lower().rstrip(".")
        self.suffix = "." + self.base_domain
        self.config_file = config_file
        self._domains: dict[str, Target] = {}
        # Without a config file (the control plane's release checks), the SPA sites are given.
        self._spa: frozenset[str] = spa
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._resolved: dict[str, tuple[str, Target | None]] = {}
        self.generation = 0  # bumped whenever the config file brings new domains or options

    def resolve(self, raw_host: str) -> tuple[str, Target | None]:
        """The normalised host and its target, remembered per raw Host header; BadHost."""
        self._refresh()
        found = self._resolved.get(raw_host)
        if found is None:
            host = normalise_host(raw_host)
            found = (host, self.target(host))
            if len(self._resolved) > 10_000:
                self._resolved.clear()  # a flood of made-up hosts must not grow memory
            self._resolved[raw_host] = found
        return found

    def is_service_host(self, host: str) -> bool:
        """The base domain itself or an IP literal: where the edge's own endpoints answer."""
        return host == self.base_domain or host.startswith("[") or host.replace(".", "").isdigit()

    def target(self, host: str) -> Target | None:
        """The site, environment or preview a normalised host names, if any."""
        if host.endswith(self.suffix):
            label = host[: -len(self.suffix)]
            if "." not in label:
                return _scheme_target(label)
        self._refresh()
        found = self._domains.get(host)
        if found is None and "." in host:
            found = self._domains.get("*." + host.split(".", 1)[1])
        return found

    def spa(self, site: str) -> bool:
        """Whether the site serves index.html for paths that name no file."""
        self._refresh()
        return site in self._spa

    def _refresh(self) -> None:
        """Re-read the config file when it changed (checked at most every half second)."""
        now = time.monotonic()
        if self.config_file is None or now - self._checked < _RECHECK_SECONDS:
            return
        self._checked = now
        try:
            info = os.stat(self.config_file)
        except FileNotFoundError:
            self._domains, self._spa, self._stamp = {}, frozenset(), None
            return
        stamp = (info.st_mtime_ns, info.st_ino)
        if stamp == self._stamp:
            return
        try:
            document = json.loads(self.config_file.read_text())
        except (OSError, ValueError):
            return  # keep the last good map; the writer renames whole files into place
        self._domains = parse_domain_map(document)
        self._resolved.clear()
        self.generation += 1
        spa = document.get("spa", []) if isinstance(document, dict) else []
        self._spa = frozenset(name for name in spa if isinstance(name, str))
        self._stamp = stamp


def _scheme_target(label: str) -> Target | None:
    """`<site>`, `<site>--staging` or `<deploy>--<site>`."""
    if SEPARATOR not in label:
        return Target(label, "production")
    first, _, second = label.partition(SEPARATOR)
    if SEPARATOR in second or not first or not second:
        return None
    if second == "staging":
        return Target(first, "staging")
    if _DEPLOY_ID.fullmatch(first):
        return Target(second, deploy_id=first)
    return None


def parse_domain_map(document: Any) -> dict[str, Target]:
    """{"domains": {host: {"site", "environment"}}} → targets; malformed entries are skipped."""
    result: dict[str, Target] = {}
    domains = document.get("domains", {}) if isinstance(document, dict) else {}
    for host, entry in domains.items() if isinstance(domains, dict) else []:
        if not isinstance(entry, dict):
            continue
        site, environment = entry.get("site"), entry.get("environment", "production")
        if (
            isinstance(site, str)
            and LABEL.fullmatch(site)
            and environment in ENVIRONMENTS
            and isinstance(host, str)
        ):
            result[host.lower()] = Target(site, environment)
    return result
