"""Sites: create, list, read and delete, each limited to what the acting user may see."""

from __future__ import annotations

from controlplane.errors import NotFound
from controlplane.models import Site, User
from controlplane.names import validate_site_name
from controlplane.store import Store


def _owner_filter(actor: User) -> int | None:
    """Admins see every site (None); members only their own."""
    return None if actor.is_admin else actor.id


class Sites:
    """Site operations on behalf of a user."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, actor: User, name: object) -> Site:
        """Create a site owned by the actor."""
        return await self.store.create_site(validate_site_name(name), actor.id)

    async def list(self, actor: User) -> list[Site]:
        """The sites the actor may see."""
        return await self.store.list_sites(_owner_filter(actor))

    async def get(self, actor: User, name: str) -> Site:
        """One site the actor may see; NotFound for unknown and other people's sites alike."""
        site = await self.store.get_site(name, _owner_filter(actor))
        if site is None:
            raise NotFound(f"no site named {name!r}", code="site_not_found")
        return site

    async def delete(self, actor: User, name: str) -> None:
        """Delete a site the actor may see."""
        if not await self.store.delete_site(name, _owner_filter(actor)):
            raise NotFound(f"no site named {name!r}", code="site_not_found")
