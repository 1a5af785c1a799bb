"""Every SQL statement Wharf runs, behind one Store object over an aiopg pool."""

from __future__ import annotations

from typing import Any

import aiopg
import psycopg2
import psycopg2.errors

from controlplane.errors import Conflict
from controlplane.models import (
    ApiToken,
    LoginFailureCounts,
    Role,
    Site,
    SitesPage,
    SiteSummary,
    User,
)
from controlplane.store.canary_sql import CanaryQueries
from controlplane.store.deploy_sql import DeployQueries
from controlplane.store.domain_sql import DomainQueries
from controlplane.store.gate_sql import GateQueries
from controlplane.store.identity_sql import IdentityQueries
from controlplane.store.migrations import apply_migrations, describe_schema
from controlplane.store.monitor_sql import MonitorQueries
from controlplane.store.routing_sql import changes_routing
from controlplane.store.sql_base import SITE_COLUMNS
from controlplane.store.tls_sql import TlsQueries
from controlplane.store.webhook_sql import WebhookQueries

__all__ = ["Store", "apply_migrations", "describe_schema", "open_pool"]

_USER_COLUMNS = "id, email, role, created_at, disabled_at"
_TOKEN_COLUMNS = "id, user_id, name, created_at, last_used_at"


async def open_pool(dsn: str, *, maxsize: int = 10) -> aiopg.Pool:
    """Open a connection pool; fails fast when the server does not answer."""
    return await aiopg.create_pool(
        dsn, minsize=1, maxsize=maxsize, timeout=10, enable_hstore=False, enable_uuid=False
    )


class Store(
    CanaryQueries,
    DeployQueries,
    DomainQueries,
    GateQueries,
    IdentityQueries,
    MonitorQueries,
    TlsQueries,
    WebhookQueries,
):
    """Typed queries over a pool; callers never see SQL or cursors."""

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        await self._one("SELECT 1 AS ok")

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied."""
        async with self.pool.acquire() as conn:
            return await apply_migrations(conn)

    # Users

    async def create_user(self, email: str, password_hash: str, role: Role) -> User:
        """Insert a user; Conflict when the email (case-insensitive) is taken."""
        try:
            row = await self._one(
                f"INSERT INTO users (email, password_hash, role)"
                f" VALUES (%(email)s, %(hash)s, %(role)s) RETURNING {_USER_COLUMNS}",
                {"email": email, "hash": password_hash, "role": role},
            )
        except psycopg2.errors.UniqueViolation:
            raise Conflict("a user with this email exists", code="user_exists") from None
        assert row is not None
        return User(**row)

    async def user_credentials(self, email: str) -> tuple[User, str | None] | None:
        """The user with this email and their password hash (None: they have none), if any."""
        row = await self._one(
            f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower(%(e)s)",
            {"e": email},
        )
        if row is None:
            return None
        password_hash = row.pop("password_hash")
        return User(**row), password_hash

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash (rehash on login, password change)."""
        await self._execute(
            "UPDATE users SET password_hash = %(h)s WHERE id = %(id)s",
            {"h": password_hash, "id": user_id},
        )

    async def get_user(self, user_id: int) -> User | None:
        """The user with this id, if any."""
        row = await self._one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = %(id)s", {"id": user_id}
        )
        return User(**row) if row else None

    async def change_user(
        self, user_id: int, *, role: Role | None = None, disabled: bool | None = None
    ) -> User | None:
        """Set a user's role and/or disabled state (None: unchanged), in one transaction;
        disabling ends their UI sessions. None when there is no such user; Conflict when it
        would leave no enabled admin."""
        async with self._cursor(transaction=True) as cur:
            # Locking every enabled admin row serialises two admins demoting each other at
            # once: the second sees the first's change and is refused.
            await cur.execute(
                "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL"
                " ORDER BY id FOR UPDATE"
            )
            admins = [row["id"] for row in await cur.fetchall()]
            leaves = role == "member" or disabled is True
            if leaves and admins == [user_id]:
                raise Conflict(
                    "that would leave no admin who can sign in; make another user an admin first",
                    code="last_admin",
                )
            await cur.execute(
                f"UPDATE users SET role = coalesce(%(role)s, role),"
                f" disabled_at = CASE WHEN %(disabled)s::boolean IS NULL THEN disabled_at"
                f" WHEN %(disabled)s::boolean THEN coalesce(disabled_at, now()) END"
                f" WHERE id = %(id)s RETURNING {_USER_COLUMNS}",
                {"role": role, "disabled": disabled, "id": user_id},
            )
            row = await cur.fetchone()
            if row is not None and disabled:
                await cur.execute("DELETE FROM ui_sessions WHERE user_id = %(u)s", {"u": user_id})
        return User(**row) if row else None

    async def list_users(self) -> list[User]:
        """Every user, oldest first."""
        return [
            User(**row) for row in await self._all(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")
        ]

    # API tokens

    async def create_token(self, user_id: int, name: str, token_hash: bytes) -> ApiToken:
        """Store a token's hash for a user."""
        row = await self._one(
            f"INSERT INTO api_tokens (user_id, name, token_hash)"
            f" VALUES (%(u)s, %(n)s, %(h)s) RETURNING {_TOKEN_COLUMNS}",
            {"u": user_id, "n": name, "h": token_hash},
        )
        assert row is not None
        return ApiToken(**row)

    async def user_for_token_hash(self, token_hash: bytes) -> User | None:
        """The owner of the token with this hash, marking the token used."""
        row = await self._one(
            f"WITH used AS (UPDATE api_tokens SET last_used_at = now()"
            f" WHERE token_hash = %(h)s RETURNING user_id)"
            f" SELECT {_USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM used)",
            {"h": token_hash},
        )
        return User(**row) if row else None

    async def list_tokens(self, user_id: int) -> list[ApiToken]:
        """A user's tokens, newest first."""
        rows = await self._all(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = %(u)s ORDER BY id DESC",
            {"u": user_id},
        )
        return [ApiToken(**row) for row in rows]

    async def delete_token(self, user_id: int, token_id: int) -> bool:
        """Delete one of a user's tokens; False when it is not theirs or does not exist."""
        deleted = await self._execute(
            "DELETE FROM api_tokens WHERE id = %(t)s AND user_id = %(u)s",
            {"t": token_id, "u": user_id},
        )
        return deleted > 0

    # Admin UI sessions

    async def create_ui_session(self, user_id: int, token_hash: bytes) -> None:
        """Store a new session's token hash for a user."""
        await self._execute(
            "INSERT INTO ui_sessions (token_hash, user_id) VALUES (%(h)s, %(u)s)",
            {"h": token_hash, "u": user_id},
        )

    async def user_for_ui_session(
        self, token_hash: bytes, idle_seconds: int, max_seconds: int
    ) -> User | None:
        """The user of a live session (seen within idle_seconds, younger than max_seconds),
        marking it seen; None for an unknown, idle or expired one."""
        row = await self._one(
            f"WITH seen AS (UPDATE ui_sessions SET last_seen_at = now()"
            f" WHERE token_hash = %(h)s"
            f" AND last_seen_at > now() - make_interval(secs => %(idle)s)"
            f" AND created_at > now() - make_interval(secs => %(max)s)"
            f" RETURNING user_id)"
            f" SELECT {_USER_COLUMNS} FROM users"
            f" WHERE id = (SELECT user_id FROM seen) AND disabled_at IS NULL",
            {"h": token_hash, "idle": idle_seconds, "max": max_seconds},
        )
        return User(**row) if row else None

    async def delete_ui_session(self, token_hash: bytes) -> None:
        """End one session."""
        await self._execute("DELETE FROM ui_sessions WHERE token_hash = %(h)s", {"h": token_hash})

    async def delete_ui_sessions_of(self, user_id: int) -> None:
        """End every session of a user (sign-out everywhere, a password change)."""
        await self._execute("DELETE FROM ui_sessions WHERE user_id = %(u)s", {"u": user_id})

    # Sites (owner_id None means any owner: the caller is an admin)

    @changes_routing
    async def create_site(self, name: str, owner_id: int) -> Site:
        """Insert a site; Conflict when the name is taken."""
        try:
            row = await self._one(
                f"INSERT INTO sites (name, owner_id) VALUES (%(n)s, %(o)s)"
                f" RETURNING {SITE_COLUMNS}",
                {"n": name, "o": owner_id},
            )
        except psycopg2.errors.UniqueViolation:
            raise Conflict(f"site {name!r} exists", code="site_exists") from None
        assert row is not None
        return Site(**row)

    async def list_sites(self, owner_id: int | None) -> list[Site]:
        """Sites of one owner (or all), by name."""
        rows = await self._all(
            f"SELECT {SITE_COLUMNS} FROM sites"
            f" WHERE %(o)s::bigint IS NULL OR owner_id = %(o)s ORDER BY name",
            {"o": owner_id},
        )
        return [Site(**row) for row in rows]

    async def site_summaries(
        self, owner_id: int | None, search: str, limit: int, offset: int
    ) -> SitesPage:
        """A page of sites by name, those whose name contains `search`, each with its live
        production deploy; and how many match in all."""
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"  # LIKE's wildcards in the search are matched as themselves
        where = "(%(o)s::bigint IS NULL OR s.owner_id = %(o)s) AND s.name LIKE %(q)s"
        params = {"o": owner_id, "q": pattern, "n": limit, "off": offset}
        columns = ", ".join(f"s.{column.strip()}" for column in SITE_COLUMNS.split(","))
        rows = await self._all(
            # The total comes with the page (a window, counted before LIMIT): one statement,
            # so the two never disagree while sites are created.
            f"SELECT {columns}, count(*) OVER () AS total,"
            " live.id AS live_deploy, live.published_at AS live_since,"
            " (SELECT count(*) FROM domains dm WHERE dm.site_id = s.id) AS domains,"
            " (SELECT count(*) FROM domains dm WHERE dm.site_id = s.id"
            "   AND dm.tls_error IS NOT NULL) AS tls_errors,"
            " (SELECT min(c.not_after) FROM certificates c WHERE c.site_id = s.id"
            "   OR c.domain_id IN (SELECT id FROM domains WHERE site_id = s.id)) AS tls_expires"
            " FROM sites s LEFT JOIN deploys live ON live.site_id = s.id"
            " AND live.environment = 'production' AND live.status = 'live'"
            f" WHERE {where} ORDER BY s.name LIMIT %(n)s OFFSET %(off)s",
            params,
        )
        extra = ("live_deploy", "live_since", "domains", "tls_errors", "tls_expires", "total")
        summaries = [
            SiteSummary(
                Site(**{k: v for k, v in row.items() if k not in extra}),
                *(row[key] for key in extra[:-1]),
            )
            for row in rows
        ]
        return SitesPage(summaries, rows[0]["total"] if rows else 0, offset, limit)

    async def get_site(self, name: str, owner_id: int | None) -> Site | None:
        """The named site if it exists and belongs to the owner (any owner when None)."""
        row = await self._one(
            f"SELECT {SITE_COLUMNS} FROM sites"
            f" WHERE name = %(n)s AND (%(o)s::bigint IS NULL OR owner_id = %(o)s)",
            {"n": name, "o": owner_id},
        )
        return Site(**row) if row else None

    @changes_routing
    async def update_site(self, site_id: int, changes: dict[str, Any]) -> Site:
        """Change a site's settings (only known columns; the service validated the values)."""
        allowed = {
            "tier",
            "auto_publish",
            "minify",
            "allowed_flags",
            "spa",
            "probe_rollback",
            "monitor_interval",
            "checks",
            "checks_max_file_bytes",
        }
        assert set(changes) <= allowed, set(changes) - allowed
        assignments = ", ".join(f"{column} = %({column})s" for column in sorted(changes))
        row = await self._one(
            f"UPDATE sites SET {assignments} WHERE id = %(id)s RETURNING {SITE_COLUMNS}",
            {**changes, "id": site_id},
        )
        assert row is not None
        return Site(**row)

    @changes_routing
    async def delete_site(self, name: str, owner_id: int | None) -> bool:
        """Delete the named site if visible to the owner; False when there was none."""
        deleted = await self._execute(
            "DELETE FROM sites WHERE name = %(n)s AND (%(o)s::bigint IS NULL OR owner_id = %(o)s)",
            {"n": name, "o": owner_id},
        )
        return deleted > 0

    # Login failures (rate limiting)

    async def record_login_failure(self, client_address: str, account: str) -> None:
        """Count one failed login for an address and an account."""
        await self._execute(
            "INSERT INTO login_failures (client_address, account) VALUES (%(a)s, %(u)s)",
            {"a": client_address, "u": account},
        )

    async def login_failure_counts(
        self, client_address: str, account: str, window_seconds: int
    ) -> LoginFailureCounts:
        """Failures in the window for the address and the account, and when each window frees."""
        row = await self._one(
            """
            WITH recent AS (
                SELECT client_address, account, failed_at FROM login_failures
                WHERE failed_at > now() - make_interval(secs => %(w)s)
                  AND (client_address = %(a)s OR account = %(u)s)
            )
            SELECT
                count(*) FILTER (WHERE client_address = %(a)s) AS address_failures,
                coalesce(extract(epoch FROM min(failed_at) FILTER (WHERE client_address = %(a)s)
                    + make_interval(secs => %(w)s) - now()), 0)::float AS address_retry_after,
                count(*) FILTER (WHERE account = %(u)s) AS account_failures,
                coalesce(extract(epoch FROM min(failed_at) FILTER (WHERE account = %(u)s)
                    + make_interval(secs => %(w)s) - now()), 0)::float AS account_retry_after
            FROM recent
            """,
            {"a": client_address, "u": account, "w": window_seconds},
        )
        assert row is not None
        return LoginFailureCounts(**row)

    async def clear_login_failures(self, client_address: str, account: str) -> None:
        """Forget the failures of this address on this account (after it logged in)."""
        await self._execute(
            "DELETE FROM login_failures WHERE client_address = %(a)s AND account = %(u)s",
            {"a": client_address, "u": account},
        )

    async def prune_login_failures(self, window_seconds: int) -> None:
        """Drop failures older than the window."""
        await self._execute(
            "DELETE FROM login_failures WHERE failed_at < now() - make_interval(secs => %(w)s)",
            {"w": window_seconds},
        )
