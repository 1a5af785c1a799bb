"""`wharf up` as a user runs it: prints the login, serves, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.harness.ports import free_port
from tests.sites import site_files, zip_bytes

pytestmark = pytest.mark.slow


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Server processes whose command line names this data directory."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(process)
    return found


class WharfUp:
    """One `wharf up` process with its output collected."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WHARF_")}
        self.edge_port = free_port()
        self.http_port = free_port()
        env.update(
            WHARF_DATA_DIR=str(data_dir),
            WHARF_LISTEN=f"127.0.0.1:{port}",
            WHARF_EDGE_LISTEN=f"127.0.0.1:{self.edge_port}",
            WHARF_EDGE_WORKERS="1",
            WHARF_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            WHARF_HTTPS_LISTEN=f"127.0.0.1:{free_port()}",
            WHARF_TRAEFIK_API_LISTEN=f"127.0.0.1:{free_port()}",
        )
        self.log = data_dir.parent / f"up-{port}-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controlplane.cli", "up"],
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """Everything printed so far."""
        return self.log.read_text()

    def wait_for_banner(self, timeout: float = 30) -> tuple[str, str, str]:
        """The URL, email and password it printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            match = re.search(
                r"running: (\S+)\n(?:.*\n)*?\s+login: (\S+)\n\s+password: (\S+)", text
            )
            if match:
                return match[1], match[2], match[3]
            assert self.process.poll() is None, f"wharf up exited:\n{text}"
            time.sleep(0.1)
        raise AssertionError(f"no banner within {timeout}s:\n{self.output()}")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short data path (the database socket lives in it)."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="wu", dir="/tmp"))
    yield root / "data"
    for process in postgres_processes(root / "data" / "pg"):
        process.kill()
    shutil.rmtree(root, ignore_errors=True)


def _children_of(data_dir: Path) -> list[psutil.Process]:
    """Edge and Traefik processes started for this data directory."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline and ("traefik" in cmdline or " edge " in cmdline):
            found.append(process)
    return found


def _use_the_stack(url: str, email: str, password: str, http_port: int) -> None:
    assert requests.get(f"{url}healthz", timeout=5).status_code == 200
    login = requests.post(
        f"{url}api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": "Bearer " + login.json()["access_token"]}
    created = requests.post(f"{url}api/v1/sites", json={"name": "blog"}, headers=headers, timeout=5)
    assert created.status_code in (201, 409), created.text
    marker = f"release-{time.monotonic_ns()}"
    deploy = requests.post(
        f"{url}api/v1/sites/blog/deploys",
        data=zip_bytes(site_files(marker)),
        headers={**headers, "Content-Type": "application/zip"},
        timeout=30,
    )
    assert deploy.status_code == 202, deploy.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = requests.get(
            f"http://127.0.0.1:{http_port}/", headers={"Host": "blog.localhost"}, timeout=5
        )
        if marker in page.text:
            assert page.headers["X-Wharf-Deploy"] == deploy.json()["id"]
            return
        time.sleep(0.2)
    raise AssertionError("the deployed site never appeared through Traefik")


def test_up_prints_login_serves_and_ctrl_c_stops_everything(data_dir: Path) -> None:
    up = WharfUp(data_dir, free_port())
    try:
        url, email, password = up.wait_for_banner()
        assert email == "admin@localhost"
        _use_the_stack(url, email, password, up.http_port)
        assert postgres_processes(data_dir / "pg"), "the embedded database should be running"
        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(timeout=30) == 0, up.output()
    finally:
        if up.process.poll() is None:
            up.process.kill()
    assert postgres_processes(data_dir / "pg") == [], up.output()
    edge_address = f"127.0.0.1:{up.edge_port}"
    edges = [
        p
        for p in psutil.process_iter(["cmdline"])
        if edge_address in " ".join(p.info["cmdline"] or [])
    ]
    assert edges == [], "the edge outlived wharf up"
    assert (
        not psutil.pid_exists(up.process.pid) or psutil.Process(up.process.pid).status() == "zombie"
    )
    # The secret key stays private to the owner.
    assert (data_dir / "secret_key").stat().st_mode & 0o077 == 0


def test_up_after_sigkill_reuses_then_stops_the_database(data_dir: Path) -> None:
    first = WharfUp(data_dir, free_port())
    _, email, password = first.wait_for_banner()
    first.process.kill()
    first.process.wait(timeout=10)
    leftover = postgres_processes(data_dir / "pg")
    assert leftover, "SIGKILL leaves the database running; the next start must deal with it"
    # The edge and Traefik die with it (parent-death signal), so nothing holds their ports.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _children_of(data_dir):
        time.sleep(0.1)
    assert _children_of(data_dir) == []

    second = WharfUp(data_dir, free_port())
    try:
        url, _, same_password = second.wait_for_banner()
        assert same_password == password  # the first admin's login is printed again
        _use_the_stack(url, email, password, second.http_port)
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(timeout=30) == 0, second.output()
    finally:
        if second.process.poll() is None:
            second.process.kill()
    assert postgres_processes(data_dir / "pg") == [], second.output()
