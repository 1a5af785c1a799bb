"""Identity statements: provider accounts linked to users, and the install's sign-in policy."""

from __future__ import annotations

import psycopg2.errors

from controlplane.errors import Conflict
from controlplane.models import Identity, ProviderAccount, Role, User
from controlplane.store.sql_base import QueriesBase

_IDENTITY_COLUMNS = "id, user_id, provider, issuer, subject, email, created_at, last_used_at"
_USER_COLUMNS = "u.id, u.email, u.role, u.created_at, u.disabled_at"


class IdentityQueries(QueriesBase):
    """Identity and sign-in policy statements."""

    async def user_for_identity(self, issuer: str, subject: str, email: str | None) -> User | None:
        """The user an identity is linked to, marking it used and noting its latest email."""
        row = await self._one(
            f"WITH used AS (UPDATE identities SET last_used_at = now(),"
            f" email = coalesce(%(m)s, email)"
            f" WHERE issuer = %(i)s AND subject = %(s)s RETURNING user_id)"
            f" SELECT {_USER_COLUMNS} FROM users u WHERE u.id = (SELECT user_id FROM used)",
            {"i": issuer, "s": subject, "m": email},
        )
        return User(**row) if row else None

    async def link_identity(self, user_id: int, account: ProviderAccount) -> Identity:
        """Link a provider account to a user; Conflict when another user has it already."""
        try:
            row = await self._one(
                f"INSERT INTO identities (user_id, provider, issuer, subject, email)"
                f" VALUES (%(u)s, %(p)s, %(i)s, %(s)s, %(m)s)"
                f" ON CONFLICT (issuer, subject) DO UPDATE SET last_used_at = now()"
                f" WHERE identities.user_id = excluded.user_id"
                f" RETURNING {_IDENTITY_COLUMNS}",
                {
                    "u": user_id,
                    "p": account.provider,
                    "i": account.issuer,
                    "s": account.subject,
                    "m": account.email,
                },
            )
        except psycopg2.errors.ForeignKeyViolation:
            raise Conflict("no such user", code="user_not_found") from None
        if row is None:  # the conflict's WHERE refused: someone else's identity
            raise Conflict(
                "this account at the provider is linked to another Wharf user",
                code="identity_taken",
            )
        return Identity(**row)

    async def create_user_with_identity(
        self, email: str, role: Role, account: ProviderAccount
    ) -> User:
        """A new user without a password, with this identity, in one transaction; Conflict
        when the email is taken (then the caller links by email instead, if it may)."""
        try:
            async with self._cursor(transaction=True) as cur:
                await cur.execute(
                    "INSERT INTO users (email, password_hash, role) VALUES (%(e)s, NULL, %(r)s)"
                    " RETURNING id, email, role, created_at, disabled_at",
                    {"e": email, "r": role},
                )
                user = User(**await cur.fetchone())
                await cur.execute(
                    "INSERT INTO identities (user_id, provider, issuer, subject, email)"
                    " VALUES (%(u)s, %(p)s, %(i)s, %(s)s, %(m)s)",
                    {
                        "u": user.id,
                        "p": account.provider,
                        "i": account.issuer,
                        "s": account.subject,
                        "m": account.email,
                    },
                )
        except psycopg2.errors.UniqueViolation:
            raise Conflict("a user with this email exists", code="user_exists") from None
        return user

    async def list_identities(self, user_id: int) -> list[Identity]:
        """A user's linked identities, oldest first."""
        rows = await self._all(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE user_id = %(u)s ORDER BY id",
            {"u": user_id},
        )
        return [Identity(**row) for row in rows]

    async def unlink_identity(self, user_id: int, identity_id: int, keep_one: bool) -> bool | None:
        """Remove one of a user's identities: True when removed, None when it is not theirs,
        False when keep_one and it is their last one (so they keep a way to sign in)."""
        async with self._cursor(transaction=True) as cur:
            # Locking the user's rows serialises two unlinks racing for the last identity.
            await cur.execute(
                "SELECT id FROM identities WHERE user_id = %(u)s FOR UPDATE", {"u": user_id}
            )
            ids = [row["id"] for row in await cur.fetchall()]
            if identity_id not in ids:
                return None
            if keep_one and len(ids) == 1:
                return False
            await cur.execute("DELETE FROM identities WHERE id = %(i)s", {"i": identity_id})
            return True

    async def has_password(self, user_id: int) -> bool:
        """Whether the user has a password at all (accounts a provider created have none)."""
        row = await self._one(
            "SELECT password_hash IS NOT NULL AS has FROM users WHERE id = %(u)s", {"u": user_id}
        )
        return bool(row and row["has"])

    async def break_glass_user(self) -> int | None:
        """The one admin who may still sign in with a password, when password sign-in is off."""
        row = await self._one("SELECT break_glass_user_id FROM sign_in_policy")
        return row["break_glass_user_id"] if row else None

    async def set_break_glass_user(self, user_id: int | None) -> None:
        """Turn password sign-in off for all but this admin (None: on for everyone)."""
        await self._execute(
            "UPDATE sign_in_policy SET break_glass_user_id = %(u)s, updated_at = now()",
            {"u": user_id},
        )
