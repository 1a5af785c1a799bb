"""The static configuration of the Traefik that `wharf up` runs (entrypoint names as Coolify's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_static(
    http: tuple[str, int], https: tuple[str, int], api: tuple[str, int], dynamic_dir: Path
) -> dict[str, Any]:
    """Entrypoints http/https, the API on its own loopback entrypoint, the file provider."""

    def address(listen: tuple[str, int]) -> str:
        host, port = listen
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    return {
        "entryPoints": {
            "http": {"address": address(http)},
            "https": {"address": address(https)},
            "traefik": {"address": address(api)},
        },
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        # Traefik waits this long after one config change before applying the next (2 s by
        # default): a domain added then verified at once would otherwise wait 2 s to route.
        "providers": {
            "providersThrottleDuration": "50ms",
            "file": {"directory": str(dynamic_dir), "watch": True},
        },
        "log": {"level": "ERROR"},
    }
