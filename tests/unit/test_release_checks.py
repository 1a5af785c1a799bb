"""Release checks on small releases built the way the pipeline builds them, answered by the edge."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from controlplane.deploys.page_links import css_links, manifest_links, refresh_url, srcset_urls
from controlplane.deploys.release_checks import (
    CheckOptions,
    ChecksReport,
    Problem,
    check_release,
    report_from_json,
)
from tests.harness.releases import install_release
from tests.sites import docs_site_files

DEPLOY = "0123456789ab"
PAGE = (
    "<!doctype html>\n<html><head><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
)


def page(body: str, title: str = "A page") -> str:
    """An HTML document whose body starts on line 4."""
    return PAGE.format(title=title, body=body)


def check(tmp_path: Path, files: dict[str, str | bytes], **options: object) -> ChecksReport:
    """Build the files into a release and check it."""
    root = install_release(tmp_path / "data", "blog", DEPLOY, files)
    return check_release(
        root,
        CheckOptions("blog", DEPLOY, f"{DEPLOY}--blog.localhost", **options),  # type: ignore[arg-type]
    )


def problems(report: ChecksReport, kind: str | None = None) -> list[Problem]:
    """The report's problems, of one kind when given."""
    return [p for p in report.problems if kind is None or p.kind == kind]


def where(report: ChecksReport) -> set[tuple[str, int | None, str | None, str]]:
    """(page, line, link, kind) of every problem."""
    return {(p.page, p.line, p.link, p.kind) for p in report.problems}


def test_release_checks_report_broken_link_css_asset_and_srcset_with_page_and_line(
    tmp_path: Path,
) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<a href="/about">ok</a>\n'  # line 4
                '<a href="/nowhere">broken</a>\n'  # line 5
                '<img src="/img/a.png" srcset="/img/a.png 1x, /img/missing@2x.png 2x">\n'
            ),
            "about.html": page("about"),
            "img/a.png": b"\x89PNG",
            "css/site.css": "body {\n  color: red;\n  background: url('../img/gone.png');\n}\n",
        },
    )
    assert report.status == "failed"
    assert where(report) == {
        ("index.html", 5, "/nowhere", "broken_link"),
        ("index.html", 6, "/img/missing@2x.png", "missing_asset"),
        ("css/site.css", 3, "../img/gone.png", "missing_asset"),
    }
    (broken,) = problems(report, "broken_link")
    assert (broken.severity, broken.status, broken.source) == ("error", 404, "a href")
    assert broken.answer == "404 Not Found"
    srcset = next(p for p in report.problems if p.source == "img srcset")
    assert srcset.line == 6 and srcset.status == 404
    assert report.errors == 3 and report.warnings == 0 and report.pages == 2
    assert report.summary() == "3 problems (3 errors, 0 warnings)"


def test_release_checks_meta_refresh_import_and_style_urls(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<meta http-equiv="Refresh" content="0; URL=\'/moved/\'">\n'
                "<style>\n  .a { background: url(/img/bg.png) }\n"
                '  .b { background-image: image-set("/img/x.png" 1x, "/img/y.png" 2x) }\n'
                "</style>\n"
                '<div style="background: url(/img/inline.png)"></div>'
            ),
            "img/bg.png": b"png",
            "img/x.png": b"png",
            "css/main.css": (
                '@import "base.css";\n@import url(theme.css);\n@import url("print.css") print;\n'
            ),
            "css/base.css": "p { margin: 0 }",
        },
    )
    assert where(report) == {
        ("index.html", 4, "/moved/", "broken_link"),
        ("index.html", 7, "/img/y.png", "missing_asset"),
        ("index.html", 9, "/img/inline.png", "missing_asset"),
        ("css/main.css", 2, "theme.css", "missing_asset"),
        ("css/main.css", 3, "print.css", "missing_asset"),
    }
    sources = {p.link: p.source for p in report.problems}
    assert sources["theme.css"] == "css @import"
    assert sources["/img/y.png"] == "style image-set()"
    assert sources["/img/inline.png"] == "style attribute url()"


def test_release_checks_manifest_icons_start_url_and_screenshots(tmp_path: Path) -> None:
    manifest = {
        "name": "Blog",
        "start_url": "./",
        "scope": "/",
        "icons": [
            {"src": "icons/192.png", "sizes": "192x192"},
            {"src": "icons/512.png", "sizes": "512x512"},
        ],
        "screenshots": [{"src": "/shots/wide.png"}],
    }
    report = check(
        tmp_path,
        {
            "index.html": page('<link rel="manifest" href="/app/site.json">'),
            "app/site.json": json.dumps(manifest, indent=2),
            "app/icons/192.png": b"png",
            "other.webmanifest": json.dumps({"icons": [{"src": "missing.png"}]}),
        },
    )
    assert where(report) == {
        ("app/site.json", 11, "icons/512.png", "missing_asset"),
        ("app/site.json", 17, "/shots/wide.png", "missing_asset"),
        ("app/site.json", 3, "./", "broken_link"),
        ("other.webmanifest", 1, "missing.png", "missing_asset"),
    }
    assert {p.source for p in report.problems} >= {"manifest icons", "manifest start_url"}


def test_release_checks_redirects_rule_and_rewrite_make_links_valid(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<a href="/old">old</a>\n<a href="/blog/2020/post">post</a>\n'
                '<a href="/api/status">rewritten</a>\n<a href="/shop">off-site</a>\n'
                '<a href="/gone">gone</a>'
            ),
            "news/2020/post.html": page("post"),
            "status.json": "{}",
            "about/index.html": page("about"),
            "_redirects": (
                "/old /about/ 301\n/blog/* /news/:splat 302\n/api/status /status.json 200\n"
                "/shop https://shop.example.com/ 302\n/gone /index.html 410\n"
            ),
        },
    )
    assert where(report) == {("index.html", 8, "/gone", "broken_link")}
    (gone,) = report.problems
    assert gone.status == 410


def test_release_checks_clean_urls_and_trailing_slash_redirects(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<a href="about">file</a>\n<a href="/team">folder, redirected to /team/</a>\n'
                '<a href="team/">folder</a>\n<a href="./docs/guide.html#part">fragment</a>\n'
                '<a href="/docs/guide?print=1">query</a>'
            ),
            "about.html": page("about"),
            "team/index.html": page('<a href="../about">up</a> <a href="..">home</a>'),
            "docs/guide.html": page('<a href="../../../about">above the root</a>'),
        },
    )
    assert report.status == "passed", report.problems
    assert report.links == 8


def test_release_checks_follow_redirects_and_catch_loops(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page('<a href="/a">a</a>\n<a href="/ping">loop</a>'),
            "b/index.html": page("b"),
            "_redirects": "/a /b 301\n/ping /pong 302\n/pong /ping 302\n",
        },
    )
    (loop,) = report.problems
    assert (loop.kind, loop.line, loop.link) == ("redirect_loop", 5, "/ping")
    assert loop.answer == "302 to /pong → 302 to /ping → a loop"


def test_release_checks_spa_fallback_counts_as_a_page(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "index.html": page('<a href="/app/settings">a route of the app</a>')
    }
    assert check(tmp_path / "plain", files).status == "failed"
    assert check(tmp_path / "spa", files, spa=True).status == "passed"


def test_release_checks_a_link_answered_by_404_page_is_broken(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page('<a href="/missing/">missing</a>'),
            "404.html": page('<a href="/">home</a>', title="Not found"),
        },
    )
    (broken,) = report.problems
    assert broken.status == 404 and broken.answer == "404 Not Found (the site's 404.html)"


def test_release_checks_missing_index(tmp_path: Path) -> None:
    report = check(tmp_path, {"docs/index.html": page("docs")})
    (missing,) = report.problems
    assert (missing.kind, missing.severity, missing.page) == (
        "missing_index",
        "error",
        "index.html",
    )
    assert missing.status == 404


def test_release_checks_warn_of_mixed_content_missing_title_and_large_files(
    tmp_path: Path,
) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<img src="http://cdn.example.com/a.png">\n'
                '<a href="http://example.com/">a plain link is fine</a>\n'
                '<script src="//cdn.example.com/app.js"></script>'
            ),
            "untitled.html": "<!doctype html><html><head></head><body>x</body></html>",
            "empty-title.html": "<html><title>  </title><body>x</body></html>",
            "partial.html": "<p>a fragment, loaded by a script</p>",
            "big.bin": b"x" * 3000,
            "css/a.css": "a { background: url(http://cdn.example.com/bg.png) }",
        },
        max_file_bytes=2048,
    )
    assert report.status == "warned"
    assert where(report) == {
        ("index.html", 4, "http://cdn.example.com/a.png", "mixed_content"),
        ("css/a.css", 1, "http://cdn.example.com/bg.png", "mixed_content"),
        ("untitled.html", None, None, "missing_title"),
        ("empty-title.html", None, None, "missing_title"),
        ("big.bin", None, None, "file_too_large"),
    }
    assert all(p.severity == "warning" for p in report.problems)


def test_release_checks_ignore_external_and_other_schemes(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<a href="https://example.com/nowhere">x</a> <a href="//example.com/x">x</a>\n'
                '<a href="mailto:me@example.com">x</a> <a href="tel:+1">x</a>\n'
                '<a href="javascript:void(0)">x</a> <img src="data:image/png;base64,AAAA">\n'
                '<a href="#top">x</a> <a href="">x</a> <a href=" ">x</a>\n'
                '<link rel="preconnect" href="/nowhere"> <link rel="dns-prefetch" href="/x">'
            )
        },
    )
    assert report.status == "passed" and report.links == 0


def test_release_checks_resolve_as_a_browser_does(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        {
            "index.html": page(
                '<a href="caf%C3%A9%20menu.html">encoded</a> <a href="café menu.html">raw</a>\n'
                '<a href="docs\\guide.html">backslash</a>'
            ),
            "café menu.html": page("menu"),
            "docs/guide.html": page("guide"),
            "docs/deep/index.html": (
                '<html><head><base href="/docs/"><title>t</title></head>'
                '<body><a href="guide.html">via base</a><a href="deep/">self</a></body></html>'
            ),
        },
    )
    assert report.status == "passed", report.problems
    assert report.links == 5


def test_release_checks_cap_the_list_and_count_the_rest(tmp_path: Path) -> None:
    links = "\n".join(f'<a href="/missing-{n}">{n}</a>' for n in range(30))
    report = check(tmp_path, {"index.html": page(links)}, max_problems=10)
    assert len(report.problems) == 10 and report.errors == 30 and report.omitted == 20
    assert report_from_json(json.loads(json.dumps(report.to_json()))) == report


def test_release_checks_the_real_site_sized_fixture_passes_clean(tmp_path: Path) -> None:
    files = docs_site_files()
    assert len(files) == 338 and sum(name.endswith(".html") for name in files) == 106
    started = time.perf_counter()
    report = check(tmp_path, files)
    assert report.status == "passed", report.problems[:5]
    assert report.pages == 106 and report.links > 5000
    assert time.perf_counter() - started < 10  # the bench measures it; this only catches a blow-up


@pytest.mark.parametrize(
    ("srcset", "urls"),
    [
        ("a.png", ["a.png"]),
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("a.png, b.png", ["a.png", "b.png"]),
        ("a.png,b.png", ["a.png,b.png"]),  # as the standard reads it: a URL runs to a space
        ("  a,b.png  480w , c.png 800w", ["a,b.png", "c.png"]),  # a comma inside a URL
        ("a.png (max-width: 1px, 2px) 1x, b.png", ["a.png", "b.png"]),
        ("", []),
    ],
)
def test_release_checks_srcset_urls(srcset: str, urls: list[str]) -> None:
    assert srcset_urls(srcset) == urls


@pytest.mark.parametrize(
    ("content", "url"),
    [
        ("0; url=/next/", "/next/"),
        ("5;URL='/a b'", "/a b"),
        ("0, /fast", "/fast"),
        ("3", None),
        ("", None),
    ],
)
def test_release_checks_refresh_url(content: str, url: str | None) -> None:
    assert refresh_url(content) == url


def test_release_checks_css_and_manifest_lines() -> None:
    css = (
        "/* url(commented.png) */\n@font-face {\n  src: url(a.woff2) format('woff2'),\n"
        "    url('b.woff');\n}"
    )
    assert [(link.url, link.line, link.source) for link in css_links(css)] == [
        ("a.woff2", 3, "css url()"),
        ("b.woff", 4, "css url()"),
    ]
    manifest = '{\n "icons": [\n  {"src": "/"},\n  {"src": "/"}\n ],\n "start_url": "/"\n}'
    assert [(link.line, link.source) for link in manifest_links(manifest)] == [
        (6, "manifest start_url"),
        (3, "manifest icons"),
        (4, "manifest icons"),
    ]
    assert manifest_links("not json") == [] and manifest_links("[1]") == []
