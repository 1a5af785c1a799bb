"""The image without Docker: the Dockerfile's builder steps replayed into a fresh venv, then
`wharf serve`, `wharf worker` and `wharf edge` from it as the image's user (uid 9999, gid 0),
with only the mounts the Coolify compose file gives: the data volume and the proxy's dynamic
folder."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.harness.control_plane import ADMIN, stop
from tests.harness.dockerfile import Stage, build_context, stages
from tests.harness.ports import free_port
from tests.harness.waiting import wait_for
from tests.sites import site_files, zip_bytes

# One database: what this tests is the image's files and user, not the database server.
pytestmark = [pytest.mark.slow, pytest.mark.one_database]
REPO = Path(__file__).parents[2]
MARKER = "served-from-the-image"


def as_user(uid: int, gid: int) -> list[str]:
    """The prefix that runs a command as uid:gid with no supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def interpreter_for(uid: int, gid: int) -> str:
    """A Python 3.11 the user can run and make a venv with (pyenv's lives under root's 0700 home:
    the image's /usr/local/bin/python3.11 stands in for any of them)."""
    candidates = [
        os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "/usr/local/bin/python3.11",
        "/usr/bin/python3.11",
    ]
    probe = "import sys, ensurepip, venv; assert sys.version_info[:2] == (3, 11)"
    for candidate in candidates:
        if os.path.exists(candidate):
            ran = subprocess.run([*as_user(uid, gid), candidate, "-c", probe], capture_output=True)
            if ran.returncode == 0:
                return candidate
    pytest.skip(f"no Python 3.11 that uid {uid} can run among {candidates}")


def replay_builder(builder: Stage, context: Path, root: Path, python: str, log: Path) -> None:
    """Run the builder stage's WORKDIR, COPY and RUN lines with `root` standing for the image's
    `/` (every absolute path in a RUN line is moved under it) and `python` as the base image's."""
    shims = root / "shims"
    shims.mkdir(parents=True)
    (shims / "python").symlink_to(python)
    workdir = root
    for instruction in builder.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = root / instruction.arguments.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            *sources, destination = instruction.arguments.split()
            assert not any(source.startswith("--") for source in sources), instruction
            target = workdir / destination
            for source in sources:
                if (context / source).is_dir():
                    shutil.copytree(context / source, target, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(context / source, target / source)
        elif instruction.keyword == "RUN":
            command = re.sub(r"(?<=[\s=])/(?=\w)", f"{root}/", instruction.arguments)
            env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}
            env.pop("VIRTUAL_ENV", None)
            with log.open("ab") as output:
                ran = subprocess.run(
                    ["sh", "-c", command], cwd=workdir, env=env, stdout=output, stderr=output
                )
            assert ran.returncode == 0, f"{command}\n{log.read_text()[-4000:]}"
        else:
            raise AssertionError(f"the replay does not know {instruction.keyword}: update it")


def snapshot(proxy: Path, dynamic: Path) -> dict[str, tuple[int, ...] | str]:
    """Every entry under the proxy folder but the dynamic folder's contents: mode, owner, mtime,
    size, and the sentinels' digests."""
    entries: dict[str, tuple[int, ...] | str] = {}
    for path in [proxy, *proxy.rglob("*")]:
        if dynamic in path.parents:
            continue
        info = path.lstat()
        # The dynamic folder's mtime changes when Wharf writes in it; its mode and owner may not.
        mtime = 0 if path == dynamic else info.st_mtime_ns
        key = str(path.relative_to(proxy))
        entries[key] = (info.st_mode, info.st_uid, info.st_gid, mtime, info.st_size)
        if path.is_file():
            entries[key + " sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def owned(path: Path, uid: int, gid: int, mode: int) -> Path:
    """Make path (a folder unless it exists) owned by uid:gid with that mode."""
    path.mkdir(exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def ids(pid: int) -> tuple[str, str, str]:
    """The Uid, Gid and Groups lines' values of a running process."""
    lines = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return lines["Uid"].split()[0], lines["Gid"].split()[0], lines["Groups"].strip()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def over_tcp(database_url: str) -> AsyncIterator[str]:
    """The database URL as another user reaches it: unchanged when it is TCP, else (the
    embedded server's socket lies in root's 0700 folder) a loopback relay to the socket, the
    way the compose file's processes reach the postgres service over the network."""
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if parts.hostname or not socket_dir.startswith("/"):
        yield database_url
        return
    socket_path = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(socket_path)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    port = free_port()
    server = await asyncio.start_server(relay, "127.0.0.1", port)
    try:
        yield f"postgresql://{parts.username}:@127.0.0.1:{port}{parts.path}"
    finally:
        server.close()


@pytest.fixture
def image_dir() -> Iterator[Path]:
    """A folder the image's user can reach (pytest's tmp_path is under root's 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="wharf-image-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def started(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process for the block, its output in log; stopped on exit."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdout=output, stderr=output
        )
    try:
        yield process
    finally:
        await stop(process)


async def test_image_runs_as_9999_and_writes_only_the_compose_mounts(
    database_url: str, image_dir: Path
) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the processes as the image's user")
    builder, runtime = stages((REPO / "Dockerfile").read_text())
    user, _, group = runtime.all("USER")[-1].partition(":")
    uid, gid = int(user), int(group or "0")
    assert (uid, gid) == (9999, 0)
    [copy] = [line for line in runtime.all("COPY") if line.startswith(f"--from={builder.name} ")]
    _, venv_source, venv_target = copy.split()
    assert venv_source == venv_target, "a venv is not relocatable: it must keep its path"

    # The build: the context .dockerignore leaves, and the builder's lines replayed on it.
    context, root, logs = image_dir / "context", image_dir / "root", image_dir / "logs"
    logs.mkdir()
    copied = build_context(REPO, context)
    assert not [path for path in copied if path.startswith(("tests/", "docs/", ".git"))]
    replay_builder(builder, context, root, interpreter_for(uid, gid), logs / "build.log")
    venv = root / venv_target.lstrip("/")
    assert (venv / "share" / "wharf" / "templates" / "base.html").is_file()

    # The mounts: a named volume for /data (it copies the image's 9999:0 folder), and Coolify's
    # /data/coolify/proxy/dynamic, whose parent holds Traefik's own files (root's, 0600).
    data = owned(image_dir / "volume-data", uid, gid, 0o770)
    proxy = owned(image_dir / "coolify-proxy", uid, gid, 0o700)
    for sentinel in ("acme.json", "docker-compose.yml"):
        (proxy / sentinel).write_text(f"{sentinel} of Coolify's proxy\n")
        (proxy / sentinel).chmod(0o600)
    dynamic = owned(proxy / "dynamic", uid, gid, 0o700)
    before = snapshot(proxy, dynamic)

    image_env = runtime.env()
    assert image_env["WHARF_DATA_DIR"] == "/data"
    path = image_env["PATH"].replace("${PATH}", os.environ["PATH"])
    path = ":".join(
        str(root / part.lstrip("/")) if (root / part.lstrip("/")).is_dir() else part
        for part in path.split(":")
    )
    assert path.startswith(f"{venv}/bin:")
    listen, edge_port = free_port(), free_port()
    nowhere = f"127.0.0.1:{free_port()}"
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WHARF_", "PYTHON", "COV_")) and k != "VIRTUAL_ENV"
    }
    env = inherited | image_env | {
        "PATH": path,
        "HOME": str(data),
        "WHARF_DATA_DIR": str(data),
        "WHARF_TRAEFIK_DYNAMIC_DIR": str(dynamic),
        "WHARF_DATABASE_URL": "",  # set below, once reachable
        "WHARF_LISTEN": f"127.0.0.1:{listen}",
        "WHARF_EDGE_LISTEN": f"127.0.0.1:{edge_port}",
        "WHARF_EDGE_WORKERS": "1",
        "WHARF_ADMIN_EMAIL": ADMIN["email"],
        "WHARF_ADMIN_PASSWORD": ADMIN["password"],
        "WHARF_SECRET_KEY": "k" * 40,
        "WHARF_JOB_POLL": "1",
        "WHARF_DNS_RESOLVER": nowhere,
        "WHARF_HTTP_CHECK_ADDRESS": nowhere,
    }  # fmt: skip
    command = json.loads(runtime.all("CMD")[-1])
    assert command == ["wharf", "serve"]
    healthcheck = json.loads(runtime.all("HEALTHCHECK")[-1].split(" CMD ", 1)[1])
    serve_log, worker_log, edge_log = logs / "serve.log", logs / "worker.log", logs / "edge.log"
    control = f"http://127.0.0.1:{listen}"
    edge = f"http://127.0.0.1:{edge_port}"
    async with contextlib.AsyncExitStack() as processes, aiohttp.ClientSession() as http:
        env["WHARF_DATABASE_URL"] = await processes.enter_async_context(over_tcp(database_url))
        serve = await processes.enter_async_context(
            started(as_user(uid, gid) + command, env | {"WHARF_WORKER": "false"}, data, serve_log)
        )
        worker = await processes.enter_async_context(
            started([*as_user(uid, gid), "wharf", "worker"], env, data, worker_log)
        )
        edge_process = await processes.enter_async_context(
            started([*as_user(uid, gid), "wharf", "edge"], env, data, edge_log)
        )
        all_logs = (serve_log, worker_log, edge_log)

        async def healthy(url: str, host: str) -> bool:
            try:
                async with http.get(url + "/healthz", headers={"Host": host}) as response:
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await wait_for(lambda: healthy(control, "127.0.0.1"), 30, *all_logs)
        await wait_for(lambda: healthy(edge, "localhost"), 30, *all_logs)
        for process in (serve, worker, edge_process):
            assert process.returncode is None, all_logs
            assert ids(process.pid) == (str(uid), str(gid), ""), process
        # The image's HEALTHCHECK, as Docker runs it in the container (port 8000 there).
        probe = [part.replace("127.0.0.1:8000", f"127.0.0.1:{listen}") for part in healthcheck]
        # Not subprocess.run: /healthz asks the database, through this loop's relay.
        checked = await asyncio.create_subprocess_exec(
            *as_user(uid, gid), *probe, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, complaint = await checked.communicate()
        assert checked.returncode == 0, complaint.decode()

        # The templates and static files, from the wheel's share/wharf (no checkout here).
        for page, needle in (("/sign-in", "<form"), ("/static/wharf.css", "{")):
            async with http.get(control + page) as response:
                assert response.status == 200, (page, await response.text())
                assert needle in await response.text(), page

        # A site deployed through the API, published by `wharf worker`, served by the edge.
        async with http.post(f"{control}/api/v1/auth/login", json=ADMIN) as response:
            assert response.status == 200, await response.text()
            headers = {"Authorization": "Bearer " + (await response.json())["access_token"]}
        async with http.post(
            f"{control}/api/v1/sites", json={"name": "blog"}, headers=headers
        ) as response:
            assert response.status == 201, await response.text()
        async with http.post(
            f"{control}/api/v1/sites/blog/deploys",
            data=zip_bytes(site_files(MARKER)),
            headers=headers | {"Content-Type": "application/zip"},
        ) as response:
            assert response.status == 202, await response.text()
            deploy = (await response.json())["id"]

        async def live() -> bool:
            url = f"{control}/api/v1/sites/blog/deploys/{deploy}"
            async with http.get(url, headers=headers) as response:
                status = (await response.json())["status"]
                assert status != "failed", await response.text()
                return bool(status == "live")

        async def served() -> bool:
            async with http.get(f"{edge}/", headers={"Host": "blog.localhost"}) as response:
                return response.status == 200 and MARKER in await response.text()

        await wait_for(live, 30, *all_logs)
        await wait_for(served, 15, *all_logs)
        # Sites share one wildcard router to the edge; the file names this test's edge.
        routes, upstream = dynamic / "wharf.yml", f"http://127.0.0.1:{edge_port}"
        await wait_for(lambda: routes.exists() and upstream in routes.read_text(), 15, *all_logs)

    written = routes.stat()
    assert (stat.S_IMODE(written.st_mode), written.st_uid) == (0o600, uid)
    assert sorted(os.listdir(dynamic)) == [".wharf-staging", "wharf.yml"]
    assert os.listdir(dynamic / ".wharf-staging") == []
    assert snapshot(proxy, dynamic) == before
    strangers = [p for p in [data, *data.rglob("*")] if p.lstat().st_uid != uid]
    assert not strangers, strangers
