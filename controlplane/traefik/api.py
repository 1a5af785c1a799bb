"""Asks Traefik's API whether the routers Wharf expects are there and enabled."""

from __future__ import annotations

from typing import Any

import aiohttp


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
