"""Every path under WHARF_DATA_DIR, in one place (docs/architecture.md's "Files on disk")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    """The data directory's entries; nothing else in Wharf names a path under it."""

    root: Path

    @property
    def secret_key(self) -> Path:
        """The generated signing key (0600, never overwritten)."""
        return self.root / "secret_key"

    @property
    def initial_admin_password(self) -> Path:
        """The generated password of the first admin (0600)."""
        return self.root / "initial_admin_password"

    @property
    def pg(self) -> Path:
        """The embedded PostgreSQL's data directory; `pg.lock` beside it."""
        return self.root / "pg"

    @property
    def artifacts(self) -> Path:
        """Uploaded ZIPs, kept for rebuilds."""
        return self.root / "artifacts"

    @property
    def releases(self) -> Path:
        """Immutable release trees."""
        return self.root / "releases"

    @property
    def live(self) -> Path:
        """The live symlinks the edge follows."""
        return self.root / "live"

    @property
    def staging(self) -> Path:
        """Builds in progress, renamed into releases/ when done."""
        return self.root / "staging"

    @property
    def uploads(self) -> Path:
        """Uploads being received."""
        return self.root / "uploads"

    @property
    def trash(self) -> Path:
        """Pruned releases, renamed here under the site's lock, then deleted."""
        return self.root / "trash"

    @property
    def edge_config(self) -> Path:
        """The edge's host map and site settings (`edge/config.json`)."""
        return self.root / "edge" / "config.json"

    @property
    def challenges(self) -> Path:
        """Custom-domain ownership tokens the edge serves for HTTP checks."""
        return self.root / "challenges"

    @property
    def acme_challenges(self) -> Path:
        """HTTP-01 answers of the wharf TLS strategy, served by the edge."""
        return self.root / "acme"

    @property
    def traefik(self) -> Path:
        """The Traefik of `wharf up`: its static file, log, ACME storage, default dynamic dir."""
        return self.root / "traefik"

    @property
    def traefik_static(self) -> Path:
        """The static configuration `wharf up` writes for its Traefik."""
        return self.traefik / "traefik.json"

    @property
    def traefik_log(self) -> Path:
        """The log of `wharf up`'s Traefik."""
        return self.traefik / "traefik.log"

    @property
    def traefik_acme_storage(self) -> Path:
        """Traefik's own ACME account and certificates (the traefik TLS strategy)."""
        return self.traefik / "acme.json"

    @property
    def traefik_dynamic(self) -> Path:
        """Traefik's watched dynamic folder, unless WHARF_TRAEFIK_DYNAMIC_DIR names another."""
        return self.traefik / "dynamic"

    def entries(self) -> dict[str, Path]:
        """Every entry by name (what the architecture page documents)."""
        names = [
            name for name in dir(type(self)) if isinstance(getattr(type(self), name), property)
        ]
        return {name: getattr(self, name) for name in sorted(names)}
