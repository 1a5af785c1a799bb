"""SQL for custom domains: create, list, read, delete, ownership-check results, routing."""

from __future__ import annotations

import psycopg2.errors

from controlplane.errors import Conflict
from controlplane.models import Domain, VerifiedBy
from controlplane.store.routing_sql import RoutingQueries, changes_routing

_COLUMNS = (
    "id, site_id, hostname, environment, token, verified_at, verified_by, last_checked_at,"
    " last_error, created_at"
)


class DomainQueries(RoutingQueries):
    """Custom-domain statements."""

    @changes_routing
    async def create_domain(
        self, site_id: int, hostname: str, environment: str, token: str
    ) -> Domain:
        """Insert a pending domain; Conflict when any site has this hostname already."""
        try:
            row = await self._one(
                f"INSERT INTO domains (site_id, hostname, environment, token)"
                f" VALUES (%(s)s, %(h)s, %(env)s, %(t)s) RETURNING {_COLUMNS}",
                {"s": site_id, "h": hostname, "env": environment, "t": token},
            )
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "domains_hostname_key":
                raise
            raise Conflict(
                f"{hostname} is attached to a site already", code="domain_exists"
            ) from None
        assert row is not None
        return Domain(**row)

    async def list_domains(self, site_id: int) -> list[Domain]:
        """A site's domains, by hostname."""
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM domains WHERE site_id = %(s)s ORDER BY hostname",
            {"s": site_id},
        )
        return [Domain(**row) for row in rows]

    async def get_domain(self, site_id: int, hostname: str) -> Domain | None:
        """One domain of a site."""
        row = await self._one(
            f"SELECT {_COLUMNS} FROM domains WHERE site_id = %(s)s AND hostname = %(h)s",
            {"s": site_id, "h": hostname},
        )
        return Domain(**row) if row else None

    @changes_routing
    async def delete_domain(self, site_id: int, hostname: str) -> Domain | None:
        """Delete one domain of a site; the deleted row, or None when there was none."""
        row = await self._one(
            f"DELETE FROM domains WHERE site_id = %(s)s AND hostname = %(h)s RETURNING {_COLUMNS}",
            {"s": site_id, "h": hostname},
        )
        return Domain(**row) if row else None

    async def record_domain_check(
        self, domain_id: int, verified_by: VerifiedBy | None, error: str | None
    ) -> Domain | None:
        """Store a check's outcome: verified by a method, or the error (a failed re-check of a
        verified domain keeps it verified); None when the domain was deleted meanwhile."""
        row = await self._one(
            f"UPDATE domains SET last_checked_at = now(), last_error = %(e)s,"
            f" verified_at = CASE WHEN %(by)s::text IS NULL THEN verified_at ELSE now() END,"
            f" verified_by = coalesce(%(by)s, verified_by)"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {"id": domain_id, "by": verified_by, "e": error},
        )
        if verified_by is not None:  # a failed check changes nothing Traefik sees
            await self.routing_changed()
        return Domain(**row) if row else None

    @changes_routing
    async def mark_domain_verified(self, domain_id: int) -> Domain | None:
        """Mark a domain verified by an admin, without a check; None when it was deleted."""
        row = await self._one(
            f"UPDATE domains SET verified_at = now(), verified_by = 'admin', last_error = NULL"
            f" WHERE id = %(id)s RETURNING {_COLUMNS}",
            {"id": domain_id},
        )
        return Domain(**row) if row else None

    async def verified_domains(self) -> list[tuple[str, str, str]]:
        """(hostname, site name, environment) of every verified domain, for routing."""
        rows = await self._all(
            "SELECT d.hostname, s.name, d.environment FROM domains d"
            " JOIN sites s ON s.id = d.site_id WHERE d.verified_at IS NOT NULL"
            " ORDER BY d.hostname"
        )
        return [(row["hostname"], row["name"], row["environment"]) for row in rows]

    async def pending_hostnames(self) -> list[str]:
        """Hostnames still waiting for their check (routed to the edge for the token only)."""
        rows = await self._all(
            "SELECT hostname FROM domains WHERE verified_at IS NULL ORDER BY hostname"
        )
        return [row["hostname"] for row in rows]

    async def domain_tokens(self) -> set[str]:
        """Every domain's token (challenge files naming no token are left over)."""
        return {row["token"] for row in await self._all("SELECT token FROM domains")}
