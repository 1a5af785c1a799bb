"""Gate statements: a site environment's gate, its basic-auth users, and what routing needs."""

from __future__ import annotations

from controlplane.models import Gate, GateMode, GateSecret, RoutedGate
from controlplane.store.routing_sql import RoutingQueries, changes_routing


class GateQueries(RoutingQueries):
    """Gate statements."""

    async def list_gates(self, site_id: int) -> list[Gate]:
        """A site's gates (only the environments that have one), with their usernames."""
        rows = await self._all(
            "SELECT g.id, g.site_id, g.environment, g.mode, g.version, g.updated_at, g.allowed,"
            " coalesce(array_agg(u.username ORDER BY u.username)"
            " FILTER (WHERE u.username IS NOT NULL), '{}') AS usernames"
            " FROM gates g LEFT JOIN gate_users u ON u.gate_id = g.id"
            " WHERE g.site_id = %(s)s GROUP BY g.id ORDER BY g.environment",
            {"s": site_id},
        )
        return [
            Gate(**{**row, "usernames": tuple(row["usernames"]), "allowed": tuple(row["allowed"])})
            for row in rows
        ]

    async def gate_user_hashes(self, site_id: int, environment: str) -> dict[str, str]:
        """Username -> bcrypt hash of a basic gate (to keep the hashes of users sent unchanged)."""
        rows = await self._all(
            "SELECT u.username, u.password_hash FROM gate_users u JOIN gates g ON g.id = u.gate_id"
            " WHERE g.site_id = %(s)s AND g.environment = %(e)s",
            {"s": site_id, "e": environment},
        )
        return {row["username"]: row["password_hash"] for row in rows}

    @changes_routing
    async def set_gate(
        self,
        site_id: int,
        environment: str,
        mode: GateMode,
        version: str,
        password_hash: str | None,
        users: list[tuple[str, str]],
        allowed: tuple[str, ...] = (),
    ) -> None:
        """Create or replace a gate and its users (or oauth list), in one transaction."""
        async with self._cursor(transaction=True) as cur:
            await cur.execute(
                "INSERT INTO gates (site_id, environment, mode, version, password_hash, allowed)"
                " VALUES (%(s)s, %(e)s, %(m)s, %(v)s, %(p)s, %(a)s)"
                " ON CONFLICT (site_id, environment) DO UPDATE SET mode = excluded.mode,"
                " version = excluded.version, password_hash = excluded.password_hash,"
                " allowed = excluded.allowed, updated_at = now()"
                " RETURNING id",
                {
                    "s": site_id,
                    "e": environment,
                    "m": mode,
                    "v": version,
                    "p": password_hash,
                    "a": list(allowed),
                },
            )
            gate_id = (await cur.fetchone())["id"]
            await cur.execute("DELETE FROM gate_users WHERE gate_id = %(g)s", {"g": gate_id})
            for username, user_hash in users:
                await cur.execute(
                    "INSERT INTO gate_users (gate_id, username, password_hash)"
                    " VALUES (%(g)s, %(u)s, %(h)s)",
                    {"g": gate_id, "u": username, "h": user_hash},
                )

    @changes_routing
    async def delete_gate(self, site_id: int, environment: str) -> bool:
        """Turn a gate off; False when there was none."""
        deleted = await self._execute(
            "DELETE FROM gates WHERE site_id = %(s)s AND environment = %(e)s",
            {"s": site_id, "e": environment},
        )
        return deleted > 0

    async def gate_secret(self, site_name: str, environment: str) -> GateSecret | None:
        """The gate of a site's environment, by site name, for a visitor's check or login."""
        row = await self._one(
            "SELECT g.mode, g.version, g.password_hash, g.allowed FROM gates g"
            " JOIN sites s ON s.id = g.site_id"
            " WHERE s.name = %(n)s AND g.environment = %(e)s",
            {"n": site_name, "e": environment},
        )
        return GateSecret(**{**row, "allowed": tuple(row["allowed"])}) if row else None

    async def routed_gates(self) -> list[RoutedGate]:
        """Every gate with its basic users as `name:hash`, by site and environment."""
        rows = await self._all(
            "SELECT s.name AS site, g.environment, g.mode,"
            " coalesce(array_agg(u.username || ':' || u.password_hash ORDER BY u.username)"
            " FILTER (WHERE u.username IS NOT NULL), '{}') AS users"
            " FROM gates g JOIN sites s ON s.id = g.site_id"
            " LEFT JOIN gate_users u ON u.gate_id = g.id"
            " GROUP BY s.name, g.id ORDER BY s.name, g.environment"
        )
        return [RoutedGate(**{**row, "users": tuple(row["users"])}) for row in rows]

    async def verified_domain_target(self, hostname: str) -> tuple[str, str] | None:
        """(site name, environment) of the verified custom domain serving a host: the exact
        name first, then the wildcard of its parent (as the edge resolves it)."""
        parent = hostname.split(".", 1)[1] if "." in hostname else ""
        row = await self._one(
            "SELECT s.name, d.environment FROM domains d JOIN sites s ON s.id = d.site_id"
            " WHERE d.verified_at IS NOT NULL AND d.hostname IN (%(h)s, %(w)s)"
            " ORDER BY d.hostname = %(h)s DESC LIMIT 1",
            {"h": hostname, "w": "*." + parent},
        )
        return (row["name"], row["environment"]) if row else None
