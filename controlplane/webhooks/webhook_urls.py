"""Where a webhook may point: an http(s) URL without credentials and, unless the install allows
private networks, a host whose every address is public; checked when a webhook is added and
again right before each attempt, which then connects to the very address that was checked."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import idna

from controlplane.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Letters, digits, hyphens and underscores (some private names have them), dot-separated.
_ASCII_HOST = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")


def _invalid(message: str, code: str = "invalid_webhook_url") -> Invalid:
    return Invalid(message, code=code)


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL and the parts a connection needs."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA), lower case; an IPv6 address without brackets
    port: int

    @property
    def host_header(self) -> str:
        """The Host header the URL means (the port only when it is not the scheme's)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def via(self, address: IPAddress) -> str:
        """The URL with its host replaced by the address, to connect to exactly that one."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=f"{shown}:{self.port}"))


def _ascii_host(host: str) -> str:
    """The hostname as DNS sees it; Invalid when it is none."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise _invalid(f"the URL's host {host!r} is not a hostname: {exc}") from None
    if len(host) > 253 or not _ASCII_HOST.match(host):
        raise _invalid(f"the URL's host {host!r} is not a hostname")
    return host.rstrip(".")


def parse_webhook_url(raw: object) -> WebhookTarget:
    """The URL checked for what it says (scheme, credentials, host, port), else Invalid."""
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid("a webhook needs a url, e.g. https://hooks.example.com/wharf")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(
            f"a webhook URL has at most {MAX_URL_LENGTH} characters", "webhook_url_too_long"
        )
    if any(char.isspace() or not char.isprintable() for char in url):
        raise _invalid("a webhook URL cannot contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise _invalid("a webhook URL starts with https:// or http://", "webhook_url_scheme")
    if "@" in parts.netloc:
        raise _invalid(
            "a webhook URL cannot hold a user name or password; Wharf signs every request"
            " with the webhook's secret instead",
            "webhook_url_credentials",
        )
    if parts.fragment or url.endswith("#"):
        raise _invalid("a webhook URL has no #fragment (it is never sent)")
    if not parts.hostname:
        raise _invalid("a webhook URL names a host, e.g. https://hooks.example.com/wharf")
    try:
        port = parts.port
    except ValueError:
        raise _invalid("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise _invalid("the URL's port is not a number from 1 to 65535")
    scheme = parts.scheme.lower()
    return WebhookTarget(url, scheme, _ascii_host(parts.hostname), port or _DEFAULT_PORTS[scheme])


def refusal(address: IPAddress) -> str | None:
    """Why Wharf does not post to this address unless private networks are allowed, or None
    for a public one. An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, found in (
        ("a loopback address", address.is_loopback),
        ("the unspecified address", address.is_unspecified),
        ("a link-local address (cloud metadata lives there)", address.is_link_local),
        ("a private address", address.is_private),
        ("a multicast address", address.is_multicast),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    ):
        if found:
            return kind
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an IP address: itself), in the resolver's order;
    callers bound the time it may take (asyncio.timeout)."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        found = []
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        # An IPv6 link-local answer may carry a scope ("%eth0"): the address is what counts.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _invalid(
            f"{host} does not resolve to any address (a typo, or DNS not set up yet?)",
            "webhook_url_unresolvable",
        )
    return addresses


async def destination(target: WebhookTarget, allow_private: bool) -> IPAddress:
    """The address to connect to: the host's first, once every one of them is allowed."""
    addresses = await resolve(target.host, target.port)
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                raise _invalid(
                    f"{target.host} resolves to {address}, {why}: Wharf posts webhooks only to"
                    " public addresses (an admin can allow private ones with"
                    " WHARF_WEBHOOK_ALLOW_PRIVATE)",
                    "webhook_url_private",
                )
    return addresses[0]
