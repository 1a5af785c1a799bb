"""Ownership probes for custom domains: a DNS TXT lookup and an HTTP token fetch."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
import httptools

from controlplane.names import CHALLENGE_PATH

CHALLENGE_LABEL = "_wharf-challenge"
# The token is 32 characters; anything much longer is not the answer, so stop reading.
_MAX_RESPONSE_BYTES = 64 * 1024


def challenge_record_name(hostname: str) -> str:
    """The TXT record that proves ownership (a wildcard is proven at its parent, like ACME)."""
    return f"{CHALLENGE_LABEL}.{hostname.removeprefix('*.')}"


def challenge_url(hostname: str, token: str) -> str:
    """The URL the HTTP check fetches."""
    return f"http://{hostname}{CHALLENGE_PATH}{token}"


def _resolver(nameserver: tuple[str, int] | None) -> dns.asyncresolver.Resolver:
    """The system's resolver, or one asking only the configured server."""
    if nameserver is None:
        return dns.asyncresolver.Resolver()
    host, port = nameserver
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(str(ipaddress.ip_address(host)), port)]
    return resolver


async def dns_token_check(
    hostname: str, token: str, nameserver: tuple[str, int] | None, seconds: float
) -> str | None:
    """None when a TXT string at the challenge record equals the token, else why not."""
    name = challenge_record_name(hostname)
    try:
        answer = await _resolver(nameserver).resolve(name, "TXT", lifetime=seconds, search=False)
    except dns.resolver.NXDOMAIN:
        return f"no TXT record at {name} (the name does not exist)"
    except dns.resolver.NoAnswer:
        return f"no TXT record at {name}"
    except dns.resolver.LifetimeTimeout:
        return f"no DNS answer for {name} within {seconds:g} s"
    except dns.resolver.NoNameservers:
        return f"every DNS server failed to answer for {name}"
    except (dns.exception.DNSException, ValueError, OSError) as exc:
        return f"DNS lookup of {name} failed: {exc}"
    wanted = token.encode()
    for record in answer:
        strings: tuple[bytes, ...] = record.strings
        # A long value may be split into several strings; its parts are read joined.
        if wanted in strings or b"".join(strings) == wanted:
            return None
    return f"the TXT record at {name} does not hold this domain's token"


class _Response:
    """httptools callbacks collecting a status, headers-done flag and a bounded body."""

    def __init__(self) -> None:
        self.headers_done = False
        self.complete = False
        self.body = bytearray()

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


async def _fetch(hostname: str, path: str, address: tuple[str, int]) -> tuple[int, bytes]:
    """One GET with Connection: close; (status, body). Redirects are answers, not followed."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        # hostname passed validation (LDH labels), so it cannot inject header lines.
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\nUser-Agent: wharf-domain-check/1\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
        )
        await writer.drain()
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        received = 0
        while not response.complete and received <= _MAX_RESPONSE_BYTES:
            data = await reader.read(16384)
            if not data:
                break  # a body delimited by the close ends here
            received += len(data)
            parser.feed_data(data)
        if not response.headers_done:
            raise httptools.HttpParserError("the connection closed before a full response")
        return parser.get_status_code(), bytes(response.body)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def http_token_check(
    hostname: str, token: str, address: tuple[str, int] | None, seconds: float
) -> str | None:
    """None when http://<hostname>/.well-known/wharf-challenge/<token> answers 200 with the
    token, else why not; `address` replaces the hostname's DNS (the Host header stays)."""
    url = challenge_url(hostname, token)
    try:
        async with asyncio.timeout(seconds):
            status, body = await _fetch(hostname, CHALLENGE_PATH + token, address or (hostname, 80))
    except TimeoutError:
        return f"{url} did not answer within {seconds:g} s"
    except OSError as exc:
        return f"could not connect to {hostname}: {exc.strerror or exc}"
    except httptools.HttpParserError:
        return f"{url} did not answer with valid HTTP"
    # Only the status is reported, never the body: the check must not read pages for anyone.
    if 300 <= status < 400:
        return f"{url} answered {status}, a redirect (the check follows none)"
    if status != 200:
        return f"{url} answered {status}"
    if body.strip() != token.encode():
        return f"{url} answered, but not with this domain's token"
    return None
