"""The edge's serving rules as a browser or curl sees them, through a real socket."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import aiohttp
import brotli  # type: ignore[import-untyped]
import pytest
from multidict import CIMultiDictProxy

from tests.edge_harness import (
    Edge,
    publish,
    read_response,
    running_edge,
    write_edge_config,
)
from tests.harness.releases import install_release
from tests.harness.waiting import wait_for
from tests.sites import site_files

ONE = "0123456789ab"  # production
TWO = "ba9876543210"  # staging
THREE = "c0ffee00beef"  # installed, never published: reachable only as a preview
BIG = random.Random(7).randbytes(600_000)  # over 256 KiB: streamed with sendfile, not cached
FINGERPRINTED_JS = "/* fingerprinted */\n" + "export const answer = 42 ;\n" * 80
REDIRECTS = """\
/old              /about/
/temp             /contact          302
/blog/*           /news/:splat
/users/:id/profile  /people/:id
/app/*            /index.html       200
/contact          /elsewhere
/shadow           /contact          301!
/files/*          /docs/:splat      200
https://www.example.test/promo   /contact
https://www.example.test/promo2  /contact
"""
HEADERS = """\
/*
  X-Frame-Options: DENY
/assets/*
  X-Asset: yes
/contact
  ! X-Frame-Options
  ! Cache-Control
  X-Contact: hello
https://www.example.test/*
  X-Domain: custom
/styles/*
  Cache-Control: public, max-age=600
  Content-Type: text/css; charset=utf-8
"""
DOMAINS = {"domains": {"www.example.test": {"site": "blog", "environment": "production"}}}


@dataclass
class Answer:
    """What a client got back."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def deploy(self) -> str | None:
        return self.headers.get("X-Wharf-Deploy")


@dataclass
class Edged:
    """A running edge over a data dir, and a client session for it."""

    edge: Edge
    data: Path
    source: Path  # site files of release ONE as uploaded
    session: aiohttp.ClientSession

    async def get(
        self, path: str, host: str = "blog.localhost", method: str = "GET", **headers: str
    ) -> Answer:
        """One request with an explicit Host; identity encoding unless the caller asks."""
        sent = {"Host": host, "Accept-Encoding": "identity"}
        sent.update({name.replace("_", "-"): value for name, value in headers.items()})
        async with self.session.request(
            method, self.edge.url(path), headers=sent, allow_redirects=False
        ) as response:
            return Answer(response.status, response.headers, await response.read())

    async def configure(self, document: Mapping[str, object]) -> None:
        """Write edge/config.json and wait out the edge's half-second re-read interval."""
        write_edge_config(self.data, document)
        await asyncio.sleep(0.6)

    def file(self, relative: str) -> bytes:
        """A file of release ONE as uploaded."""
        return (self.source / relative).read_bytes()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Edged]:
    """Release ONE live in production, TWO in staging, THREE only installed; one edge worker."""
    data = tmp_path / "data"
    install_release(
        data,
        "blog",
        ONE,
        site_files(
            ONE,
            {
                "contact.html": "<p>contact page</p>",
                "shadow.html": "<p>shadowed by a forced rule</p>",
                "404.html": "<h1>custom not found</h1>",
                "docs/hello world.html": "<p>docs with a space</p>",
                "assets/app.3f9a2b1c.js": FINGERPRINTED_JS,
                "big.bin": BIG,
                "styles/theme.css": "body { color: #333 }\n",
                "_redirects": REDIRECTS,
                "_headers": HEADERS,
            },
        ),
    )
    install_release(data, "blog", TWO, site_files(TWO))
    install_release(data, "blog", THREE, site_files(THREE))
    publish(data, "blog", "production", ONE)
    publish(data, "blog", "staging", TWO)
    async with (
        running_edge(data) as edge,
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        yield Edged(edge, data, tmp_path / "sources" / "blog" / ONE, session)


async def test_edge_maps_production_staging_and_preview_hosts(served: Edged) -> None:
    production = await served.get("/")
    assert production.status == 200
    assert f"Hello from release {ONE}".encode() in production.body
    assert production.deploy == ONE
    with_port = await served.get("/", host=f"BLOG.localhost:{served.edge.port}")
    assert with_port.status == 200 and with_port.deploy == ONE
    staging = await served.get("/", host="blog--staging.localhost")
    assert staging.status == 200 and staging.deploy == TWO
    assert f"Hello from release {TWO}".encode() in staging.body
    for deploy in (ONE, TWO, THREE):
        preview = await served.get("/", host=f"{deploy}--blog.localhost")
        assert preview.status == 200 and preview.deploy == deploy
        assert f"Hello from release {deploy}".encode() in preview.body


@pytest.mark.parametrize(
    "host",
    [
        "nosuch.localhost",
        "nosuch--staging.localhost",
        "0000000000aa--blog.localhost",  # a deploy id that was never installed
        "blog--preview.localhost",
        "a.blog.localhost",
        "example.org",
    ],
)
async def test_edge_unknown_host_is_a_plain_404(served: Edged, host: str) -> None:
    answer = await served.get("/", host=host)
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.deploy == "none"
    assert b"Hello" not in answer.body


async def test_edge_own_404s_are_pages_on_the_tokens_for_a_browser(served: Edged) -> None:
    browser = "text/html,*/*;q=0.8"
    answer = await served.get("/", host="example.org", Accept=browser)
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    assert b"<h1>No site here</h1>" in answer.body and b"example.org" in answer.body
    assert b"--bg:" in answer.body and b"prefers-color-scheme: dark" in answer.body
    # A site's name with nothing live under it says so, in the same style.
    empty = await served.get("/", host="nosuch.localhost", Accept=browser)
    assert empty.status == 404 and b"nothing published yet</h1>" in empty.body
    # The inline style is allowed by its hash, and nothing else is.
    policy = answer.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    # curl (no Accept: text/html) still gets the one line.
    assert (await served.get("/", host="example.org")).body == b"no site here\n"


@pytest.mark.parametrize("host", ["under_score.localhost", "blog..localhost", "blog.localhost:x"])
async def test_edge_bad_host_is_400(served: Edged, host: str) -> None:
    answer = await served.get("/", host=host)
    assert answer.status == 400
    assert answer.deploy == "none"


async def test_edge_custom_domain_comes_from_the_edge_config(served: Edged) -> None:
    assert (await served.get("/", host="www.example.test")).status == 404
    await served.configure(DOMAINS)
    answer = await served.get("/contact", host="WWW.example.test:443")
    assert answer.status == 200 and answer.body == b"<p>contact page</p>"
    assert answer.deploy == ONE
    await served.configure(
        {"domains": {"www.example.test": {"site": "blog", "environment": "staging"}}}
    )
    staging = await served.get("/", host="www.example.test")
    assert staging.status == 200 and staging.deploy == TWO


async def test_edge_clean_urls(served: Edged) -> None:
    about = await served.get("/about")
    assert about.status == 301
    assert about.headers["Location"] == "/about/"
    with_query = await served.get("/about?from=menu")
    assert with_query.status == 301
    assert with_query.headers["Location"] == "/about/?from=menu"
    page = await served.get("/about/")
    assert page.status == 200 and page.body == served.file("about/index.html")
    contact = await served.get("/contact")
    assert contact.status == 200 and contact.body == b"<p>contact page</p>"
    assert contact.headers["Content-Type"].startswith("text/html")
    assert (await served.get("/contact.html")).body == b"<p>contact page</p>"
    home = await served.get("/")
    assert home.status == 200 and home.body == served.file("index.html")
    assert (await served.get("/hello%20world")).status == 404


async def test_edge_custom_404_page(served: Edged) -> None:
    answer = await served.get("/no/such/page")
    assert answer.status == 404
    assert answer.body == b"<h1>custom not found</h1>"
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.deploy == ONE
    # A site without 404.html gets the edge's own short answer.
    plain = await served.get("/no/such/page", host="blog--staging.localhost")
    assert plain.status == 404 and plain.deploy == TWO
    assert plain.headers["Content-Type"].startswith("text/plain")


async def test_edge_spa_fallback_serves_index_for_unknown_paths(served: Edged) -> None:
    await served.configure({"spa": ["blog"]})
    route = await served.get("/dashboard/settings")
    assert route.status == 200
    assert route.body == served.file("index.html")
    assert route.deploy == ONE
    # Real files still win, and other sites are not affected.
    assert (await served.get("/contact")).body == b"<p>contact page</p>"
    assert (await served.get("/x", host="blog--staging.localhost")).status == 200
    await served.configure({"spa": []})
    assert (await served.get("/dashboard/other")).status == 404


async def test_edge_spa_setting_applies_to_paths_already_requested(served: Edged) -> None:
    assert (await served.get("/dashboard")).status == 404
    await served.configure({"spa": ["blog"]})
    answer = await served.get("/dashboard")
    assert answer.status == 200
    assert answer.body == served.file("index.html")


async def test_edge_redirects_file_rules(served: Edged) -> None:
    default = await served.get("/old?ref=mail")
    assert default.status == 301
    assert default.headers["Location"] == "/about/?ref=mail"
    temporary = await served.get("/temp")
    assert temporary.status == 302 and temporary.headers["Location"] == "/contact"
    splat = await served.get("/blog/2024/hello-world")
    assert splat.status == 301 and splat.headers["Location"] == "/news/2024/hello-world"
    placeholder = await served.get("/users/42/profile")
    assert placeholder.status == 301 and placeholder.headers["Location"] == "/people/42"
    rewrite = await served.get("/app/some/route")
    assert rewrite.status == 200
    assert "Location" not in rewrite.headers
    assert rewrite.body == served.file("index.html")
    # An existing file wins over a rule without '!'...
    shadowed = await served.get("/contact")
    assert shadowed.status == 200 and shadowed.body == b"<p>contact page</p>"
    # ...and a rule with '!' wins over the file.
    forced = await served.get("/shadow")
    assert forced.status == 301 and forced.headers["Location"] == "/contact"
    for answer in (default, temporary, splat, placeholder, rewrite, forced):
        assert answer.deploy == ONE


async def test_edge_rewrite_reaches_a_file_with_an_encoded_name(served: Edged) -> None:
    answer = await served.get("/files/hello%20world.html")
    assert answer.status == 200
    assert answer.body == b"<p>docs with a space</p>"


async def test_edge_host_specific_redirect_applies_to_its_host_only(served: Edged) -> None:
    await served.configure(DOMAINS)
    assert (await served.get("/promo", host="blog.localhost")).status == 404
    on_domain = await served.get("/promo", host="www.example.test")
    assert on_domain.status == 301 and on_domain.headers["Location"] == "/contact"
    assert (await served.get("/promo2", host="www.example.test")).status == 301
    assert (await served.get("/promo2", host="blog.localhost")).status == 404


async def test_edge_headers_file_sets_and_removes_headers(served: Edged) -> None:
    home = await served.get("/")
    assert home.headers["X-Frame-Options"] == "DENY"
    assert "X-Asset" not in home.headers
    asset = await served.get("/assets/app.js")
    assert asset.headers["X-Asset"] == "yes"
    assert asset.headers["X-Frame-Options"] == "DENY"
    contact = await served.get("/contact")
    assert contact.headers["X-Contact"] == "hello"
    assert "X-Frame-Options" not in contact.headers  # removed by `! X-Frame-Options`
    assert "Cache-Control" not in contact.headers  # the edge's default, removed by `! Name`
    assert contact.body == b"<p>contact page</p>"


async def test_edge_headers_file_replaces_the_default_of_the_same_name(served: Edged) -> None:
    answer = await served.get("/styles/theme.css")
    assert answer.status == 200
    assert answer.headers.getall("Cache-Control") == ["public, max-age=600"]
    assert answer.headers.getall("Content-Type") == ["text/css; charset=utf-8"]
    again = await served.get("/styles/theme.css", If_None_Match=answer.headers["ETag"])
    assert again.status == 304
    assert again.headers.getall("Cache-Control") == ["public, max-age=600"]


async def test_edge_host_specific_header_rule_applies_on_its_domain(served: Edged) -> None:
    await served.configure(DOMAINS)
    assert "X-Domain" not in (await served.get("/")).headers
    answer = await served.get("/", host="www.example.test")
    assert answer.status == 200
    assert answer.headers.get("X-Domain") == "custom"


async def test_edge_etag_answers_304(served: Edged) -> None:
    first = await served.get("/")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await served.get("/", If_None_Match=etag)
    assert again.status == 304
    assert again.body == b""
    assert again.headers["ETag"] == etag
    assert again.deploy == ONE
    assert (await served.get("/", If_None_Match=f'"other", W/{etag}')).status == 304
    assert (await served.get("/", If_None_Match='"other"')).status == 200
    # Another release of the same path has another tag.
    staging = await served.get("/", host="blog--staging.localhost", If_None_Match=etag)
    assert staging.status == 200 and staging.deploy == TWO


async def test_edge_last_modified_answers_304(served: Edged) -> None:
    first = await served.get("/contact")
    last_modified = first.headers["Last-Modified"]
    assert (await served.get("/contact", If_Modified_Since=last_modified)).status == 304
    later = formatdate(2_000_000_000, usegmt=True)
    assert (await served.get("/contact", If_Modified_Since=later)).status == 304
    earlier = formatdate(1_000_000_000, usegmt=True)
    answer = await served.get("/contact", If_Modified_Since=earlier)
    assert answer.status == 200 and answer.body == b"<p>contact page</p>"


async def test_edge_last_modified_never_goes_backwards_on_a_rollback(served: Edged) -> None:
    """THREE was built after ONE; publishing THREE then rolling back to ONE (the older build)
    must give a later Last-Modified, so a client revalidating by date alone gets the page."""
    publish(served.data, "blog", "production", THREE)
    newer = await served.get("/")
    assert newer.deploy == THREE
    seen = newer.headers["Last-Modified"]
    # HTTP dates count whole seconds: the rollback comes in a later one. A file's time comes
    # from the kernel's coarse clock, a few ms behind time(): leave a margin past the boundary.
    await wait_for(lambda: formatdate(time.time() - 0.1, usegmt=True) != seen, 3)
    publish(served.data, "blog", "production", ONE)
    rolled_back = await served.get("/")  # a plain GET: the edge's response cache is keyed too
    assert rolled_back.deploy == ONE
    assert parsedate_to_datetime(rolled_back.headers["Last-Modified"]) > parsedate_to_datetime(seen)
    revalidated = await served.get("/", If_Modified_Since=seen)
    assert revalidated.status == 200 and revalidated.deploy == ONE
    assert b"Hello from release " + ONE.encode() in revalidated.body


async def test_edge_error_answers_carry_no_validators_and_redirects_a_cache_policy(
    served: Edged,
) -> None:
    missing = await served.get("/no/such/page")
    assert missing.status == 404 and b"custom not found" in missing.body
    assert "ETag" not in missing.headers and "Last-Modified" not in missing.headers
    permanent = await served.get("/old")  # a _redirects rule, 301 by default
    assert permanent.status == 301 and permanent.headers["Cache-Control"] == "max-age=3600"
    slash = await served.get("/about")  # the trailing-slash redirect
    assert slash.status == 301 and slash.headers["Cache-Control"] == "max-age=3600"
    temporary = await served.get("/temp")
    assert temporary.status == 302 and temporary.headers["Cache-Control"] == "no-cache"


async def test_edge_any_encodings_tag_of_the_same_content_revalidates(served: Edged) -> None:
    gz = await served.get("/assets/app.js", Accept_Encoding="gzip")
    identity = await served.get("/assets/app.js")
    assert gz.headers["ETag"].startswith('W/"')
    # A client that holds the gzip variant's tag for the plain body (Traefik decoded it).
    plain = await served.get("/assets/app.js", If_None_Match=gz.headers["ETag"])
    assert plain.status == 304
    encoded = await served.get(
        "/assets/app.js", Accept_Encoding="gzip", If_None_Match=identity.headers["ETag"]
    )
    assert encoded.status == 304
    other = await served.get("/assets/site.css", If_None_Match=gz.headers["ETag"])
    assert other.status == 200


async def test_edge_range_requests(served: Edged) -> None:
    whole = served.file("assets/app.js")
    size = len(whole)
    first = await served.get("/assets/app.js", Range="bytes=0-9")
    assert first.status == 206
    assert first.body == whole[:10]
    assert first.headers["Content-Range"] == f"bytes 0-9/{size}"
    assert first.headers["Content-Length"] == "10"
    middle = await served.get("/assets/app.js", Range="bytes=100-")
    assert middle.status == 206 and middle.body == whole[100:]
    suffix = await served.get("/assets/app.js", Range="bytes=-7")
    assert suffix.status == 206 and suffix.body == whole[-7:]
    assert suffix.headers["Content-Range"] == f"bytes {size - 7}-{size - 1}/{size}"
    beyond = await served.get("/assets/app.js", Range=f"bytes={size}-")
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.deploy == ONE
    # If-Range with a stale tag: the whole file, as RFC 9110 says.
    stale = await served.get("/assets/app.js", Range="bytes=0-9", If_Range='"stale"')
    assert stale.status == 200 and stale.body == whole


async def test_edge_head_has_the_headers_and_no_body(served: Edged) -> None:
    get = await served.get("/")
    reader, writer = await asyncio.open_connection("127.0.0.1", served.edge.port)
    try:
        writer.write(b"HEAD / HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n")
        head = await read_response(reader, head_only=True)
        rest = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert head.status == 200
    assert rest == b""  # nothing after the head: the server closed without a body
    for name in ("ETag", "Content-Type", "Last-Modified", "Cache-Control", "X-Frame-Options"):
        assert head.header(name) == get.headers[name]
    assert head.header("X-Wharf-Deploy") == ONE


@pytest.mark.parametrize("path", ["/", "/big.bin"])
async def test_edge_head_reports_the_length_of_the_body(served: Edged, path: str) -> None:
    get = await served.get(path)
    head = await served.get(path, method="HEAD")
    assert head.status == 200
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"


async def test_edge_serves_precompressed_variants(served: Edged) -> None:
    original = served.file("assets/app.js")
    br = await served.get("/assets/app.js", Accept_Encoding="br")
    assert br.headers["Content-Encoding"] == "br"
    assert len(br.body) < len(original)
    assert brotli.decompress(br.body) == original
    gz = await served.get("/assets/app.js", Accept_Encoding="gzip, deflate")
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.body) == original
    refused = await served.get("/assets/app.js", Accept_Encoding="br;q=0, gzip")
    assert refused.headers["Content-Encoding"] == "gzip"
    identity = await served.get("/assets/app.js", Accept_Encoding="identity")
    assert "Content-Encoding" not in identity.headers
    assert identity.body == original
    for answer in (br, gz, refused, identity):
        assert answer.status == 200
        assert answer.headers["Vary"] == "Accept-Encoding"
        assert answer.headers["Content-Type"].startswith("text/javascript")
    assert len({br.headers["ETag"], gz.headers["ETag"], identity.headers["ETag"]}) == 3
    # Encoded variants have weak tags; any tag of the same content revalidates it.
    assert br.headers["ETag"].startswith('W/"') and not identity.headers["ETag"].startswith("W/")
    again = await served.get(
        "/assets/app.js", Accept_Encoding="br", If_None_Match=br.headers["ETag"]
    )
    assert again.status == 304


async def test_edge_cache_control_follows_the_file_kind(served: Edged) -> None:
    fingerprinted = await served.get("/assets/app.3f9a2b1c.js")
    assert fingerprinted.status == 200
    assert fingerprinted.headers["Cache-Control"] == "max-age=31536000, immutable"
    for path in ("/", "/about/", "/assets/app.js", "/assets/site.css"):
        answer = await served.get(path)
        assert answer.headers["Cache-Control"] == "max-age=0, must-revalidate", path


async def test_edge_names_the_deploy_on_every_response(served: Edged) -> None:
    etag = (await served.get("/")).headers["ETag"]
    answers = [
        await served.get("/"),
        await served.get("/about"),
        await served.get("/temp"),
        await served.get("/missing"),
        await served.get("/", If_None_Match=etag),
        await served.get("/assets/app.js", Range="bytes=0-0"),
        await served.get("/assets/app.js", Range="bytes=999999-"),
        await served.get("/a%2fb"),
        await served.get("/big.bin"),
        await served.get("/", method="HEAD"),
    ]
    assert [answer.deploy for answer in answers] == [ONE] * len(answers)
    assert (await served.get("/", host="blog--staging.localhost")).deploy == TWO
    # Answers that no release made still carry the header.
    for answer in (
        await served.get("/", host="nosuch.localhost"),
        await served.get("/", method="POST"),
        await served.get("/healthz", host="localhost"),
    ):
        assert answer.deploy == "none"


async def test_edge_large_file_arrives_byte_exact(served: Edged) -> None:
    whole = await served.get("/big.bin")
    assert whole.status == 200
    assert whole.headers["Content-Length"] == str(len(BIG))
    assert hashlib.sha256(whole.body).digest() == hashlib.sha256(BIG).digest()
    part = await served.get("/big.bin", Range="bytes=300000-499999")
    assert part.status == 206
    assert part.body == BIG[300_000:500_000]
    assert part.headers["Content-Range"] == f"bytes 300000-499999/{len(BIG)}"
    tail = await served.get("/big.bin", Range="bytes=-70000")
    assert tail.status == 206 and tail.body == BIG[-70_000:]
    # The connection stays usable after a streamed body.
    assert (await served.get("/contact")).body == b"<p>contact page</p>"


async def test_edge_answers_the_acme_challenge_on_any_host(served: Edged) -> None:
    acme = served.data / "acme"
    acme.mkdir()
    (acme / "Tok-en_123").write_text("Tok-en_123.thumbprint")
    for host in ("blog.localhost", "nosuch.localhost", "localhost", "www.example.test"):
        answer = await served.get("/.well-known/acme-challenge/Tok-en_123", host=host)
        assert answer.status == 200, host
        assert answer.body == b"Tok-en_123.thumbprint"
    for token in ("missing", "Tok.en", "..", "%2e%2e%2fblog"):
        answer = await served.get(f"/.well-known/acme-challenge/{token}")
        assert answer.status == 404, token
        assert b"thumbprint" not in answer.body


async def test_edge_healthz_and_metrics_on_the_base_domain(served: Edged) -> None:
    for host in ("localhost", f"localhost:{served.edge.port}", "127.0.0.1"):
        health = await served.get("/healthz", host=host)
        assert health.status == 200 and health.body == b"ok\n", host
    for _ in range(3):
        assert (await served.get("/")).status == 200
    assert (await served.get("/missing")).status == 404
    metrics = await served.get("/metrics", host="localhost")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.body.decode()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['wharf_edge_requests_total{site="blog",status="200"}'] >= 3
    assert samples['wharf_edge_requests_total{site="blog",status="404"}'] >= 1
    assert "wharf_edge_request_duration_seconds_bucket" in text
    # On a site's host these paths belong to the site.
    assert (await served.get("/healthz")).status == 404


async def test_edge_refuses_other_methods_with_405(served: Edged) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        answer = await served.get("/", method=method)
        assert answer.status == 405, method
        assert answer.headers["Allow"] == "GET, HEAD"


async def test_edge_keep_alive_answers_pipelined_requests_in_order(served: Edged) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.edge.port)
    try:
        writer.write(
            b"GET /contact HTTP/1.1\r\nHost: blog.localhost\r\n\r\n"
            b"GET /about/ HTTP/1.1\r\nHost: blog.localhost\r\n\r\n"
        )
        first = await asyncio.wait_for(read_response(reader), 5)
        second = await asyncio.wait_for(read_response(reader), 5)
        assert (first.status, first.body) == (200, b"<p>contact page</p>")
        assert (second.status, second.body) == (200, served.file("about/index.html"))
        # A streamed file holds back the answers behind it, which then follow in order.
        writer.write(
            b"GET /big.bin HTTP/1.1\r\nHost: blog.localhost\r\n\r\n"
            b"GET /contact HTTP/1.1\r\nHost: blog.localhost\r\n\r\n"
            b"GET /big.bin HTTP/1.1\r\nHost: blog.localhost\r\nRange: bytes=10-19\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: blog.localhost\r\nConnection: close\r\n\r\n"
        )
        answers = [await asyncio.wait_for(read_response(reader), 5) for _ in range(4)]
        assert [answer.status for answer in answers] == [200, 200, 206, 404]
        assert answers[0].body == BIG
        assert answers[1].body == b"<p>contact page</p>"
        assert answers[2].body == BIG[10:20]
        assert answers[3].body == b"<h1>custom not found</h1>"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed as asked
    finally:
        writer.close()


async def test_edge_accepts_an_absolute_form_target(served: Edged) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.edge.port)
    try:
        writer.write(
            b"GET http://blog.localhost/contact HTTP/1.1\r\nHost: blog.localhost\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = await asyncio.wait_for(read_response(reader), 5)
    finally:
        writer.close()
    assert answer.status == 200
    assert answer.body == b"<p>contact page</p>"
