"""Canary splits at the edge, through a real socket: shares, stickiness, clearing, bad splits,
caching headers and per-release counts."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from controlplane.deploys.canary_counts import ReleaseKey, parse_release_counts
from controlplane.deploys.release_files import ReleaseFiles
from edge.canary import RECHECK_SECONDS
from tests.edge_harness import Edge, publish, running_edge, write_edge_config
from tests.harness.releases import install_release
from tests.sites import site_files

STABLE, CANARY, OLD, NEWER = "5ab1e0000001", "ca0a00000002", "01d000000003", "2e0000000004"
VISITORS = 2_000
# Wait this long after changing a split file: every worker has looked at it again by then.
SETTLE = RECHECK_SECONDS * 3


@dataclass
class Visit:
    """What one request got back."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def deploy(self) -> str:
        return self.headers.get("X-Wharf-Deploy", "")

    @property
    def cookie(self) -> str | None:
        """The release the answer assigns the visitor to, if it sets the cookie."""
        raw = self.headers.get("Set-Cookie")
        if raw is None:
            return None
        morsel = SimpleCookie(raw)["wharf_release"]
        return morsel.value


@dataclass
class Split:
    """An edge over `blog`: STABLE live in production, CANARY at 10 %, OLD and NEWER installed."""

    edge: Edge
    files: ReleaseFiles
    session: aiohttp.ClientSession

    async def visit(
        self,
        path: str = "/",
        release: str | None = None,
        host: str = "blog.localhost",
        **headers: str,
    ) -> Visit:
        """One request, carrying the release cookie when given (and no other cookie)."""
        sent = {"Host": host, "Accept-Encoding": "identity"}
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        if release is not None:
            sent["Cookie"] = f"theme=dark; wharf_release={release}"
        async with self.session.get(
            self.edge.url(path), headers=sent, allow_redirects=False
        ) as response:
            return Visit(response.status, response.headers, await response.read())

    async def many(self, count: int, release: str | None = None, path: str = "/") -> list[Visit]:
        """count requests, 16 at a time."""
        gate = asyncio.Semaphore(16)

        async def one() -> Visit:
            async with gate:
                return await self.visit(path, release)

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def metrics(self) -> str:
        """The edge's /metrics text."""
        async with self.session.get(self.edge.url("/metrics"), headers={"Host": "localhost"}) as r:
            assert r.status == 200
            return await r.text()


@pytest.fixture
async def split(tmp_path: Path) -> AsyncIterator[Split]:
    data = tmp_path / "data"
    for deploy in (STABLE, CANARY, OLD, NEWER):
        extra = {"only-canary.html": "<p>new page</p>"} if deploy == CANARY else {}
        install_release(data, "blog", deploy, site_files(deploy, extra))
    publish(data, "blog", "production", STABLE)
    publish(data, "blog", "staging", STABLE)
    files = ReleaseFiles(data)
    files.set_canary("blog", "production", CANARY, 10)
    async with (
        running_edge(data) as edge,
        aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
        ) as session,
    ):
        yield Split(edge, files, session)


def _unshared(visit: Visit) -> bool:
    """Whether no shared cache may keep the answer (a plain 404 is no-store already)."""
    return bool(
        {"private", "no-store"} & {d.strip() for d in visit.headers["Cache-Control"].split(",")}
    )


def _carries_its_release(visit: Visit) -> bool:
    return visit.status == 200 and f"Hello from release {visit.deploy}".encode() in visit.body


async def test_edge_canary_splits_new_visitors_by_weight_and_keeps_each_on_theirs(
    split: Split,
) -> None:
    fresh = await split.many(VISITORS)
    served = Counter(visit.deploy for visit in fresh)
    assert set(served) == {STABLE, CANARY}
    assert 0.07 * VISITORS <= served[CANARY] <= 0.13 * VISITORS, served
    for visit in fresh:
        # X-Wharf-Deploy names the release that answered, and the cookie keeps the visitor on it.
        assert _carries_its_release(visit)
        assert visit.cookie == visit.deploy
        assert "private" in visit.headers["Cache-Control"]
        assert "Last-Modified" not in visit.headers  # revalidation is by ETag while split
    morsel = SimpleCookie(fresh[0].headers["Set-Cookie"])["wharf_release"]
    assert morsel["path"] == "/" and morsel["max-age"] == "86400"
    assert morsel["httponly"] is True and morsel["samesite"] == "Lax"
    assert morsel["domain"] == "" and morsel["secure"] == ""

    # Every visitor's later requests, with the cookie they got, stay on their release and
    # are not assigned again.
    gate = asyncio.Semaphore(16)

    async def later(visit: Visit) -> list[str]:
        async with gate:
            answers = [
                await split.visit(path, visit.cookie)
                for path in ("/", "/assets/app.js", "/about/", "/missing")
            ]
        assert answers[0].status == 200 and _carries_its_release(answers[0])
        assert answers[2].status == 200 and visit.deploy.encode() in answers[2].body
        assert [a.status for a in answers[1:]] == [200, 200, 404]
        assert all(a.cookie is None and _unshared(a) for a in answers)
        return [answer.deploy for answer in answers]

    stayed = await asyncio.gather(*(later(visit) for visit in fresh))
    for visit, deploys in zip(fresh, stayed, strict=True):
        assert deploys == [visit.deploy] * 4
    # A page only the canary has is there for its visitors only.
    assert (await split.visit("/only-canary", CANARY)).status == 200
    assert (await split.visit("/only-canary", STABLE)).status == 404


async def test_edge_canary_cleared_sends_everyone_to_the_stable_release_at_once(
    split: Split,
) -> None:
    assert (await split.visit(release=CANARY)).deploy == CANARY
    split.files.clear_canary("blog", "production")
    started = asyncio.get_running_loop().time()
    while (await split.visit(release=CANARY)).deploy != STABLE:
        assert asyncio.get_running_loop().time() - started < 1, "the split outlived its file"
    for visit in [*await split.many(50, CANARY), *await split.many(50)]:
        assert visit.deploy == STABLE and _carries_its_release(visit)
        assert visit.cookie is None  # no split: no cookie, and the cookie counts for nothing
        assert "private" not in visit.headers["Cache-Control"]
        assert "Last-Modified" in visit.headers

    # Promotion: the link moves to the canary and the split goes; every cookie gets the same.
    split.files.set_canary("blog", "production", CANARY, 10)
    await asyncio.sleep(SETTLE)
    assert (await split.visit(release=CANARY)).deploy == CANARY
    split.files.activate("blog", "production", CANARY)
    for release in (STABLE, CANARY, None):  # at once: the link is read on every request
        visit = await split.visit(release=release)
        assert (visit.deploy, visit.cookie) == (CANARY, None), release
    split.files.clear_canary("blog", "production")
    await asyncio.sleep(SETTLE)
    assert {v.deploy for v in await split.many(20, STABLE)} == {CANARY}


async def test_edge_canary_cookie_naming_a_stale_release_is_reassigned(split: Split) -> None:
    for stale in (OLD, NEWER, "nonsense", "", f"{CANARY}x", f'"{CANARY}"'):
        visit = await split.visit(release=stale)
        assert visit.deploy in (STABLE, CANARY), stale
        assert visit.cookie == visit.deploy, stale
    # A new weight keeps every visitor where they are (only new visitors see it)...
    assert (await split.visit(release=CANARY)).deploy == CANARY
    assert (await split.visit(release=STABLE)).deploy == STABLE
    split.files.set_canary("blog", "production", CANARY, 90)
    await asyncio.sleep(SETTLE)
    for release in (CANARY, STABLE):
        visit = await split.visit(release=release)
        assert (visit.deploy, visit.cookie) == (release, None)
    # ...and when the canary changes, its old visitors are assigned again, by weight.
    split.files.set_canary("blog", "production", NEWER, 10)
    await asyncio.sleep(SETTLE)
    visits = await split.many(200, CANARY)
    assert {visit.deploy for visit in visits} == {STABLE, NEWER}
    assert all(visit.cookie == visit.deploy for visit in visits)
    assert (await split.visit(release=NEWER)).cookie is None  # the new canary's visitor stays


async def test_edge_canary_naming_a_missing_or_broken_release_is_ignored_safely(
    split: Split,
) -> None:
    path = split.files.canary_path("blog", "production")
    broken_release = split.files.release_path("blog", OLD) / "manifest.json"
    broken_release.write_text("{not json")  # an installed folder whose manifest cannot load
    bad_splits: list[bytes] = [
        json.dumps({"version": 1, "deploy": "0000000000aa", "percent": 50}).encode(),  # missing
        json.dumps({"version": 1, "deploy": OLD, "percent": 50}).encode(),  # cannot load
        json.dumps({"version": 1, "deploy": CANARY, "percent": 0}).encode(),
        json.dumps({"version": 1, "deploy": CANARY, "percent": "50"}).encode(),
        json.dumps({"version": 1, "deploy": "../../../etc", "percent": 50}).encode(),
        json.dumps({"version": 1, "deploy": STABLE, "percent": 50}).encode(),  # the stable one
        b'{"version": 1, "deploy": ',
        b"\x00\xff" * 10,
        b"",
    ]
    for document in bad_splits:
        temp = path.with_name(".split.tmp")
        temp.write_bytes(document)
        os.replace(temp, path)
        await asyncio.sleep(SETTLE)
        for visit in await split.many(30, CANARY):
            assert visit.deploy == STABLE and _carries_its_release(visit), document
            assert visit.cookie is None and "private" not in visit.headers["Cache-Control"]
    # A symlink in the split's place is not followed.
    path.unlink()
    good = path.with_name("elsewhere.json")
    good.write_text(json.dumps({"version": 1, "deploy": CANARY, "percent": 99}))
    path.symlink_to(good.name)
    await asyncio.sleep(SETTLE)
    assert {visit.deploy for visit in await split.many(30)} == {STABLE}
    # And a good split after all of that works.
    path.unlink()
    split.files.set_canary("blog", "production", CANARY, 99)
    await asyncio.sleep(SETTLE)
    assert CANARY in {visit.deploy for visit in await split.many(30)}


async def test_edge_canary_revalidation_is_by_etag_of_each_release(split: Split) -> None:
    first = await split.visit("/assets/app.js", CANARY)
    etag = first.headers["ETag"]
    again = await split.visit("/assets/app.js", CANARY, If_None_Match=etag)
    assert again.status == 304 and again.cookie is None
    assert "private" in again.headers["Cache-Control"]
    # The stable release's script is another file: the canary's tag earns it no 304.
    other = await split.visit("/assets/app.js", STABLE, If_None_Match=etag)
    assert other.status == 200 and other.headers["ETag"] != etag
    # Dates say nothing while two releases answer one URL.
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    dated = await split.visit("/assets/app.js", CANARY, If_Modified_Since=future)
    assert dated.status == 200
    # A new visitor's 304 still assigns it (else it would be drawn again on every request).
    fresh = await split.visit("/assets/app.js", None, If_None_Match="*")
    assert fresh.status == 304 and fresh.cookie == fresh.deploy
    # A site's own `public` does not let a shared cache keep a split answer.
    split.files.clear_canary("blog", "production")
    for deploy in (STABLE, CANARY):
        install_release(
            split.files.root,
            "shop",
            deploy,
            site_files(deploy, {"_headers": "/*\n  Cache-Control: public, max-age=600\n"}),
        )
    publish(split.files.root, "shop", "production", STABLE)
    split.files.set_canary("shop", "production", CANARY, 50)
    await asyncio.sleep(SETTLE)
    shop = await split.visit(host="shop.localhost")
    assert shop.headers["Cache-Control"] == "private, max-age=600"


async def test_edge_canary_never_splits_previews_or_other_environments(split: Split) -> None:
    for deploy in (STABLE, CANARY):
        visits = await split.many(20, None, "/")
        assert any(visit.cookie for visit in visits)  # production is split...
        preview = await split.visit(host=f"{deploy}--blog.localhost")
        assert (preview.deploy, preview.cookie) == (deploy, None)  # ...a preview never is
        assert "private" not in preview.headers["Cache-Control"]
    staging = await split.visit(host="blog--staging.localhost", release=CANARY)
    assert (staging.deploy, staging.cookie) == (STABLE, None)
    # A custom domain of production is split with it (its own host, so its own cookie).
    write_edge_config(
        split.files.root,
        {"domains": {"www.example.test": {"site": "blog", "environment": "production"}}},
    )
    await asyncio.sleep(0.2)  # the edge looks at its config every 50 ms
    custom = await split.visit(host="www.example.test", release=CANARY)
    assert (custom.deploy, custom.cookie) == (CANARY, None)
    drawn = [await split.visit(host="www.example.test") for _ in range(5)]
    assert all(visit.cookie == visit.deploy for visit in drawn)
    # A split of staging splits staging alone.
    split.files.set_canary("blog", "staging", CANARY, 99)
    await asyncio.sleep(SETTLE)
    staged = await split.visit(host="blog--staging.localhost", release=CANARY)
    assert (staged.deploy, staged.cookie) == (CANARY, None)
    assert (await split.visit(release=STABLE)).deploy == STABLE


async def test_edge_canary_counts_answers_per_release_by_class(split: Split) -> None:
    for path, times in (("/", 5), ("/missing", 3), ("/old", 2)):
        await split.many(times, STABLE, path)
    for path, times in (("/", 4), ("/only-canary", 1), ("/missing", 2)):
        await split.many(times, CANARY, path)
    await split.visit(host="blog--staging.localhost")  # no split there: not counted per release
    text = await split.metrics()
    counts = parse_release_counts(text)
    stable = counts[ReleaseKey("blog", "production", STABLE, "stable")]
    canary = counts[ReleaseKey("blog", "production", CANARY, "canary")]
    assert stable.responses == (5, 2, 3, 0)
    assert canary.responses == (5, 0, 2, 0)
    assert stable.buckets[-1][1] == stable.total and canary.buckets[-1][1] == canary.total
    assert stable.latency_sum > 0 and canary.latency_quantile(0.99) is not None
    assert set(counts) == {stable.key, canary.key}
    line = (
        f'wharf_edge_release_responses_total{{class="5xx",deploy="{CANARY}",'
        'environment="production",role="canary",site="blog"} 0.0'
    )
    assert line in text
    assert f'wharf_edge_release_duration_seconds_count{{deploy="{STABLE}"' in text
    # Once the split is over, answers are counted per site only.
    split.files.clear_canary("blog", "production")
    await asyncio.sleep(SETTLE)
    await split.many(5, CANARY)
    after = parse_release_counts(await split.metrics())
    assert after[stable.key].responses == stable.responses
    assert after[canary.key].responses == canary.responses
