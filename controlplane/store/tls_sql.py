"""TLS statements: strategies (base, site, domain), certificates, ACME issuance state, accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from controlplane.models import (
    BaseTls,
    DomainTls,
    NewCertificate,
    Owner,
    SiteTls,
    StoredCertificate,
    Strategy,
)
from controlplane.store.routing_sql import RoutingQueries, changes_routing

_CERT_COLUMNS = (
    "c.id, c.site_id, c.domain_id, c.source, c.names, c.cert_pem, c.chain_pem, c.key_encrypted,"
    " c.issuer, c.not_before, c.not_after, c.fingerprint, c.created_at"
)


def _certificate(row: dict[str, Any]) -> StoredCertificate:
    return StoredCertificate(**{**row, "names": tuple(row["names"])})


# Matches one owner, NULL-safe, with the parameters site and domain.
_OWNER = "site_id IS NOT DISTINCT FROM %(site)s AND domain_id IS NOT DISTINCT FROM %(domain)s"


# The issuer's advisory lock: one process orders certificates at a time.
_ISSUER_LOCK_ID = 0x5748_4152_4654_4C53  # "WHARFTLS"


class TlsQueries(RoutingQueries):
    """TLS statements."""

    @asynccontextmanager
    async def issuer_lock(self) -> AsyncIterator[bool]:
        """Hold the issuer's lock for the block when no other process holds it; whether held."""
        async with self._advisory_lock(_ISSUER_LOCK_ID, wait=False) as held:
            yield held

    async def base_tls(self) -> BaseTls:
        """The base domain's TLS row (the migration creates it)."""
        row = await self._one(
            "SELECT strategy, redirect_https, hsts_max_age, attempts, retry_at, last_error"
            " FROM base_tls"
        )
        assert row is not None
        return BaseTls(**row)

    @changes_routing
    async def set_base_tls(
        self, strategy: Strategy, redirect_https: bool | None, hsts_max_age: int
    ) -> BaseTls:
        """Change the base domain's choice; a new strategy starts its issuance afresh."""
        await self._execute(
            "UPDATE base_tls SET redirect_https = %(r)s, hsts_max_age = %(h)s,"
            " attempts = CASE WHEN strategy = %(s)s THEN attempts ELSE 0 END,"
            " retry_at = CASE WHEN strategy = %(s)s THEN retry_at END,"
            " last_error = CASE WHEN strategy = %(s)s THEN last_error END,"
            " strategy = %(s)s",
            {"s": strategy, "r": redirect_https, "h": hsts_max_age},
        )
        return await self.base_tls()

    async def site_tls(self) -> dict[int, tuple[str, SiteTls]]:
        """(site name, TLS defaults) of every site that has set some, by site id."""
        rows = await self._all(
            "SELECT t.site_id, s.name, t.strategy, t.redirect_https, t.hsts_max_age"
            " FROM site_tls t JOIN sites s ON s.id = t.site_id"
        )
        return {row.pop("site_id"): (row.pop("name"), SiteTls(**row)) for row in rows}

    @changes_routing
    async def set_site_tls(self, site_id: int, tls: SiteTls) -> None:
        """Store a site's TLS defaults."""
        await self._execute(
            "INSERT INTO site_tls (site_id, strategy, redirect_https, hsts_max_age)"
            " VALUES (%(id)s, %(s)s, %(r)s, %(h)s) ON CONFLICT (site_id) DO UPDATE"
            " SET strategy = %(s)s, redirect_https = %(r)s, hsts_max_age = %(h)s",
            {"id": site_id, "s": tls.strategy, "r": tls.redirect_https, "h": tls.hsts_max_age},
        )

    async def domain_tls(self, site_id: int | None = None) -> list[DomainTls]:
        """Verified custom domains (of one site, or all) with their TLS state, by hostname."""
        rows = await self._all(
            "SELECT id AS domain_id, site_id, hostname, tls_strategy AS strategy,"
            " tls_attempts AS attempts, tls_retry_at AS retry_at, tls_error AS last_error"
            " FROM domains"
            " WHERE verified_at IS NOT NULL AND (%(s)s::bigint IS NULL OR site_id = %(s)s)"
            " ORDER BY hostname",
            {"s": site_id},
        )
        return [DomainTls(**row) for row in rows]

    @changes_routing
    async def set_domain_tls_strategy(self, domain_id: int, strategy: Strategy | None) -> None:
        """A domain's own strategy (None: the site's); issuance starts afresh."""
        await self._execute(
            "UPDATE domains SET tls_strategy = %(s)s, tls_attempts = 0, tls_retry_at = NULL,"
            " tls_error = NULL WHERE id = %(id)s",
            {"id": domain_id, "s": strategy},
        )

    async def record_issuance_failure(self, owner: Owner, error: str, retry_at: datetime) -> None:
        """One more failed attempt for the base domain or a domain, and when to try again."""
        params = {"d": owner.domain_id, "at": retry_at, "e": error}
        if owner.domain_id is None:
            await self._execute(
                "UPDATE base_tls SET attempts = attempts + 1, retry_at = %(at)s,"
                " last_error = %(e)s",
                params,
            )
        else:
            await self._execute(
                "UPDATE domains SET tls_attempts = tls_attempts + 1, tls_retry_at = %(at)s,"
                " tls_error = %(e)s WHERE id = %(d)s",
                params,
            )

    async def certificates(self) -> list[StoredCertificate]:
        """Every stored certificate."""
        rows = await self._all(f"SELECT {_CERT_COLUMNS} FROM certificates c ORDER BY c.id")
        return [_certificate(row) for row in rows]

    async def certificate(self, owner: Owner) -> StoredCertificate | None:
        """One owner's certificate."""
        row = await self._one(
            f"SELECT {_CERT_COLUMNS} FROM certificates c WHERE {_OWNER}",
            {"site": owner.site_id, "domain": owner.domain_id},
        )
        return _certificate(row) if row else None

    @changes_routing
    async def put_certificate(self, owner: Owner, new: NewCertificate) -> StoredCertificate:
        """Replace an owner's certificate in one transaction; an ACME one clears its failures."""
        params = {"site": owner.site_id, "domain": owner.domain_id, **new.__dict__}
        async with self._cursor(transaction=True) as cur:
            await cur.execute(f"DELETE FROM certificates WHERE {_OWNER}", params)
            await cur.execute(
                "INSERT INTO certificates (site_id, domain_id, source, names, cert_pem, chain_pem,"
                " key_encrypted, issuer, not_before, not_after, fingerprint) VALUES (%(site)s,"
                " %(domain)s, %(source)s, %(names)s, %(cert_pem)s, %(chain_pem)s,"
                " %(key_encrypted)s, %(issuer)s, %(not_before)s, %(not_after)s, %(fingerprint)s)"
                " RETURNING id",
                {**params, "names": list(new.names)},
            )
            if new.source == "acme" and owner.domain_id:
                await cur.execute(
                    "UPDATE domains SET tls_attempts = 0, tls_retry_at = NULL, tls_error = NULL"
                    " WHERE id = %(domain)s",
                    params,
                )
            elif new.source == "acme":
                await cur.execute(
                    "UPDATE base_tls SET attempts = 0, retry_at = NULL, last_error = NULL"
                )
        stored = await self.certificate(owner)
        assert stored is not None
        return stored

    @changes_routing
    async def delete_certificate(self, owner: Owner) -> bool:
        """Remove an owner's certificate; whether there was one."""
        return (
            await self._execute(
                f"DELETE FROM certificates WHERE {_OWNER}",
                {"site": owner.site_id, "domain": owner.domain_id},
            )
            > 0
        )

    async def acme_account(self, directory_url: str) -> tuple[str, str | None] | None:
        """(encrypted key, account URL) of the install's account at a directory."""
        row = await self._one(
            "SELECT key_encrypted, account_url FROM acme_accounts WHERE directory_url = %(u)s",
            {"u": directory_url},
        )
        return (row["key_encrypted"], row["account_url"]) if row else None

    async def save_acme_account(
        self, directory_url: str, key_encrypted: str, account_url: str | None
    ) -> tuple[str, str | None]:
        """Keep the first account stored for a directory (two processes may race); returns it."""
        await self._execute(
            "INSERT INTO acme_accounts (directory_url, key_encrypted, account_url)"
            " VALUES (%(u)s, %(k)s, %(a)s) ON CONFLICT (directory_url) DO UPDATE"
            " SET account_url = coalesce(acme_accounts.account_url, excluded.account_url)",
            {"u": directory_url, "k": key_encrypted, "a": account_url},
        )
        stored = await self.acme_account(directory_url)
        assert stored is not None
        return stored
