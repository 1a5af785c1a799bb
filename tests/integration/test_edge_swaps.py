"""Publishing under load: live-link swaps never give an error or a response mixing releases."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from edge.release_cache import live_release_dir
from tests.edge_harness import Edge, publish, running_edge
from tests.harness.releases import install_release

pytestmark = pytest.mark.slow

SWAPS = 1000
CLIENTS = 6
# "small" keeps every file under 256 KiB (answered from memory); "large" has a JS file over it
# (streamed with sendfile). Each file carries its release id many times and no other id.
SMALL = ("5a0000000001", "5a0000000002", "5a0000000003")
LARGE = ("1a0000000001", "1a0000000002")
RELEASES = {"small": SMALL, "large": LARGE}
PATHS = ("/", "/assets/app.js")


def release_files(deploy_id: str, js_lines: int) -> dict[str, str | bytes]:
    """A page and its script, both naming the release on every line."""
    page = "".join(f"<p>release {deploy_id}</p>\n" for _ in range(50))
    script = "".join(f"console.log('{deploy_id}', {n});\n" for n in range(js_lines))
    return {
        "index.html": f"<!doctype html><title>{deploy_id}</title>\n{page}"
        '<script src="/assets/app.js"></script>\n',
        "assets/app.js": script,
    }


@dataclass
class Swapping:
    """An edge over two sites with several releases each, and the bytes of every file."""

    edge: Edge
    data: Path
    session: aiohttp.ClientSession
    expected: dict[tuple[str, str, str], bytes] = field(default_factory=dict)

    async def fetch(self, site: str, path: str, encoding: str = "identity") -> Fetched:
        """One request; the body decoded when a variant was served."""
        async with self.session.get(
            self.edge.url(path),
            headers={"Host": f"{site}.localhost", "Accept-Encoding": encoding},
        ) as response:
            body = await response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return Fetched(
                site, path, response.status, response.headers.get("X-Wharf-Deploy"), body
            )

    def problem(self, fetched: Fetched) -> str | None:
        """What is wrong with a response, if anything."""
        if fetched.status != 200:
            return f"status {fetched.status}"
        named = {
            deploy for ids in RELEASES.values() for deploy in ids if deploy.encode() in fetched.body
        }
        if named != {fetched.deploy}:
            return f"header names {fetched.deploy}, body names {sorted(named)}"
        if fetched.body != self.expected.get((fetched.site, fetched.deploy or "", fetched.path)):
            return f"body of {len(fetched.body)} bytes is not the file of {fetched.deploy}"
        return None


@dataclass(frozen=True)
class Fetched:
    site: str
    path: str
    status: int
    deploy: str | None
    body: bytes


@pytest.fixture
async def swapping(tmp_path: Path) -> AsyncIterator[Swapping]:
    data = tmp_path / "data"
    expected: dict[tuple[str, str, str], bytes] = {}
    for site, ids, js_lines in (("small", SMALL, 200), ("large", LARGE, 12_000)):
        for deploy in ids:
            release = install_release(data, site, deploy, release_files(deploy, js_lines))
            for path in PATHS:
                name = path.lstrip("/") or "index.html"
                expected[(site, deploy, path)] = (release / "site" / name).read_bytes()
        publish(data, site, "production", ids[0])
    assert len(expected[("large", LARGE[0], "/assets/app.js")]) > 256 * 1024
    assert len(expected[("small", SMALL[0], "/assets/app.js")]) < 256 * 1024
    async with (
        running_edge(data) as edge,
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        yield Swapping(edge, data, session, expected)


async def test_edge_swaps_under_load_never_mix_releases(swapping: Swapping) -> None:
    def swap() -> None:
        for n in range(1, SWAPS + 1):
            publish(swapping.data, "small", "production", SMALL[n % len(SMALL)])
            publish(swapping.data, "large", "production", LARGE[n % len(LARGE)])
            time.sleep(0.002)

    problems: list[str] = []
    seen: Counter[tuple[str, str | None]] = Counter()
    answered = 0

    async def load(client: int, swapper: asyncio.Future[None]) -> None:
        nonlocal answered
        turn = client
        while not swapper.done():
            site = ("small", "large")[turn % 2]
            path = PATHS[(turn // 2) % 2]
            # Every third client asks for gzip: the precompressed variants swap too.
            encoding = "gzip" if client % 3 == 0 else "identity"
            fetched = await swapping.fetch(site, path, encoding)
            answered += 1
            seen[(site, fetched.deploy)] += 1
            if (problem := swapping.problem(fetched)) is not None:
                problems.append(f"{site}{path} ({encoding}): {problem}")
            turn += 1

    started = time.monotonic()
    swapper = asyncio.ensure_future(asyncio.to_thread(swap))
    await asyncio.gather(*(load(client, swapper) for client in range(CLIENTS)), swapper)
    elapsed = time.monotonic() - started

    assert problems == [], f"{len(problems)} bad of {answered}: {problems[:10]}"
    assert answered >= 1000, f"only {answered} requests in {elapsed:.1f} s"
    # The load really straddled the swaps: every release was served.
    for site, ids in RELEASES.items():
        assert all(seen[(site, deploy)] > 0 for deploy in ids), seen
    # Right after the last swap, the next request sees the last release: nothing stale is kept.
    final = {"small": SMALL[SWAPS % len(SMALL)], "large": LARGE[SWAPS % len(LARGE)]}
    for site, deploy in final.items():
        for path in PATHS:
            for encoding in ("identity", "gzip"):
                fetched = await swapping.fetch(site, path, encoding)
                assert fetched.deploy == deploy, (site, path, encoding)
                assert swapping.problem(fetched) is None


async def test_edge_swap_is_seen_by_the_next_request(swapping: Swapping) -> None:
    for first, second in ((SMALL[0], SMALL[1]), (SMALL[1], SMALL[0])):
        publish(swapping.data, "small", "production", first)
        before = await swapping.fetch("small", "/")
        assert before.deploy == first
        async with swapping.session.get(
            swapping.edge.url("/"), headers={"Host": "small.localhost"}
        ) as response:
            etag = response.headers["ETag"]
        publish(swapping.data, "small", "production", second)
        # The old release's tag must not earn a 304 for the new release's page.
        async with swapping.session.get(
            swapping.edge.url("/"),
            headers={
                "Host": "small.localhost",
                "If-None-Match": etag,
                "Accept-Encoding": "identity",
            },
        ) as response:
            assert response.status == 200
            assert response.headers["X-Wharf-Deploy"] == second
            assert second.encode() in await response.read()
        for path in PATHS:
            after = await swapping.fetch("small", path)
            assert after.deploy == second
            assert swapping.problem(after) is None


async def test_edge_swap_between_key_and_answer_does_not_poison_the_cache(
    swapping: Swapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    def swap_during_the_request(data_dir: str, site: str, environment: str) -> str | None:
        nonlocal calls
        calls += 1
        found = live_release_dir(data_dir, site, environment)
        if calls == 1:  # right after this request's one readlink, before its answer is made
            publish(swapping.data, "small", "production", SMALL[1])
        return found

    # Responder.release_root calls the name edge.responder imported.
    monkeypatch.setattr("edge.responder.live_release_dir", swap_during_the_request)
    during = await swapping.fetch("small", "/")
    # One readlink per request: the answer is wholly the release read before the swap...
    assert during.deploy == SMALL[0]
    assert swapping.problem(during) is None
    # ...and the next request sees the new one.
    assert (await swapping.fetch("small", "/")).deploy == SMALL[1]
    monkeypatch.undo()
    publish(swapping.data, "small", "production", SMALL[0])  # roll back
    after = await swapping.fetch("small", "/")
    assert after.deploy == SMALL[0]
    assert swapping.problem(after) is None
