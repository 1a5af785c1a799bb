"""Render → validate → write: keeps Traefik's file in step with Wharf, never writing a bad one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import yaml

from controlplane.traefik.dynamic_file import FILE_NAME, write_dynamic_config
from controlplane.traefik.render import RoutingState, render
from controlplane.traefik.validate import InvalidConfig, validate

log = logging.getLogger(__name__)


class TraefikConfigWriter:
    """Writes the dynamic config after every routing change; keeps the last good one on errors."""

    def __init__(self, dynamic_dir: Path, staging_dir: Path) -> None:
        self.dynamic_dir = dynamic_dir
        self.staging_dir = staging_dir
        self.last_error: str | None = None  # this writer's last refusal (the store keeps it too)
        self._lock = asyncio.Lock()

    def read(self) -> dict[str, Any] | None:
        """The config in Traefik's folder (blocking), or None before the first write."""
        try:
            text = (self.dynamic_dir / FILE_NAME).read_text()
        except FileNotFoundError:
            return None
        document: dict[str, Any] = yaml.safe_load(text)
        return document

    async def sync(self, state: RoutingState) -> set[str]:
        """Write the config for a state; returns the router names it holds."""
        async with self._lock:
            config = render(state)
            try:
                text = await asyncio.to_thread(validate, config)
            except InvalidConfig as exc:
                self.last_error = str(exc)
                log.error(
                    "traefik config refused; the last good one stays",
                    extra={"problems": exc.problems},
                )
                raise
            await asyncio.to_thread(write_dynamic_config, text, self.dynamic_dir, self.staging_dir)
            self.last_error = None
            return set(config["http"]["routers"])
