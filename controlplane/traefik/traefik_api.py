"""Asks Traefik's API whether the routers Wharf expects are there and enabled, and which
version of Wharf's file it has loaded."""

from __future__ import annotations

from typing import Any

import aiohttp

from controlplane.traefik.render import VERSION_HEADER, VERSION_MIDDLEWARE


async def router_status(session: aiohttp.ClientSession, api_url: str) -> dict[str, str]:
    """Router name (without the provider suffix) -> status, for Wharf's file-provider routers."""
    async with session.get(f"{api_url.rstrip('/')}/api/http/routers?per_page=10000") as response:
        response.raise_for_status()
        routers: list[dict[str, Any]] = await response.json()
    return {
        router["name"].removesuffix("@file"): router.get("status", "unknown")
        for router in routers
        if router.get("provider") == "file" and router["name"].startswith("wharf-")
    }


def missing_or_disabled(expected: set[str], status: dict[str, str]) -> list[str]:
    """Expected routers that Traefik does not show as enabled."""
    return sorted(name for name in expected if status.get(name) != "enabled")


async def loaded_version(session: aiohttp.ClientSession, api_url: str) -> int | None:
    """The routing version of the Wharf file Traefik has loaded, from its marker middleware."""
    url = f"{api_url.rstrip('/')}/api/http/middlewares/{VERSION_MIDDLEWARE}@file"
    async with session.get(url) as response:
        if response.status == 404:
            return None
        response.raise_for_status()
        middleware: dict[str, Any] = await response.json()
    value = middleware.get("headers", {}).get("customResponseHeaders", {}).get(VERSION_HEADER)
    return int(value) if isinstance(value, str) and value.isdigit() else None


class TraefikApi:
    """A client of one Traefik API, with its own session (opened on first use)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        return self._session

    async def shows(self, version: int, routers: set[str]) -> bool:
        """Whether Traefik has loaded this version (or a newer one) with every router enabled."""
        session = self._open()
        try:
            loaded = await loaded_version(session, self.api_url)
            if loaded is None or loaded < version:
                return False
            status = await router_status(session, self.api_url)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return False
        return not missing_or_disabled(routers, status)

    async def routers(self) -> dict[str, str] | None:
        """Wharf's routers and their status, or None when Traefik's API does not answer."""
        try:
            return await router_status(self._open(), self.api_url)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return None

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
