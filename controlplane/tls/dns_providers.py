"""DNS providers that publish and withdraw ACME DNS-01 TXT records: Cloudflare's API or a script."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from controlplane.secrets import Secret

CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"
# Cloudflare's smallest TTL that is not "automatic" (1); a short TTL lets a retry's new value show.
TXT_TTL = 120
# Answers here are a few records long; a body far past this is not Cloudflare answering.
_MAX_RESPONSE_BYTES = 1024 * 1024
_STDERR_LINES = 10
_STDERR_CHARS = 2000
_REDACTED = "**********"


class DnsProviderError(Exception):
    """A DNS provider failed; the message is safe to show and never holds a credential."""


class DnsProvider(Protocol):
    """Publishes and withdraws the TXT records of DNS-01 challenges."""

    async def add_txt(self, fqdn: str, value: str) -> None:
        """Publish a TXT record `value` at `fqdn`, next to any records already there."""
        ...

    async def remove_txt(self, fqdn: str, value: str) -> None:
        """Withdraw the TXT record `value` at `fqdn`; nothing to do when it is already gone."""
        ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _unquoted(content: str) -> str:
    """TXT content without the surrounding quotes Cloudflare may add when it answers."""
    if len(content) >= 2 and content[0] == content[-1] == '"':
        return content[1:-1]
    return content


def _zone_candidates(name: str) -> list[str]:
    """Names that may be the zone holding `name`, longest first, never a bare TLD."""
    labels = name.split(".")
    candidates = [".".join(labels[index:]) for index in range(1, len(labels) - 1)]
    return candidates or [name]


class _CloudflareStatus(DnsProviderError):
    """Cloudflare answered, with an error; `status` is the HTTP status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def _quote(segment: str) -> str:
    """An id made safe as one URL path segment."""
    return urllib.parse.quote(segment, safe="")


def _error_text(envelope: dict[str, Any]) -> str:
    """Cloudflare's error messages with their codes, joined for one line."""
    errors = envelope.get("errors")
    texts = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            message = str(error.get("message", "unknown error"))
            texts.append(f"{message} (code {error['code']})" if "code" in error else message)
    return "; ".join(texts) or "the request failed without an error message"


class CloudflareDns:
    """TXT records through Cloudflare's v4 API, authenticated with a scoped API token."""

    def __init__(
        self, api_token: Secret, base_url: str = CLOUDFLARE_API, timeout: float = 10.0
    ) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("https", "http"):
            raise DnsProviderError(f"the Cloudflare API URL must be http(s), not {base_url!r}")
        self._token = api_token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)
        # Zone ids by record name: remove_txt follows add_txt for the same name.
        self._zones: dict[str, str] = {}

    async def add_txt(self, fqdn: str, value: str) -> None:
        """Create the TXT record in the zone holding `fqdn`; an identical record counts as done."""
        name = fqdn.rstrip(".").lower()
        zone_id = await self._zone_id(name)
        body = {"type": "TXT", "name": name, "content": value, "ttl": TXT_TTL}
        try:
            await self._call("POST", f"/zones/{_quote(zone_id)}/dns_records", body=body)
        except DnsProviderError:
            # A retried challenge may present the same value again, which Cloudflare refuses.
            try:
                existing = await self._matching_records(zone_id, name, value)
            except DnsProviderError:
                existing = []
            if not existing:
                raise

    async def remove_txt(self, fqdn: str, value: str) -> None:
        """Delete every TXT record at `fqdn` holding `value`, if any is left."""
        name = fqdn.rstrip(".").lower()
        zone_id = await self._zone_id(name)
        for record_id in await self._matching_records(zone_id, name, value):
            path = f"/zones/{_quote(zone_id)}/dns_records/{_quote(record_id)}"
            try:
                await self._call("DELETE", path)
            except _CloudflareStatus as exc:
                # Deleted meanwhile (another cleanup, or by hand): the wanted state holds.
                if exc.status != 404:
                    raise

    async def _zone_id(self, name: str) -> str:
        """The id of the closest enclosing zone this token can see, walking up the labels."""
        if name in self._zones:
            return self._zones[name]
        for candidate in _zone_candidates(name):
            result = await self._call("GET", "/zones", query={"name": candidate})
            for zone in result if isinstance(result, list) else []:
                if isinstance(zone, dict) and str(zone.get("name", "")).lower() == candidate:
                    zone_id = zone.get("id")
                    if isinstance(zone_id, str) and zone_id:
                        self._zones[name] = zone_id
                        return zone_id
        raise DnsProviderError(f"no Cloudflare zone this API token can see holds {name}")

    async def _matching_records(self, zone_id: str, name: str, value: str) -> list[str]:
        """Ids of the TXT records at `name` whose content is `value`."""
        query = {"type": "TXT", "name": name, "per_page": "100"}
        result = await self._call("GET", f"/zones/{_quote(zone_id)}/dns_records", query=query)
        return [
            record["id"]
            for record in (result if isinstance(result, list) else [])
            if isinstance(record, dict)
            and isinstance(record.get("id"), str)
            and _unquoted(str(record.get("content", ""))) == value
        ]

    async def _call(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        """One API call off the event loop; the `result` of a successful answer."""
        url = self._base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            return await asyncio.to_thread(self._call_blocking, method, url, body)
        except DnsProviderError as exc:
            # Cloudflare never echoes the token, but a proxy or a future message might.
            token = self._token.reveal()
            if token and token in str(exc):
                redacted = str(exc).replace(token, _REDACTED)
                if isinstance(exc, _CloudflareStatus):
                    raise _CloudflareStatus(redacted, status=exc.status) from None
                raise DnsProviderError(redacted) from None
            raise

    def _call_blocking(self, method: str, url: str, body: Any) -> Any:
        """Send one request and unwrap Cloudflare's {success, errors, result} envelope."""
        data = None if body is None else json.dumps(body).encode()
        # The scheme was checked in __init__: only http(s) URLs are ever opened.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self._token.reveal()}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        what = f"Cloudflare {method} {urllib.parse.urlsplit(url).path}"
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status, raw = response.status, response.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            with exc:
                status, raw = exc.code, exc.read(_MAX_RESPONSE_BYTES)
        except TimeoutError:
            raise DnsProviderError(f"{what}: no answer within {self._timeout:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise DnsProviderError(f"{what}: no answer within {self._timeout:g} s") from None
            raise DnsProviderError(f"{what}: cannot reach the API: {exc.reason}") from None
        except OSError as exc:
            raise DnsProviderError(f"{what}: connection failed: {exc}") from None
        try:
            envelope = json.loads(raw)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            raise _CloudflareStatus(f"{what}: HTTP {status} without a JSON answer", status=status)
        if status >= 400 or envelope.get("success") is not True:
            raise _CloudflareStatus(
                f"{what}: HTTP {status}: {_error_text(envelope)}", status=status
            )
        return envelope.get("result")


class ExecDns:
    """TXT records through an admin's script, called like lego's `exec` provider."""

    def __init__(self, script: Path, timeout: float = 60.0) -> None:
        self._script = script
        self._timeout = timeout

    async def add_txt(self, fqdn: str, value: str) -> None:
        """Run `script present <fqdn.> <value>`."""
        await self._run("present", fqdn, value)

    async def remove_txt(self, fqdn: str, value: str) -> None:
        """Run `script cleanup <fqdn.> <value>`."""
        await self._run("cleanup", fqdn, value)

    async def _run(self, action: str, fqdn: str, value: str) -> None:
        """Run the script once; fail on a non-zero exit or past the timeout."""
        # lego passes the name fully qualified, with its trailing dot; scripts written for it
        # expect that.
        name = fqdn if fqdn.endswith(".") else fqdn + "."
        what = f"DNS script {self._script} {action} {name}"
        try:
            process = await asyncio.create_subprocess_exec(
                str(self._script),
                action,
                name,
                value,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                # Its own process group, so the timeout kills what the script started too.
                start_new_session=True,
            )
        except OSError as exc:
            raise DnsProviderError(f"{what}: cannot run it: {exc.strerror or exc}") from None
        try:
            async with asyncio.timeout(self._timeout):
                _, stderr = await process.communicate()
        except TimeoutError:
            await _kill_group(process)
            raise DnsProviderError(f"{what}: still running after {self._timeout:g} s") from None
        except BaseException:
            await _kill_group(process)
            raise
        status = await process.wait()
        if status != 0:
            how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
            tail = _tail(stderr)
            raise DnsProviderError(f"{what}: {how}" + (f": {tail}" if tail else ""))


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the script's process group and reap it, closing its pipes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # Every holder of the stderr pipe is dead now, so this reads to EOF and returns.
    await process.communicate()


def _tail(stderr: bytes) -> str:
    """The last lines of a script's stderr, short enough for one error message."""
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return "\n".join(lines[-_STDERR_LINES:])[-_STDERR_CHARS:]


def provider_from_config(name: str, options: dict[str, str]) -> DnsProvider:
    """The provider called `name` ("cloudflare" or "exec"), built from its options."""
    known = {"cloudflare": {"api_token"}, "exec": {"script"}}
    if name not in known:
        raise DnsProviderError(
            f"unknown DNS provider {name!r}; choose one of {', '.join(sorted(known))}"
        )
    # A misspelt option would otherwise be ignored silently.
    unknown = sorted(set(options) - known[name])
    if unknown:
        raise DnsProviderError(f"the {name} DNS provider has no option {', '.join(unknown)}")
    if name == "cloudflare":
        token = options.get("api_token", "").strip()
        if not token:
            raise DnsProviderError("the cloudflare DNS provider needs the option api_token")
        return CloudflareDns(Secret(token))
    script = options.get("script", "").strip()
    if not script:
        raise DnsProviderError("the exec DNS provider needs the option script")
    path = Path(script)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise DnsProviderError(f"the exec DNS provider's script {path} is not an executable file")
    return ExecDns(path)
