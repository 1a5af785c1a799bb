"""Shared fixtures: real PostgreSQL databases (embedded, and WHARF_TEST_DATABASE_URL when set)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings, load_settings
from controlplane.runtime.embedded_database import EmbeddedPostgres
from controlplane.store import Store, open_pool
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.harness.ports import free_port

ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "admin-password-1"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def admin_sql(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


class DatabaseServer:
    """A PostgreSQL server the tests may create databases on, with a migrated template."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.template: str | None = None

    def create(self, *, migrated: bool = True) -> str:
        """A fresh database; migrated ones are copied from a template migrated once."""
        name = "wharf_test_" + secrets.token_hex(6)
        if migrated and self.template is None:
            self.template = "wharf_tmpl_" + secrets.token_hex(6)
            admin_sql(self.url, f"CREATE DATABASE {self.template}")

            async def migrate() -> None:
                pool = await open_pool(with_database(self.url, self.template or ""))
                await Store(pool).migrate()
                pool.close()
                await pool.wait_closed()

            asyncio.run(migrate())
        template = f" TEMPLATE {self.template}" if migrated else ""
        admin_sql(self.url, f"CREATE DATABASE {name}{template}")
        return with_database(self.url, name)

    def drop(self, url: str) -> None:
        """Drop a database made by create(), closing any connection still open to it."""
        name = urlsplit(url).path.lstrip("/")
        admin_sql(self.url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        """Drop the template."""
        if self.template:
            admin_sql(self.url, f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[DatabaseServer]:
    """An embedded PostgreSQL for the whole run, in a short temp path (socket length limit)."""
    root = Path(tempfile.mkdtemp(prefix="wt", dir="/tmp"))
    server = EmbeddedPostgres(root / "pg")
    database = DatabaseServer(server.start())
    yield database
    database.close()
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run `one_database` tests against the embedded server only: they test the UI and the
    command line through a real stack, and the store's tests cover both servers already."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        server = params.params.get("database_server") if params else None
        if item.get_closest_marker("one_database") and server == "external":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _server_params() -> list[str]:
    return ["embedded", "external"] if os.environ.get("WHARF_TEST_DATABASE_URL") else ["embedded"]


@pytest.fixture(scope="session", params=_server_params())
def database_server(request: pytest.FixtureRequest) -> Iterator[DatabaseServer]:
    """Each server the suite runs against: the embedded one, and the external one when set."""
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_server")
        return
    database = DatabaseServer(os.environ["WHARF_TEST_DATABASE_URL"])
    yield database
    database.close()


@pytest.fixture
def database_url(database_server: DatabaseServer) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    url = database_server.create()
    yield url
    database_server.drop(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an app on the test database, isolated from the caller's environment."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            # Never the default port: probes after a publish would reach an edge another test
            # (the README's quick start) runs there, find another release, and roll back.
            "edge_listen": f"127.0.0.1:{free_port()}",
        },
        environ={},
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A Store on the test database."""
    pool = await open_pool(database_url)
    yield Store(pool)
    pool.close()
    await pool.wait_closed()


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of a running control plane with one admin."""
    app: web.Application = create_app(settings)
    test_client: TestClient = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    return test_client


async def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    """Authorization headers for a user, obtained through the login endpoint."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    return {"Authorization": "Bearer " + (await response.json())["access_token"]}


@pytest.fixture
async def admin_headers(client: TestClient) -> dict[str, str]:
    """Authorization headers of the admin."""
    return await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)


async def make_member(
    client: TestClient, admin_headers: dict[str, str], email: str
) -> dict[str, str]:
    """Create a member through the API and return their authorization headers."""
    password = "member-password-" + secrets.token_hex(4)
    response = await client.post(
        "/api/v1/users",
        json={"email": email, "password": password, "role": "member"},
        headers=admin_headers,
    )
    assert response.status == 201, await response.text()
    return await login(client, email, password)


async def routed(client: TestClient) -> None:
    """Wait until every routing change so far is written (or refused) by the app's reconciler."""
    routing = client.server.app[SERVICES].routing
    report = await routing.wait((await routing.report()).version, 15)
    assert report.state != "pending", "routing was not written within 15 s"
