"""The CLI's connection to a control plane: one JSON API call at a time, its errors turned into
messages that say what to do and the exit codes `docs/cli.md` documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from controlplane.errors import WharfError

# Exit codes, for people and for CI scripts (docs/cli.md lists them).
EXIT_OK = 0
EXIT_FAILED = 1  # refused by the server, or the work failed
EXIT_USAGE = 2  # the command line is wrong
EXIT_NOT_FOUND = 3  # no such site, deploy, domain, token or user (or not yours)
EXIT_UNAUTHORISED = 4  # no token, a bad one, or not allowed


class CliFailure(WharfError):
    """A failure to report on stderr; `exit_code` says how the command ends."""

    def __init__(
        self, message: str, *, code: str, details: object = None, exit_code: int = EXIT_FAILED
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.exit_code = exit_code


class ApiError(CliFailure):
    """The control plane refused a call: its status, code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        exit_code = {404: EXIT_NOT_FOUND, 401: EXIT_UNAUTHORISED, 403: EXIT_UNAUTHORISED}
        super().__init__(
            message, code=code, details=details, exit_code=exit_code.get(status, EXIT_FAILED)
        )
        self.status = status


@dataclass(frozen=True)
class ApiTarget:
    """Where the control plane is, and the token to use (None: not logged in)."""

    url: str
    token: str | None

    def headers(self) -> dict[str, str]:
        """Authorization for every call."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


async def error_of(response: aiohttp.ClientResponse) -> ApiError:
    """The API's error document as an ApiError (a proxy's HTML page as its status line)."""
    try:
        error = (await response.json(content_type=None))["error"]
        return ApiError(response.status, error["code"], error["message"], error.get("details"))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        text = (await response.text(errors="replace"))[:200].strip()
        return ApiError(response.status, "http_error", f"HTTP {response.status}: {text}")


class Client:
    """JSON calls to one control plane, in one HTTP session."""

    def __init__(self, target: ApiTarget, timeout: float = 60) -> None:
        self.target = target
        self.base = target.url.rstrip("/")
        self.session = aiohttp.ClientSession(
            headers=target.headers(), timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        bearer: str | None = None,
    ) -> Any:
        """The answer's JSON document (None for 204); ApiError when the server refused.
        bearer: another token for this one call (login's short-lived access token)."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
        try:
            async with self.session.request(
                method, self.base + path, json=body, params=params, headers=headers
            ) as response:
                if response.status >= 400:
                    raise await error_of(response)
                if response.status == 204:
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: BaseException) -> CliFailure:
        return CliFailure(
            f"cannot reach {self.base} ({exc.__class__.__name__}): is Wharf running there?"
            " Give another with --url or WHARF_URL",
            code="unreachable",
        )

    async def send(
        self, path: str, body: AsyncIterator[bytes], size: int, params: dict[str, str]
    ) -> Any:
        """POST a ZIP streamed from `body` (size bytes); the answer's JSON document."""
        headers = {"Content-Type": "application/zip", "Content-Length": str(size)}
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=300)
        try:
            async with self.session.post(
                self.base + path, data=body, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raise await error_of(response)
                return await response.json(content_type=None)
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None

    async def events(self, path: str) -> AsyncIterator[tuple[str, str]]:
        """(event, data) of a server-sent event stream until it ends; "message" for lines."""
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=600)
        try:
            async with self.session.get(self.base + path, timeout=timeout) as response:
                if response.status >= 400:
                    raise await error_of(response)
                event, data = "message", ""
                async for raw in response.content:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    if not line:
                        yield event, data
                        event, data = "message", ""
                    elif line.startswith("event: "):
                        event = line[len("event: ") :]
                    elif line.startswith("data: "):
                        data = line[len("data: ") :]
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise self._unreachable(exc) from None
