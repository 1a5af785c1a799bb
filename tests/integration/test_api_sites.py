"""Sites API: create, list, read, delete, with the brief's error shape."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from controlplane.config import load_settings
from controlplane.names import reserved_site_names
from tests.conftest import make_member


async def test_sites_create_list_get_delete(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post("/api/v1/sites", json={"name": "blog"}, headers=admin_headers)
    assert created.status == 201
    site = await created.json()
    assert site["name"] == "blog"
    assert site["hosts"] == {"production": "blog.localhost", "staging": "blog--staging.localhost"}

    listed = await (await client.get("/api/v1/sites", headers=admin_headers)).json()
    assert [s["name"] for s in listed["sites"]] == ["blog"]
    fetched = await client.get("/api/v1/sites/blog", headers=admin_headers)
    assert (await fetched.json())["name"] == "blog"

    deleted = await client.delete("/api/v1/sites/blog", headers=admin_headers)
    assert deleted.status == 204
    gone = await client.get("/api/v1/sites/blog", headers=admin_headers)
    assert gone.status == 404
    assert (await gone.json())["error"]["code"] == "site_not_found"


async def test_sites_duplicate_name_is_409(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/api/v1/sites", json={"name": "docs"}, headers=admin_headers)
    again = await client.post("/api/v1/sites", json={"name": "docs"}, headers=admin_headers)
    assert again.status == 409
    body = await again.json()
    assert body["error"]["code"] == "site_exists"
    assert set(body["error"]) == {"code", "message", "details"}


async def test_sites_duplicate_across_owners_is_409(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    member = await make_member(client, admin_headers, "m@example.test")
    await client.post("/api/v1/sites", json={"name": "shop"}, headers=admin_headers)
    taken = await client.post("/api/v1/sites", json={"name": "shop"}, headers=member)
    assert taken.status == 409


async def test_sites_invalid_names_are_422(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for name in ["", "Blog", "-blog", "blog-", "bl--og", "a" * 64, "b_log", "blög", 7, None]:
        response = await client.post("/api/v1/sites", json={"name": name}, headers=admin_headers)
        assert response.status == 422, name
        assert (await response.json())["error"]["code"] == "invalid_name"


async def test_sites_reserved_names_are_422_and_the_list_is_the_admins(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for name in ["www", "api", "admin", "mail", "localhost"]:
        response = await client.post("/api/v1/sites", json={"name": name}, headers=admin_headers)
        assert response.status == 422, name
        error = (await response.json())["error"]
        assert error["code"] == "reserved_name" and name in error["message"]
    listed = await (await client.get("/api/v1/sites", headers=admin_headers)).json()
    assert listed["sites"] == []


def test_sites_reserved_names_include_the_control_hosts_label() -> None:
    assert reserved_site_names(("www",), "wharf.example.com", "example.com") == {"www", "wharf"}
    # A control host elsewhere, or deeper under the base, takes no site name.
    assert reserved_site_names((), "wharf.other.net", "example.com") == set()
    assert reserved_site_names((), "a.b.example.com", "example.com") == set()
    assert load_settings({"reserved_site_names": ""}, environ={}).reserved_site_names == ()
    with pytest.raises(ValueError, match="not a DNS label"):
        load_settings({"reserved_site_names": "www,bad name"}, environ={})


async def test_sites_bad_json_is_400(client: TestClient, admin_headers: dict[str, str]) -> None:
    for body in [b"{not json", b"[1, 2]", b"\xff\xfe"]:
        response = await client.post("/api/v1/sites", data=body, headers=admin_headers)
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_json"
    unknown_charset = {**admin_headers, "Content-Type": "application/json; charset=nope"}
    response = await client.post("/api/v1/sites", data=b"{}", headers=unknown_charset)
    assert response.status == 400


async def test_sites_oversized_body_is_413(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/sites", data=b'{"name": "' + b"a" * 2_000_000 + b'"}', headers=admin_headers
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "request_entity_too_large"


async def test_sites_unknown_route_and_method_in_error_shape(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=admin_headers)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.put("/api/v1/sites", headers=admin_headers)
    assert wrong.status == 405
    assert "GET" in wrong.headers["Allow"]
