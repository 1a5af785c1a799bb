"""`wharf serve` as a real child process, the way an operator runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.harness.ports import free_port
from tests.harness.waiting import tail

ADMIN = {"email": "admin@example.test", "password": "admin-password-1"}


async def stop(process: asyncio.subprocess.Process) -> None:
    """Terminate a child and reap it (killed after 10 s)."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def up_options(http_port: int) -> dict[str, str]:
    """Flags for `wharf up` on free loopback ports, Traefik's HTTP entrypoint on http_port."""
    return {
        "job_poll": "1",
        "edge_listen": f"127.0.0.1:{free_port()}",
        "edge_workers": "1",
        "http_listen": f"127.0.0.1:{http_port}",
        "https_listen": f"127.0.0.1:{free_port()}",
        "traefik_api_listen": f"127.0.0.1:{free_port()}",
    }


@contextlib.asynccontextmanager
async def control_plane(
    data_dir: Path,
    database_url: str,
    listen: tuple[str, int],
    log: Path,
    command: str = "serve",
    **options: str,
) -> AsyncIterator[str]:
    """`wharf serve` (no Traefik of its own) with the admin of ADMIN, or with command "up" the
    whole stack (edge and Traefik too); yields its URL once it printed it, and stops it on exit.
    options are more command-line flags (log_level=...)."""
    host, port = listen
    if command == "serve":
        # Its own edge address, free: probes after a publish must never reach an edge another
        # test runs on the default port (they would find another site and roll back).
        options = {"traefik": "false", "edge_listen": f"127.0.0.1:{free_port()}", **options}
    argv = [
        sys.executable, "-m", "controlplane.cli", command,
        "--data-dir", str(data_dir),
        "--database-url", database_url,
        "--listen", f"{host}:{port}",
        "--admin-email", ADMIN["email"],
        "--admin-password", ADMIN["password"],
        "--log-level", "warning",
    ]  # fmt: skip
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env
        )
    try:
        assert process.stdout is not None
        while line := await asyncio.wait_for(process.stdout.readline(), 60):
            if b"Wharf is running" in line:
                break
        else:
            raise AssertionError(f"the control plane exited early:\n{tail(log)}")
        yield f"http://{host}:{port}"
    finally:
        await stop(process)
