"""Deploys through the API: upload, build by the in-process worker, publish, roll back."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from controlplane.config import Settings
from controlplane.web.app import create_app
from controlplane.web.keys import SERVICES
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, make_member
from tests.sites import site_files, zip_bytes

ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
def deploy_settings(settings: Settings) -> Settings:
    """Settings with a quick worker."""
    return settings.replace(job_poll=1, job_lease=5)


@pytest.fixture
async def api(aiohttp_client: Any, deploy_settings: Settings) -> TestClient:
    """A control plane with its build worker running, and an admin."""
    app: web.Application = create_app(deploy_settings)
    client: TestClient = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    return client


@pytest.fixture
async def headers(api: TestClient) -> dict[str, str]:
    """The admin's authorization, with a site `blog` created."""
    auth = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (await api.post("/api/v1/sites", json={"name": "blog"}, headers=auth)).status == 201
    return auth


async def upload(
    api: TestClient, headers: dict[str, str], body: bytes, query: str = ""
) -> dict[str, Any]:
    """Upload a ZIP and return the accepted deploy."""
    response = await api.post(
        f"/api/v1/sites/blog/deploys{query}", data=body, headers={**headers, **ZIP}
    )
    assert response.status == 202, await response.text()
    return dict(await response.json())


async def wait_for(
    api: TestClient,
    headers: dict[str, str],
    deploy_id: str,
    statuses: set[str],
    seconds: float = 30,
    site: str = "blog",
) -> dict[str, Any]:
    """Poll a deploy until its status is one of the given ones."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        deploy = await (
            await api.get(f"/api/v1/sites/{site}/deploys/{deploy_id}", headers=headers)
        ).json()
        if deploy["status"] in statuses:
            return dict(deploy)
        assert asyncio.get_running_loop().time() < deadline, deploy
        await asyncio.sleep(0.1)


def live_target(data_dir: Path, site: str, environment: str) -> str:
    """The deploy id the live symlink points at."""
    return os.readlink(data_dir / "live" / site / environment).rsplit("/", 1)[-1]


async def test_deploy_upload_builds_minifies_and_goes_live(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    accepted = await upload(api, headers, zip_bytes(site_files("one"), prefix="my-site/"))
    assert accepted["status"] == "pending"
    assert accepted["hosts"]["preview"] == f"{accepted['id']}--blog.localhost"
    deploy = await wait_for(api, headers, accepted["id"], {"live", "failed"})
    assert deploy["status"] == "live", deploy
    assert deploy["report"]["root"].startswith("single top-level folder")
    assert deploy["urls"]["environment"] == "http://blog.localhost:8080/"

    data = deploy_settings.data_dir
    assert live_target(data, "blog", "production") == deploy["id"]
    release = data / "releases" / "blog" / deploy["id"]
    index = (release / "site" / "index.html").read_bytes()
    assert b"Hello from release one" in index
    assert b"   Hello" not in index  # minified
    assert (
        brotli.decompress((release / "site" / "assets" / "site.css.br").read_bytes())
        == (release / "site" / "assets" / "site.css").read_bytes()
    )
    assert (
        gzip.decompress((release / "site" / "assets" / "app.js.gz").read_bytes())
        == (release / "site" / "assets" / "app.js").read_bytes()
    )
    assert not (release / "site" / "_redirects").exists()
    manifest = json.loads((release / "manifest.json").read_text())
    assert {entry["path"] for entry in manifest["files"]} >= {"index.html", "assets/app.js"}
    rules = json.loads((release / "rules.json").read_text())
    assert [rule["from"] for rule in rules["redirects"]] == ["/old", "/blog/*"]

    log = await (
        await api.get(f"/api/v1/sites/blog/deploys/{deploy['id']}/log", headers=headers)
    ).json()
    texts = [line["text"] for line in log["lines"]]
    assert any("site root" in text for text in texts)
    assert texts[-1] == "published"

    metrics = await (await api.get("/metrics")).text()
    ready = [
        line
        for line in metrics.splitlines()
        if line.startswith('wharf_builds_total{outcome="ready"}')
    ]
    assert ready and float(ready[0].split()[-1]) >= 1
    assert "wharf_build_duration_seconds_count" in metrics


async def test_deploy_multipart_to_staging(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    form = FormData()
    form.add_field("environment", "staging")
    form.add_field("archive", zip_bytes(site_files("stage")), filename="site.zip")
    response = await api.post("/api/v1/sites/blog/deploys", data=form, headers=headers)
    assert response.status == 202, await response.text()
    deploy = await wait_for(api, headers, (await response.json())["id"], {"live", "failed"})
    assert deploy["environment"] == "staging"
    assert deploy["urls"]["environment"] == "http://blog--staging.localhost:8080/"
    assert live_target(deploy_settings.data_dir, "blog", "staging") == deploy["id"]
    assert not (deploy_settings.data_dir / "live" / "blog" / "production").exists()


def _folder_form(files: dict[str, str | bytes]) -> FormData:
    """A folder's files as a browser sends them (file names not percent-encoded)."""
    form = FormData(quote_fields=False)
    for path, content in files.items():
        form.add_field("file", content, filename=path)
    return form


async def test_deploy_a_folder_as_multipart_files_goes_live_with_the_same_checks(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    files = {f"dist/{path}": content for path, content in site_files("folder").items()}
    response = await api.post(
        "/api/v1/sites/blog/deploys", data=_folder_form(files), headers=headers
    )
    assert response.status == 202, await response.text()
    deploy = await wait_for(api, headers, (await response.json())["id"], {"live", "failed"})
    assert deploy["status"] == "live", deploy
    assert deploy["report"]["root"].startswith("single top-level folder"), deploy["report"]
    site = deploy_settings.data_dir / "releases" / "blog" / deploy["id"] / "site"
    assert b"Hello from release folder" in (site / "index.html").read_bytes()
    assert (site / "assets" / "app.js").is_file()

    refused = await api.post(
        "/api/v1/sites/blog/deploys",
        data=_folder_form({"index.html": "<p>ok</p>", "../evil.html": "<p>out</p>"}),
        headers=headers,
    )
    assert refused.status == 422
    body = await refused.json()
    assert body["error"]["code"] == "archive_rejected"
    assert [problem["entry"] for problem in body["error"]["details"]] == ["../evil.html"]

    # A NUL in a file name (no browser sends one; RFC 2231's `filename*` can carry it).
    raw = (
        b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''a%00b.html"
        b"\r\n\r\nx\r\n--b0undary--\r\n"
    )
    control = await api.post(
        "/api/v1/sites/blog/deploys",
        data=raw,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert (control.status, (await control.json())["error"]["code"]) == (400, "invalid_file_name")
    limit = deploy_settings.max_upload_bytes
    big = await api.post(
        "/api/v1/sites/blog/deploys",
        data=_folder_form({"index.html": "<p>ok</p>", "big.bin": b"x" * (limit + 1)}),
        headers=headers,
    )
    assert big.status == 413
    history = await (await api.get("/api/v1/sites/blog/deploys", headers=headers)).json()
    assert len(history["deploys"]) == 1  # the refused ones left nothing


async def test_deploy_site_name_of_55_has_no_staging_host_and_refuses_staging_deploys(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    # `<site>--staging` would be a 64-character label: such a host cannot exist anywhere.
    name = "s" * 55
    created = await api.post("/api/v1/sites", json={"name": name}, headers=headers)
    assert created.status == 201
    site = await created.json()
    assert site["hosts"] == {"production": f"{name}.localhost", "staging": None}
    assert site["urls"]["staging"] is None
    assert (await (await api.get(f"/api/v1/sites/{name}", headers=headers)).json())["hosts"][
        "staging"
    ] is None
    url = f"/api/v1/sites/{name}/deploys"
    refused = await api.post(
        f"{url}?environment=staging", data=zip_bytes(site_files()), headers={**headers, **ZIP}
    )
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert error["code"] == "no_staging_host" and "production" in error["message"]
    listed = await (await api.get(url, headers=headers)).json()
    assert listed["deploys"] == []  # nothing half-written
    assert not (deploy_settings.data_dir / "live" / name).exists()
    # Production works as for any site; 54 characters still have a staging host.
    accepted = await api.post(url, data=zip_bytes(site_files()), headers={**headers, **ZIP})
    assert accepted.status == 202
    deploy_id = (await accepted.json())["id"]
    deploy = await wait_for(api, headers, deploy_id, {"live", "failed"}, site=name)
    assert deploy["status"] == "live" and deploy["urls"]["preview"] is None
    short = await (await api.post("/api/v1/sites", json={"name": "t" * 54}, headers=headers)).json()
    assert short["hosts"]["staging"] == f"{'t' * 54}--staging.localhost"


async def test_deploy_rejected_archive_reports_every_entry_and_leaves_nothing(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    hostile = zip_bytes({"index.html": "<p>x</p>", "../evil.html": "x", "a\\b.html": "x"})
    response = await api.post(
        "/api/v1/sites/blog/deploys", data=hostile, headers={**headers, **ZIP}
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "archive_rejected"
    assert {(item["entry"], item["code"]) for item in error["details"]} >= {
        ("../evil.html", "path_traversal"),
        ("a\\b.html", "backslash"),
    }
    data = deploy_settings.data_dir
    assert list((data / "uploads").iterdir()) == []
    assert not (data / "artifacts" / "blog").exists()
    listed = await (await api.get("/api/v1/sites/blog/deploys", headers=headers)).json()
    assert listed["deploys"] == []


async def test_deploy_bad_uploads_get_clear_errors(
    deploy_settings: Settings, aiohttp_client: Any
) -> None:
    app = create_app(deploy_settings.replace(max_upload_bytes=2000))
    api = await aiohttp_client(app)
    await app[SERVICES].accounts.create_user(None, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    auth = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    await api.post("/api/v1/sites", json={"name": "blog"}, headers=auth)
    big = os.urandom(5000)
    too_large = await api.post("/api/v1/sites/blog/deploys", data=big, headers={**auth, **ZIP})
    assert too_large.status == 413
    assert (await too_large.json())["error"]["code"] == "archive_too_large"
    wrong_type = await api.post(
        "/api/v1/sites/blog/deploys", data=b"x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415
    form = FormData()
    form.add_field("other", b"x", filename="other.txt")
    missing = await api.post("/api/v1/sites/blog/deploys", data=form, headers=auth)
    assert (await missing.json())["error"]["code"] == "missing_archive"
    not_zip = await api.post("/api/v1/sites/blog/deploys", data=b"PK-no", headers={**auth, **ZIP})
    assert not_zip.status == 422
    bad_env = await api.post(
        "/api/v1/sites/blog/deploys?environment=qa",
        data=zip_bytes({"index.html": "x"}),
        headers={**auth, **ZIP},
    )
    assert (await bad_env.json())["error"]["code"] == "invalid_environment"
    assert list((deploy_settings.data_dir / "uploads").iterdir()) == []


async def test_deploy_flags_checked_against_allow_list_and_secrets_hidden(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    body = zip_bytes(site_files("flags"))
    unknown = await api.post(
        "/api/v1/sites/blog/deploys?flags=" + json.dumps({"shell": "rm -rf /"}),
        data=body,
        headers={**headers, **ZIP},
    )
    assert unknown.status == 422
    assert (await unknown.json())["error"]["details"][0]["code"] == "unknown_flag"
    secret_flag = {"env.API_URL": {"value": "https://api.example/s3cr3t-v4lue", "secret": True}}
    not_allowed = await api.post(
        "/api/v1/sites/blog/deploys?flags=" + json.dumps(secret_flag),
        data=body,
        headers={**headers, **ZIP},
    )
    assert (await not_allowed.json())["error"]["details"][0]["code"] == "flag_not_allowed"

    allowed = await api.patch(
        "/api/v1/sites/blog", json={"allowed_flags": ["env.*", "minify"]}, headers=headers
    )
    assert (await allowed.json())["allowed_flags"] == ["env.*", "minify"]
    accepted = await upload(
        api, headers, body, "?flags=" + json.dumps({**secret_flag, "minify": False})
    )
    deploy = await wait_for(api, headers, accepted["id"], {"live", "failed"})
    index = (
        deploy_settings.data_dir / "releases/blog" / deploy["id"] / "site/index.html"
    ).read_text()
    assert "https://api.example/s3cr3t-v4lue" in index
    assert "   Hello" in index  # minify=false honoured
    everything = (
        json.dumps(deploy)
        + await (
            await api.get(f"/api/v1/sites/blog/deploys/{deploy['id']}/log", headers=headers)
        ).text()
    )
    assert "s3cr3t" not in everything
    assert deploy["flags"]["env.API_URL"] == {"value": "********", "secret": True}


async def test_deploy_locked_auto_publish_then_publish_and_rollback(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    data = deploy_settings.data_dir
    first = await wait_for(
        api, headers, (await upload(api, headers, zip_bytes(site_files("1"))))["id"], {"live"}
    )
    locked = await api.patch("/api/v1/sites/blog", json={"auto_publish": False}, headers=headers)
    assert (await locked.json())["auto_publish"] is False
    second = await upload(api, headers, zip_bytes(site_files("2")))
    second = await wait_for(api, headers, second["id"], {"ready", "failed"})
    assert second["status"] == "ready"
    assert live_target(data, "blog", "production") == first["id"]

    published = await api.post(
        f"/api/v1/sites/blog/deploys/{second['id']}/publish", headers=headers
    )
    assert published.status == 200
    event = await published.json()
    assert (event["from_deploy"], event["to_deploy"], event["kind"]) == (
        first["id"],
        second["id"],
        "publish",
    )
    assert live_target(data, "blog", "production") == second["id"]
    old = await (await api.get(f"/api/v1/sites/blog/deploys/{first['id']}", headers=headers)).json()
    assert old["status"] == "superseded"

    back = await api.post("/api/v1/sites/blog/rollback", json={}, headers=headers)
    assert back.status == 200
    assert (await back.json())["to_deploy"] == first["id"]
    assert live_target(data, "blog", "production") == first["id"]
    named = await api.post(
        "/api/v1/sites/blog/rollback", json={"deploy_id": second["id"]}, headers=headers
    )
    assert (await named.json())["to_deploy"] == second["id"]

    history = await (await api.get("/api/v1/sites/blog/publishes", headers=headers)).json()
    kinds = [(e["kind"], e["from_deploy"], e["to_deploy"]) for e in history["events"]]
    assert kinds == [
        ("rollback", first["id"], second["id"]),
        ("rollback", second["id"], first["id"]),
        ("publish", first["id"], second["id"]),
        ("auto_publish", None, first["id"]),
    ]
    assert all(e["actor_id"] is not None for e in history["events"])


async def test_deploy_read_as_ready_just_before_its_publish_is_not_settled(
    api: TestClient, headers: dict[str, str]
) -> None:
    """The live log ends on a settled deploy: one read as ready and published since is not,
    or the page would say "ready" for a deploy that went live."""
    await api.patch("/api/v1/sites/blog", json={"auto_publish": False}, headers=headers)
    accepted = await upload(api, headers, zip_bytes(site_files("1")))
    await wait_for(api, headers, accepted["id"], {"ready"})
    deploys = api.app[SERVICES].deploys
    credentials = await api.app[SERVICES].accounts.store.user_credentials(ADMIN_EMAIL)
    assert credentials is not None
    admin = credentials[0]
    read_as_ready = await deploys.get(admin, "blog", accepted["id"])
    assert await deploys.settled(read_as_ready)  # locked: nothing publishes it by itself
    await deploys.publish(admin, "blog", accepted["id"])
    assert not await deploys.settled(read_as_ready)
    assert await deploys.settled(await deploys.get(admin, "blog", accepted["id"]))


async def test_deploy_publish_and_rollback_errors(api: TestClient, headers: dict[str, str]) -> None:
    nothing = await api.post("/api/v1/sites/blog/rollback", json={}, headers=headers)
    assert nothing.status == 409
    assert (await nothing.json())["error"]["code"] == "no_previous_deploy"
    missing = await api.post("/api/v1/sites/blog/deploys/000000000000/publish", headers=headers)
    assert missing.status == 404
    bad = zip_bytes(site_files("bad", {"_redirects": "/a /b 999\n"}))
    failed = await wait_for(
        api, headers, (await upload(api, headers, bad))["id"], {"failed", "live"}
    )
    assert failed["status"] == "failed"
    assert failed["report"]["rules"]["problems"][0]["line"] == 1
    not_ready = await api.post(
        f"/api/v1/sites/blog/deploys/{failed['id']}/publish", headers=headers
    )
    assert not_ready.status == 409
    assert (await not_ready.json())["error"]["code"] == "deploy_not_ready"
    log = await (
        await api.get(f"/api/v1/sites/blog/deploys/{failed['id']}/log", headers=headers)
    ).json()
    assert any("_redirects:1" in line["text"] for line in log["lines"])


async def test_deploy_history_newest_first_and_pinning(
    api: TestClient, headers: dict[str, str]
) -> None:
    ids = []
    for marker in ("a", "b"):
        ids.append((await upload(api, headers, zip_bytes(site_files(marker))))["id"])
        await wait_for(api, headers, ids[-1], {"live"})
    listed = await (await api.get("/api/v1/sites/blog/deploys", headers=headers)).json()
    assert [d["id"] for d in listed["deploys"]] == ids[::-1]
    pinned = await api.patch(
        f"/api/v1/sites/blog/deploys/{ids[0]}", json={"pinned": True}, headers=headers
    )
    assert (await pinned.json())["pinned"] is True
    bad = await api.patch(
        f"/api/v1/sites/blog/deploys/{ids[0]}", json={"pinned": "yes"}, headers=headers
    )
    assert bad.status == 422


async def test_deploy_endpoints_hide_other_members_sites(
    api: TestClient, headers: dict[str, str]
) -> None:
    deploy = await upload(api, headers, zip_bytes(site_files()))
    stranger = await make_member(api, headers, "stranger@example.test")
    for method, path in [
        ("POST", "/api/v1/sites/blog/deploys"),
        ("GET", "/api/v1/sites/blog/deploys"),
        ("GET", f"/api/v1/sites/blog/deploys/{deploy['id']}"),
        ("GET", f"/api/v1/sites/blog/deploys/{deploy['id']}/log"),
        ("POST", f"/api/v1/sites/blog/deploys/{deploy['id']}/publish"),
        ("PATCH", f"/api/v1/sites/blog/deploys/{deploy['id']}"),
        ("POST", "/api/v1/sites/blog/rollback"),
        ("GET", "/api/v1/sites/blog/publishes"),
        ("PATCH", "/api/v1/sites/blog"),
    ]:
        response = await api.request(method, path, json={}, headers=stranger)
        assert response.status == 404, (method, path)


async def test_deploy_site_delete_removes_files(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    deploy = await upload(api, headers, zip_bytes(site_files()))
    await wait_for(api, headers, deploy["id"], {"live"})
    data = deploy_settings.data_dir
    assert (data / "releases" / "blog").exists()
    assert (await api.delete("/api/v1/sites/blog", headers=headers)).status == 204
    for folder in ("releases", "artifacts", "live"):
        assert not (data / folder / "blog").exists(), folder


async def test_deploy_site_delete_removes_its_canary_split(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    first = await upload(api, headers, zip_bytes(site_files("one")))
    await wait_for(api, headers, first["id"], {"live"})
    second = await upload(api, headers, zip_bytes(site_files("two")))
    await wait_for(api, headers, second["id"], {"live"})
    files = api.app[SERVICES].files
    files.set_canary("blog", "production", first["id"], 10)
    split = files.canary_path("blog", "production")
    assert split.is_file()
    assert (await api.delete("/api/v1/sites/blog", headers=headers)).status == 204
    assert not split.exists() and not split.parent.exists()


async def test_site_spa_setting_reaches_the_edge_config(
    api: TestClient, headers: dict[str, str], deploy_settings: Settings
) -> None:
    config = deploy_settings.data_dir / "edge" / "config.json"
    assert json.loads(config.read_text())["spa"] == []
    changed = await api.patch("/api/v1/sites/blog?wait=true", json={"spa": True}, headers=headers)
    assert (await changed.json())["spa"] is True
    assert json.loads(config.read_text())["spa"] == ["blog"]
    assert (await api.delete("/api/v1/sites/blog?wait=true", headers=headers)).status == 204
    assert json.loads(config.read_text())["spa"] == []
    assert [p.name for p in config.parent.iterdir()] == ["config.json"]  # no temp files left
