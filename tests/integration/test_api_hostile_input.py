"""Input no handler or database can take, on every endpoint: each answer is a 4xx in the error
shape, never a 500, and nothing is written (the inputs the judges found: NUL characters, lone
surrogates, JSON nested a thousand deep, broken multipart and forms, `?flags=null`)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from controlplane.web.routes import ENDPOINTS
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.harness.control_plane import control_plane
from tests.harness.ports import free_port
from tests.sites import site_files, zip_bytes

NUL = "a\u0000b"
SURROGATE = "a\ud800b"
DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
# Concrete values for path parameters, for the endpoints that need a row to exist.
PARAMETERS = {"site": "blog", "deploy": "000000000000", "hostname": "www.blog.test"}


def _json_endpoints() -> list[tuple[str, str]]:
    """(method, concrete path) of every endpoint that takes a JSON body."""
    found = []
    for endpoint in ENDPOINTS:
        if endpoint.request_body is None:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMETERS.get(m[1], "1"), endpoint.path)
        found.append((endpoint.method, path))
    return found


def _parameter_paths() -> list[tuple[str, str]]:
    """(method, path with a NUL in one of its parameters) for every parameter of every route."""
    found = []
    for endpoint in ENDPOINTS:
        for name in re.findall(r"\{(\w+)\}", endpoint.path):
            path = endpoint.path
            for other in re.findall(r"\{(\w+)\}", endpoint.path):
                value = "a%00b" if other == name else PARAMETERS.get(other, "1")
                path = path.replace("{" + other + "}", value)
            found.append((endpoint.method, path))
    return found


async def _error(response: Any) -> dict[str, Any]:
    """The error body of a 4xx answer (asserted)."""
    assert 400 <= response.status < 500, (response.status, await response.text())
    body: dict[str, Any] = await response.json()
    assert set(body["error"]) >= {"code", "message"}
    return body["error"]


@pytest.fixture
async def seeded(client: TestClient, admin_headers: dict[str, str]) -> dict[str, str]:
    """The admin's headers, with a site `blog` to aim at."""
    created = await client.post("/api/v1/sites", json={"name": "blog"}, headers=admin_headers)
    assert created.status == 201
    return admin_headers


@pytest.mark.parametrize("text", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_hostile_text_in_any_json_string_is_422_on_every_json_endpoint(
    client: TestClient, seeded: dict[str, str], text: str
) -> None:
    # As a value and as a key, for every endpoint; strings no endpoint reads are refused too:
    # the check is where input enters, not field by field.
    bodies = [{"email": text, "password": text, "name": text, "deploy_id": text}, {text: 1}]
    for method, path in _json_endpoints():
        for body in bodies:
            response = await client.request(method, path, json=body, headers=seeded)
            error = await _error(response)
            assert error["code"] == "invalid_text", (method, path, error)
    # The login needs no account: the most exposed of them.
    login = await client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": text})
    assert (await _error(login))["code"] == "invalid_text"
    # Nothing was written: the site list is as it was, the admin's password unchanged.
    sites = await (await client.get("/api/v1/sites", headers=seeded)).json()
    assert [site["name"] for site in sites["sites"]] == ["blog"]
    good = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    assert (await client.post("/api/v1/auth/login", json=good)).status == 200


@pytest.mark.parametrize("document", [DEEP, DEEP_OBJECT], ids=["array", "object"])
async def test_hostile_deep_json_is_400_on_every_json_endpoint(
    client: TestClient, seeded: dict[str, str], document: str
) -> None:
    json_type = {"Content-Type": "application/json"}
    for method, path in [*_json_endpoints(), ("POST", "/api/v1/auth/login")]:
        response = await client.request(
            method, path, data=document, headers={**seeded, **json_type}
        )
        assert (await _error(response))["code"] == "invalid_json", (method, path)


async def test_hostile_nul_in_any_path_parameter_is_that_resources_404(
    client: TestClient, seeded: dict[str, str]
) -> None:
    paths = _parameter_paths()
    assert len(paths) >= 20
    for method, path in paths:
        response = await client.request(method, path, headers=seeded)
        error = await _error(response)
        assert response.status == 404, (method, path, error)
    site = await _error(await client.get("/api/v1/sites/a%00b", headers=seeded))
    assert site["code"] == "site_not_found"


async def test_hostile_query_and_upload_fields(client: TestClient, seeded: dict[str, str]) -> None:
    archive = zip_bytes(site_files("q"))
    zip_type = {**seeded, "Content-Type": "application/zip"}
    url = "/api/v1/sites/blog/deploys"
    for query, code in [
        ("?flags=null", "invalid_flags"),
        ("?flags=[1]", "invalid_flags"),
        ("?flags=" + "%5B" * 1000, "invalid_flags"),
        ("?environment=a%00b", "invalid_text"),
        ("?flags=%7B%22env.A%22:%22a%00%22%7D", "invalid_text"),
    ]:
        response = await client.post(url + query, data=archive, headers=zip_type)
        assert (await _error(response))["code"] == code, query
    deploys = await (await client.get(url, headers=seeded)).json()
    assert deploys["deploys"] == []  # nothing was accepted


async def test_hostile_multipart_part_with_a_malformed_header_is_400(
    client: TestClient, seeded: dict[str, str]
) -> None:
    # Found by schemathesis: aiohttp's parser raises InvalidHeader for such a part.
    header = b'Content-Disposition: form-data; name="\xc2\x98\x06\xc2\xb8"'
    body = b"--x\r\n" + header + b"\r\n\r\nnull\r\n--x--\r\n"
    response = await client.post(
        "/api/v1/sites/blog/deploys",
        data=body,
        headers={**seeded, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert (await _error(response))["code"] == "invalid_multipart"


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=nothere",
    ],
    ids=["no-boundary", "empty-boundary", "boundary-absent-from-body"],
)
async def test_hostile_multipart_without_a_usable_boundary_is_400(
    client: TestClient, seeded: dict[str, str], content_type: str
) -> None:
    body = b"--other\r\nContent-Disposition: form-data; name=archive\r\n\r\nPK\r\n--other--\r\n"
    response = await client.post(
        "/api/v1/sites/blog/deploys", data=body, headers={**seeded, "Content-Type": content_type}
    )
    assert response.status == 400
    assert (await _error(response))["code"] in ("invalid_multipart", "missing_archive")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"\xff\xfe=\xff"),
        ("application/x-www-form-urlencoded", b"password=a%00bcdefgh"),
        ("multipart/form-data", b"--x\r\n\r\nvalue\r\n--x--\r\n"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--x--\r\n",
        ),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="\xc2\x98\x06"\r\n\r\nv\r\n--x--\r\n',
        ),
    ],
    ids=["not-utf8", "nul-password", "no-boundary", "part-without-name", "bad-part-header"],
)
async def test_hostile_gate_login_forms_are_4xx(
    client: TestClient, content_type: str, body: bytes
) -> None:
    # Public: Traefik routes /.wharf/gate/login on every password-gated host here.
    response = await client.post(
        "/.wharf/gate/login",
        data=body,
        headers={"Content-Type": content_type, "Host": "blog.localhost"},
    )
    assert 400 <= response.status < 500, (response.status, await response.text())


async def test_hostile_basic_gate_password_of_nuls_is_refused(
    client: TestClient, seeded: dict[str, str]
) -> None:
    users = [{"username": "team", "password": "\u0000" * 8}]
    response = await client.put(
        "/api/v1/sites/blog/gate",
        json={"environment": "production", "mode": "basic", "users": users},
        headers=seeded,
    )
    assert (await _error(response))["code"] in ("invalid_text", "invalid_password")
    gates = await (await client.get("/api/v1/sites/blog/gate", headers=seeded)).json()
    assert all(gate["mode"] == "none" for gate in gates["gates"].values())


async def test_hostile_unreadable_requests_get_the_error_shape_without_an_echo(
    database_url: str, tmp_path: Path
) -> None:
    """aiohttp's parser refuses these before any middleware; `wharf serve` (its runner) still
    answers in the error shape, and never with the bytes sent."""
    listen = ("127.0.0.1", free_port())
    async with control_plane(tmp_path / "data", database_url, listen, tmp_path / "log"):
        cases = [
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, b"aaaa"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, b"bbbb"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Header: v\r\n\r\n", 400, b"Bad"),
        ]
        for request, status, sent in cases:
            reader, writer = await asyncio.open_connection(*listen)
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split(b" ")[1] == str(status).encode(), answer[:200]
            assert b"application/json" in head
            code = json.loads(body)["error"]["code"]
            assert code in ("request_header_fields_too_large", "bad_request")
            assert sent not in body
