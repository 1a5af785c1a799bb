"""Sites: create, list, read, change and delete, each limited to what the acting user may see."""

from __future__ import annotations

import asyncio
from typing import Any

from controlplane.deploys.build_flags import validate_allowed_flags
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.models import Site, SitesPage, User
from controlplane.names import validate_site_name
from controlplane.store import Store

TIERS = ("free", "pro")
CHECKS_MODES = ("off", "warn", "block")
# The size over which a file is a warning of the release checks: from 1 KiB to 1 TiB.
CHECKS_FILE_BYTES = (1024, 1 << 40)
SITES_PER_PAGE = 50


def site_search(text: object) -> str:
    """A search as the store takes it: lowercase (names are), printable characters only (a NUL
    or a lone surrogate cannot reach PostgreSQL), at most 100 of them."""
    if not isinstance(text, str):
        return ""
    return "".join(c for c in text.lower() if c.isprintable())[:100]


def _owner_filter(actor: User) -> int | None:
    """Admins see every site (None); members only their own."""
    return None if actor.is_admin else actor.id


class Sites:
    """Site operations on behalf of a user."""

    def __init__(
        self, store: Store, files: ReleaseFiles, reserved: frozenset[str] = frozenset()
    ) -> None:
        self.store = store
        self.files = files
        self.reserved = reserved  # names no site may take (see names.reserved_site_names)

    async def create(self, actor: User, name: object) -> Site:
        """Create a site owned by the actor."""
        valid = validate_site_name(name, self.reserved)
        if await self.store.get_site(valid, None) is None:
            # Files left by an earlier site of this name (a crash mid-delete) must not reappear.
            await asyncio.to_thread(self.files.remove_site, valid)
        return await self.store.create_site(valid, actor.id)

    async def list(self, actor: User) -> list[Site]:
        """The sites the actor may see."""
        return await self.store.list_sites(_owner_filter(actor))

    async def page(self, actor: User, search: object, page: int) -> SitesPage:
        """One page (from 1) of the sites the actor may see whose name contains the search."""
        offset = (max(page, 1) - 1) * SITES_PER_PAGE
        return await self.store.site_summaries(
            _owner_filter(actor), site_search(search), SITES_PER_PAGE, offset
        )

    async def get(self, actor: User, name: str) -> Site:
        """One site the actor may see; NotFound for unknown and other people's sites alike."""
        site = await self.store.get_site(name, _owner_filter(actor))
        if site is None:
            raise NotFound(f"no site named {name!r}", code="site_not_found")
        return site

    async def named(self, name: str) -> Site:
        """Any site by name, for the system's own actions (the worker's auto-publish)."""
        site = await self.store.get_site(name, None)
        if site is None:
            raise NotFound(f"no site named {name!r}", code="site_not_found")
        return site

    async def update(self, actor: User, name: str, changes: dict[str, Any]) -> Site:
        """Change settings: auto_publish, minify, spa, probe_rollback, monitor_interval,
        allowed_flags, checks, checks_max_file_bytes; tier for admins."""
        site = await self.get(actor, name)
        valid: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("auto_publish", "minify", "spa", "probe_rollback"):
                if not isinstance(value, bool):
                    raise Invalid(f"{key} is true or false", code="invalid_setting")
                valid[key] = value
            elif key == "monitor_interval":
                if not isinstance(value, int) or isinstance(value, bool) or not 10 <= value <= 3600:
                    raise Invalid("monitor_interval is 10 to 3600 seconds", code="invalid_setting")
                valid[key] = value
            elif key == "allowed_flags":
                valid[key] = validate_allowed_flags(value)
            elif key == "checks":
                if value not in CHECKS_MODES:
                    raise Invalid("checks is 'off', 'warn' or 'block'", code="invalid_checks")
                valid[key] = value
            elif key == "checks_max_file_bytes":
                low, high = CHECKS_FILE_BYTES
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not low <= value <= high
                ):
                    raise Invalid(
                        f"checks_max_file_bytes is a whole number of bytes from {low} to {high}",
                        code="invalid_checks",
                    )
                valid[key] = value
            elif key == "tier":
                if not actor.is_admin:
                    raise Forbidden("only admins change a site's tier", code="admin_required")
                if value not in TIERS:
                    raise Invalid("tier is 'free' or 'pro'", code="invalid_setting")
                valid[key] = value
            else:
                raise Invalid(f"unknown setting {key!r}", code="invalid_setting")
        if not valid:
            return site
        return await self.store.update_site(site.id, valid)

    async def delete(self, actor: User, name: str) -> None:
        """Delete a site, its deploys and all its files."""
        if not await self.store.delete_site(name, _owner_filter(actor)):
            raise NotFound(f"no site named {name!r}", code="site_not_found")
        await asyncio.to_thread(self.files.remove_site, name)
