"""Custom domains: strict hostname validation, attaching to a site, and ownership checks."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import idna

from controlplane.atomic import write_atomically
from controlplane.deploys.deploy_service import validate_environment
from controlplane.domains.ownership_checks import dns_token_check, http_token_check
from controlplane.errors import Forbidden, Invalid, NotFound
from controlplane.layout import DataLayout
from controlplane.models import Domain, Site, User, VerifiedBy
from controlplane.names import is_dns_label
from controlplane.sites.site_service import Sites
from controlplane.store.domain_sql import DomainQueries

MAX_HOSTNAME = 253
# Spaces, controls and invisible characters: IDNA would drop some silently (U+00AD, U+200B),
# so the stored name would not be the one the user typed.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
# Script mixes browsers show as Unicode (Chrome's IDN policy); any other mix is a spoofing risk.
_SCRIPT_MIXES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)
# Cyrillic letters drawn like Latin ones: a label made only of these reads as a Latin word.
_CYRILLIC_LOOKALIKES = frozenset("аԁеһіјӏорԛѕԝхусѵѡъьпгы")
# Names under .localhost always resolve to loopback (RFC 6761): nobody owns them.
_ALWAYS_RESERVED = ("localhost",)


def _invalid(message: str) -> Invalid:
    return Invalid(message, code="invalid_hostname")


def _script(char: str) -> str:
    """The script of a letter, read from its Unicode name (LATIN, CYRILLIC, CJK, ...)."""
    return unicodedata.name(char, "UNKNOWN").split(" ")[0]


def _check_lookalikes(ascii_name: str) -> None:
    """Refuse labels mixing scripts, and Cyrillic labels that read as Latin words."""
    try:
        labels = idna.decode(ascii_name).split(".")
    except (idna.IDNAError, UnicodeError) as exc:
        raise _invalid(f"{ascii_name!r} is not a valid hostname: {exc}") from None
    tld_cyrillic = any(_script(char) == "CYRILLIC" for char in labels[-1])
    for label in labels:
        scripts = {_script(char) for char in label if unicodedata.category(char).startswith("L")}
        if len(scripts) > 1 and not any(scripts <= mix for mix in _SCRIPT_MIXES):
            raise _invalid(f"the label {label!r} mixes scripts ({', '.join(sorted(scripts))})")
        letters = [char for char in label if unicodedata.category(char).startswith("L")]
        if (
            scripts == {"CYRILLIC"}
            and not tld_cyrillic
            and all(char in _CYRILLIC_LOOKALIKES for char in letters)
        ):
            raise _invalid(f"the label {label!r} is written with letters that look like Latin")


def _check_characters(raw: str) -> None:
    """Name the first character no hostname may contain."""
    if "/" in raw or ":" in raw:
        raise _invalid("give the hostname alone, without a scheme, port or path")
    for char in raw:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            raise _invalid(f"a hostname cannot contain spaces or invisible characters ({char!r})")
        if char.isascii() and not (char.isalnum() or char in "-.*"):
            raise _invalid(f"a hostname cannot contain {char!r}")


def _to_ascii(name: str) -> str:
    """IDNA 2008 with UTS 46 mapping (case folded), as browsers resolve it."""
    try:
        return idna.encode(name, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise _invalid(f"{name!r} is not a valid hostname: {exc}") from None


def _is_reserved(name: str, wildcard: bool, base_domain: str) -> bool:
    """Wharf's own hosts: the base domain and every name under it, and .localhost."""
    for reserved in (base_domain, *_ALWAYS_RESERVED):
        if name == reserved or name.endswith("." + reserved):
            return True
        # *.example.com matches the base sites.example.com itself.
        if wildcard and reserved.partition(".")[2] == name:
            return True
    return False


def validate_hostname(raw: object, base_domain: str, allow_wildcard: bool) -> str:
    """The hostname in ASCII and lower case (no trailing dot), else Invalid saying why."""
    if not isinstance(raw, str) or not raw:
        raise _invalid("a hostname is required")
    if len(raw) > 4 * MAX_HOSTNAME:
        raise _invalid(f"a hostname has at most {MAX_HOSTNAME} characters")
    _check_characters(raw)
    name = raw.removesuffix(".")
    wildcard = name.startswith("*.")
    if wildcard:
        if not allow_wildcard:
            raise Invalid("wildcard custom domains are not allowed", code="wildcard_not_allowed")
        name = name[2:]
    if "*" in name:
        raise _invalid("'*' is allowed only as the whole first label (*.example.com)")
    ascii_name = _to_ascii(name)
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise _invalid("a custom domain has at least two labels (example.com)")
    for label in labels:
        if not is_dns_label(label):
            raise _invalid(f"the label {label!r} is not 1 to 63 letters, digits and hyphens")
    if labels[-1].isdigit():
        raise _invalid("an IP address is not a domain")
    result = ("*." if wildcard else "") + ascii_name
    if len(result) > MAX_HOSTNAME:
        raise _invalid(f"a hostname has at most {MAX_HOSTNAME} characters")
    _check_lookalikes(ascii_name)
    if _is_reserved(ascii_name, wildcard, _base_ascii(base_domain)):
        raise Invalid(f"{result} is one of Wharf's own hosts", code="reserved_hostname")
    return result


def _base_ascii(base_domain: str) -> str:
    """The base domain as DNS sees it (it may be configured in Unicode)."""
    try:
        return idna.encode(base_domain.rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return base_domain.rstrip(".").lower()


def write_challenge(directory: Path, token: str) -> None:
    """Write <dir>/<token> holding the token, whole or not at all (temp file, then rename)."""
    # The temp name starts with a dot, which the edge never serves (tokens are [A-Za-z0-9_-]).
    write_atomically(directory / token, token)


def prune_challenges(directory: Path, keep: set[str], grace_seconds: float = 600) -> int:
    """Remove challenge files whose token no domain has; how many were removed."""
    if not directory.is_dir():
        return 0
    # A file is written before its domain's row, so a young unknown file may be one being added.
    cutoff = time.time() - grace_seconds
    removed = 0
    for path in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.name not in keep and path.lstat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


@dataclass(frozen=True)
class DomainOptions:
    """What the domain service needs from the settings."""

    base_domain: str
    data_dir: Path
    allow_wildcard: bool = False
    dns_resolver: tuple[str, int] | None = None  # None: the system's resolver
    check_timeout: float = 5.0
    http_check_address: tuple[str, int] | None = None  # None: the hostname's own address

    @property
    def challenge_dir(self) -> Path:
        """Where the tokens the edge serves for the HTTP check live."""
        return DataLayout(self.data_dir).challenges


def stored_hostname(hostname: str, base_domain: str) -> str:
    """The stored form of a hostname from a URL (Unicode or upper case are fine)."""
    try:
        return validate_hostname(hostname, base_domain, allow_wildcard=True)
    except Invalid:
        return hostname  # no stored domain has an invalid name: not found


class Domains:
    """Custom-domain operations on behalf of a user."""

    def __init__(
        self,
        store: DomainQueries,
        sites: Sites,
        options: DomainOptions,
    ) -> None:
        self.store = store
        self.sites = sites
        self.options = options

    async def add(
        self, actor: User, site_name: str, hostname: object, environment: object = "production"
    ) -> Domain:
        """Attach a hostname to a site's environment, pending until its ownership is shown."""
        site = await self.sites.get(actor, site_name)
        name = validate_hostname(hostname, self.options.base_domain, self.options.allow_wildcard)
        env = validate_environment(environment)
        token = secrets.token_urlsafe(24)
        challenges = self.options.challenge_dir
        await asyncio.to_thread(write_challenge, challenges, token)
        try:
            domain = await self.store.create_domain(site.id, name, env, token)
        except BaseException:
            await asyncio.to_thread((challenges / token).unlink, missing_ok=True)
            raise
        return domain

    async def list(self, actor: User, site_name: str) -> list[Domain]:
        """A site's domains."""
        site = await self.sites.get(actor, site_name)
        return await self.store.list_domains(site.id)

    async def get(self, actor: User, site_name: str, hostname: str) -> Domain:
        """One domain of a site the actor may see."""
        site = await self.sites.get(actor, site_name)
        return await self._get(site, hostname)

    def _lookup_name(self, hostname: str) -> str:
        return stored_hostname(hostname, self.options.base_domain)

    async def _get(self, site: Site, hostname: str) -> Domain:
        domain = await self.store.get_domain(
            site.id, stored_hostname(hostname, self.options.base_domain)
        )
        if domain is None:
            raise NotFound(f"{site.name} has no domain {hostname!r}", code="domain_not_found")
        return domain

    async def delete(self, actor: User, site_name: str, hostname: str) -> None:
        """Detach a domain and remove its challenge file."""
        site = await self.sites.get(actor, site_name)
        domain = await self.store.delete_domain(
            site.id, stored_hostname(hostname, self.options.base_domain)
        )
        if domain is None:
            raise NotFound(f"{site.name} has no domain {hostname!r}", code="domain_not_found")
        await asyncio.to_thread((self.options.challenge_dir / domain.token).unlink, missing_ok=True)

    async def verify(
        self, actor: User, site_name: str, hostname: str, method: object = None
    ) -> Domain:
        """Run the ownership check (dns, http, or both when None) and record its outcome."""
        if method == "admin":
            return await self.mark_verified(actor, site_name, hostname)
        site = await self.sites.get(actor, site_name)
        domain = await self._get(site, hostname)
        if method not in (None, "dns", "http"):
            raise Invalid("method is 'dns' or 'http' (admins: 'admin')", code="invalid_method")
        wildcard = domain.hostname.startswith("*.")
        if method == "http" and wildcard:
            raise Invalid("a wildcard domain is verified by its DNS record", code="invalid_method")
        options = self.options
        errors: list[str] = []
        verified_by: VerifiedBy | None = None
        if method in (None, "dns"):
            error = await dns_token_check(
                domain.hostname, domain.token, options.dns_resolver, options.check_timeout
            )
            verified_by = "dns" if error is None else None
            errors += [f"DNS: {error}"] if error else []
        if verified_by is None and method in (None, "http") and not wildcard:
            error = await http_token_check(
                domain.hostname, domain.token, options.http_check_address, options.check_timeout
            )
            verified_by = "http" if error is None else None
            errors += [f"HTTP: {error}"] if error else []
        recorded = await self.store.record_domain_check(
            domain.id, verified_by, None if verified_by else "; ".join(errors)
        )
        if recorded is None:
            raise NotFound(f"{site.name} has no domain {hostname!r}", code="domain_not_found")
        return recorded

    async def mark_verified(self, actor: User, site_name: str, hostname: str) -> Domain:
        """Vouch for a domain without a check; admins only."""
        site = await self.sites.get(actor, site_name)
        domain = await self._get(site, hostname)
        if not actor.is_admin:
            raise Forbidden("only admins mark a domain verified", code="admin_required")
        marked = await self.store.mark_domain_verified(domain.id)
        if marked is None:
            raise NotFound(f"{site.name} has no domain {hostname!r}", code="domain_not_found")
        return marked

    async def prune_challenges(self) -> int:
        """Remove challenge files of domains that are gone (a site deleted with its domains)."""
        keep = await self.store.domain_tokens()
        return await asyncio.to_thread(prune_challenges, self.options.challenge_dir, keep)
