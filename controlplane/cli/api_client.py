"""`wharf deploy` and `wharf rollback`: talk to a running control plane over its JSON API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from controlplane.errors import WharfError

_CHUNK = 256 * 1024
_FINAL = {"live", "failed", "superseded"}


@dataclass(frozen=True)
class ApiTarget:
    """Where the control plane is, and the token to use."""

    url: str
    token: str

    def headers(self) -> dict[str, str]:
        """Authorization for every call."""
        return {"Authorization": f"Bearer {self.token}"}


class CliFailure(WharfError):
    """A failure to report to the terminal, with an exit code of 1."""


def zip_directory(folder: Path, target: Path) -> int:
    """Write a folder's regular files into a ZIP; returns the file count (symlinks skipped)."""
    count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            archive.write(path, path.relative_to(folder).as_posix())
            count += 1
    if count == 0:
        raise CliFailure(f"{folder} has no files to deploy", code="empty_folder")
    return count


def parse_flag_options(flags: list[str], secret_flags: list[str]) -> dict[str, Any]:
    """`name=value` options into the API's flags object; values are JSON when they parse."""
    result: dict[str, Any] = {}
    for text, secret in [(f, False) for f in flags] + [(f, True) for f in secret_flags]:
        name, sep, raw = text.partition("=")
        if not sep or not name:
            raise CliFailure(f"flags are name=value, got {text!r}", code="invalid_flag")
        try:
            value: Any = json.loads(raw) if raw in ("true", "false") else raw
        except json.JSONDecodeError:
            value = raw
        result[name] = {"value": value, "secret": True} if secret else value
    return result


class Progress:
    """An upload progress bar, drawn only on a terminal."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = max(total, 1)
        self.sent = 0
        self.stream = stream
        self.enabled = stream.isatty()

    def advance(self, count: int) -> None:
        """Count bytes sent and redraw."""
        self.sent += count
        if self.enabled:
            done = int(30 * self.sent / self.total)
            self.stream.write(
                f"\rUploading [{'#' * done}{'.' * (30 - done)}] "
                f"{100 * self.sent // self.total:3d}%"
                f" {self.sent / 1e6:.1f}/{self.total / 1e6:.1f} MB"
            )
            self.stream.flush()

    def finish(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")


async def _file_chunks(path: Path, progress: Progress) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            progress.advance(len(chunk))
            yield chunk


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        error = (await response.json())["error"]
    except (aiohttp.ContentTypeError, json.JSONDecodeError, KeyError, TypeError):
        return f"HTTP {response.status}: {(await response.text())[:500]}"
    lines = [f"{error['message']} ({error['code']}, HTTP {response.status})"]
    details = error.get("details")
    if isinstance(details, list):
        for item in details[:50]:
            where = item.get("entry") or item.get("flag") or ""
            lines.append(f"  {where}: {item.get('message')} ({item.get('code')})")
        if len(details) > 50:
            lines.append(f"  … and {len(details) - 50} more")
    return "\n".join(lines)


async def deploy(
    target: ApiTarget,
    site: str,
    source: Path,
    environment: str,
    flags: dict[str, Any],
    *,
    wait_seconds: float = 600,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> dict[str, Any]:
    """Upload a folder or ZIP, wait for the build, and print the URLs; the final deploy."""
    out = out or sys.stdout
    err = err or sys.stderr
    temp_zip: Path | None = None
    if await asyncio.to_thread(source.is_dir):
        fd, name = tempfile.mkstemp(suffix=".zip")
        os.close(fd)
        temp_zip = Path(name)
        count = await asyncio.to_thread(zip_directory, source, temp_zip)
        err.write(f"Zipped {count} files from {source}\n")
        archive = temp_zip
    elif await asyncio.to_thread(source.is_file):
        archive = source
    else:
        raise CliFailure(f"{source} is neither a folder nor a file", code="no_source")
    try:
        return await _upload_and_wait(
            target, site, archive, environment, flags, wait_seconds, out, err
        )
    finally:
        if temp_zip is not None:
            temp_zip.unlink(missing_ok=True)


async def _upload_and_wait(
    target: ApiTarget,
    site: str,
    archive: Path,
    environment: str,
    flags: dict[str, Any],
    wait_seconds: float,
    out: TextIO,
    err: TextIO,
) -> dict[str, Any]:
    size = (await asyncio.to_thread(archive.stat)).st_size
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=300)
    base = target.url.rstrip("/") + f"/api/v1/sites/{site}"
    async with aiohttp.ClientSession(headers=target.headers(), timeout=timeout) as session:
        async with session.get(base) as response:
            if response.status != 200:
                raise CliFailure(await _error_text(response), code="site_unavailable")
            auto_publish = (await response.json())["auto_publish"]
        progress = Progress(size, err)
        params = {"environment": environment}
        if flags:
            params["flags"] = json.dumps(flags)
        async with session.post(
            f"{base}/deploys",
            params=params,
            data=_file_chunks(archive, progress),
            headers={"Content-Type": "application/zip", "Content-Length": str(size)},
        ) as response:
            progress.finish()
            if response.status != 202:
                raise CliFailure(await _error_text(response), code="upload_rejected")
            deploy: dict[str, Any] = await response.json()
        err.write(f"Deploy {deploy['id']} accepted; building…\n")
        # A production deploy of a site with auto-publish locked stops at "ready".
        stops_at_ready = environment == "production" and not auto_publish
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while deploy["status"] not in _FINAL and not (
            stops_at_ready and deploy["status"] == "ready"
        ):
            if loop.time() > deadline:
                raise CliFailure(
                    f"deploy {deploy['id']} is still {deploy['status']}", code="timeout"
                )
            await asyncio.sleep(0.3)
            async with session.get(f"{base}/deploys/{deploy['id']}") as response:
                deploy = await response.json()
        if deploy["status"] == "failed":
            async with session.get(f"{base}/deploys/{deploy['id']}/log") as response:
                lines = (await response.json()).get("lines", [])
            for line in lines[-40:]:
                err.write(f"  | {line['text']}\n")
            raise CliFailure(
                f"deploy {deploy['id']} failed: {deploy['error']}", code="deploy_failed"
            )
    urls = deploy["urls"]
    if deploy["status"] == "live":
        out.write(f"Live: {urls['environment']}\n")
    else:
        out.write(f"Ready (not published): publish with POST …/deploys/{deploy['id']}/publish\n")
    if urls.get("preview"):
        out.write(f"Preview: {urls['preview']}\n")
    return deploy


async def rollback(
    target: ApiTarget,
    site: str,
    environment: str,
    deploy_id: str | None,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Ask for a rollback and print what went live."""
    out = out or sys.stdout
    body: dict[str, Any] = {"environment": environment}
    if deploy_id:
        body["deploy_id"] = deploy_id
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=target.headers(), timeout=timeout) as session:
        url = target.url.rstrip("/") + f"/api/v1/sites/{site}/rollback"
        async with session.post(url, json=body) as response:
            if response.status != 200:
                raise CliFailure(await _error_text(response), code="rollback_failed")
            event: dict[str, Any] = await response.json()
    out.write(
        f"Rolled back {site} ({environment}): {event['from_deploy']} -> {event['to_deploy']}\n"
    )
    return event
