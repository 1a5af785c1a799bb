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
        "providers": {"file": {"directory": str(dynamic_dir), "watch": True}},
        "log": {"level": "ERROR"},
    }
