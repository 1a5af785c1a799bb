"""The edge's rule matcher: which redirect or rewrite a request gets, and which headers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controlplane.deploys.site_rules import parse_headers, parse_redirects
from edge.rule_engine import Redirect, SiteRules


def _rules(redirects: str = "", headers: str = "") -> SiteRules:
    """Compile rules files the way a release gets them: parsed at build time, then loaded."""
    redirect_rules, problems = parse_redirects(redirects)
    header_rules, header_problems = parse_headers(headers)
    assert problems == header_problems == []
    return SiteRules.from_document(
        {"version": 1, "redirects": redirect_rules, "headers": header_rules}
    )


def _location(rules: SiteRules, path: str, query: str = "", host: str = "site.test") -> str | None:
    """The location a request is sent to, or None when no rule matches."""
    found = rules.redirect_for(path, query, host)
    return None if found is None else found.location


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/blog/2024/hello", "/news/2024/hello"),
        ("/blog/a/b/c.html", "/news/a/b/c.html"),
        ("/blog/", "/news/"),
        ("/blog", "/news/"),
        ("/blogger", None),
        ("/other/blog/x", None),
    ],
)
def test_redirect_for_substitutes_the_splat(path: str, location: str | None) -> None:
    assert _location(_rules("/blog/* /news/:splat"), path) == location


def test_redirect_for_splat_after_text_matches_any_suffix() -> None:
    rules = _rules("/v1* /legacy/:splat 302")
    assert _location(rules, "/v1") == "/legacy/"
    assert _location(rules, "/v1.2/x") == "/legacy/.2/x"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/news/2024/02", "/blog-2024-02.html"),
        ("/news/2024/02/", "/blog-2024-02.html"),
        ("/news/2024", None),
        ("/news/2024/02/14", None),
        ("/news//02", None),
    ],
)
def test_redirect_for_substitutes_placeholders(path: str, location: str | None) -> None:
    rules = _rules("/news/:year/:month /blog-:year-:month.html")
    assert _location(rules, path) == location


def test_redirect_for_placeholders_and_splat_together() -> None:
    rules = _rules("/docs/:version/* https://docs.example.com/:version/:splat 302")
    assert _location(rules, "/docs/v2/guide/intro") == "https://docs.example.com/v2/guide/intro"


def test_redirect_for_matches_query_parameters_and_keeps_the_query() -> None:
    rules = _rules("/store id=:id /blog/:id 301")
    assert _location(rules, "/store", "id=my-post") == "/blog/my-post?id=my-post"
    assert _location(rules, "/store", "ref=x&id=7") == "/blog/7?ref=x&id=7"
    assert _location(rules, "/store", "") is None
    assert _location(rules, "/store", "id=") is None
    assert _location(rules, "/store", "other=1") is None


def test_redirect_for_needs_every_query_parameter() -> None:
    rules = _rules("/search q=:q page=:p /find/:q?page=:p\n/search /find")
    assert _location(rules, "/search", "q=cats&page=2") == "/find/cats?page=2"
    assert _location(rules, "/search", "q=cats") == "/find?q=cats"


def test_redirect_for_passes_the_request_query_on() -> None:
    rules = _rules("/old /new")
    assert _location(rules, "/old", "utm_source=mail&x=1") == "/new?utm_source=mail&x=1"
    assert _location(rules, "/old", "") == "/new"


def test_redirect_for_target_query_replaces_the_request_query() -> None:
    rules = _rules("/a /b?from=a\n/c /d?\n/e /f#top")
    assert _location(rules, "/a", "x=1") == "/b?from=a"
    assert _location(rules, "/c", "x=1") == "/d"
    assert _location(rules, "/e", "x=1") == "/f?x=1#top"


@pytest.mark.parametrize(
    ("rule", "path", "matches"),
    [
        ("/about /about-us", "/about", True),
        ("/about /about-us", "/about/", True),
        ("/about/ /about-us", "/about", True),
        ("/about/ /about-us", "/about/", True),
        ("/about /about-us", "/About", False),
        ("/about /about-us", "/about//", False),
        ("/ /home", "/", True),
        ("/team/:name /people/:name", "/team/ann/", True),
    ],
)
def test_redirect_for_ignores_one_trailing_slash_and_keeps_case(
    rule: str, path: str, matches: bool
) -> None:
    assert (_location(_rules(rule), path) is not None) is matches


def test_redirect_for_first_matching_rule_wins() -> None:
    rules = _rules(
        "/a/* /first\n/a/b /second\n/c /third\n/c/* /fourth\n/x/:id /fifth\n/x/:id /sixth"
    )
    assert _location(rules, "/a/b") == "/first"
    assert _location(rules, "/c") == "/third"
    assert _location(rules, "/c/d") == "/fourth"
    assert _location(rules, "/x/1") == "/fifth"


def test_redirect_for_passes_force_and_status_through() -> None:
    rules = _rules("/app/* /app/index.html 200!\n/old /new 308\n/tmp /x 302!")
    assert rules.redirect_for("/app/settings", "", "h") == Redirect(200, "/app/index.html", True)
    assert rules.redirect_for("/old", "", "h") == Redirect(308, "/new", False)
    assert rules.redirect_for("/tmp", "", "h") == Redirect(302, "/x", True)


def test_redirect_for_rewrite_and_custom_404_are_served_internally() -> None:
    rules = _rules("/spa/* /spa/index.html 200\n/en/* /en/404.html 404\n/a /b")
    rewrite = rules.redirect_for("/spa/deep/link", "", "h")
    not_found = rules.redirect_for("/en/missing", "", "h")
    moved = rules.redirect_for("/a", "", "h")
    assert rewrite is not None and rewrite.internal and rewrite.status == 200
    assert not_found is not None and not_found.internal and not_found.location == "/en/404.html"
    assert moved is not None and not moved.internal


def test_redirect_for_absolute_target() -> None:
    rules = _rules("/chat https://chat.example.com/room 302\n/gh/* https://github.com/:splat")
    assert _location(rules, "/chat") == "https://chat.example.com/room"
    assert _location(rules, "/gh/org/repo", "tab=1") == "https://github.com/org/repo?tab=1"


def test_redirect_for_domain_level_rule_matches_only_its_host() -> None:
    rules = _rules("https://old.example.com/* https://new.example.com/:splat 301!\n/x /y")
    expected = "https://new.example.com/x"
    assert _location(rules, "/x", host="old.example.com") == expected
    assert _location(rules, "/x", host="OLD.example.com:8080") == expected
    assert _location(rules, "/x", host="old.example.com.") == expected
    assert _location(rules, "/x", host="other.example.com") == "/y"


def test_redirect_for_static_domain_rule_matches_only_its_host() -> None:
    rules = _rules("https://old.example.com/a /from-old\n/a /from-any")
    assert _location(rules, "/a", host="old.example.com") == "/from-old"
    assert _location(rules, "/a", host="site.test") == "/from-any"


def test_redirect_for_matches_the_decoded_path() -> None:
    rules = _rules("/caf%C3%A9 /coffee\n/menu/:dish /dishes/:dish\n/files/* /f/:splat")
    assert _location(rules, "/café") == "/coffee"
    assert _location(rules, "/menu/crème brûlée") == "/dishes/cr%C3%A8me%20br%C3%BBl%C3%A9e"
    assert _location(rules, "/files/a b/c") == "/f/a%20b/c"


def test_redirect_for_encodes_captured_values_so_headers_cannot_be_injected() -> None:
    rules = _rules("/files/* /f/:splat\n/s/:term /search?q=:term")
    assert _location(rules, "/files/x\r\nSet-Cookie: a=b") == "/f/x%0D%0ASet-Cookie:%20a=b"
    assert _location(rules, "/s/cats&admin=1") == "/search?q=cats%26admin%3D1"
    assert _location(rules, "/files/a", "x=\n") == "/f/a?x=%0A"


def test_redirect_for_without_rules_matches_nothing() -> None:
    assert _rules().redirect_for("/", "", "site.test") is None


def test_redirect_for_stays_fast_on_hostile_paths() -> None:
    pattern = "/" + "/".join(f":p{n}" for n in range(40)) + "/end"
    rules = _rules(f"{pattern} /x\n/a/* /b/:splat")
    started = time.monotonic()
    for path in ("/" + "a/" * 39 + "a" * 50_000, "/" + "a/" * 5_000, "/a/" + "%/" * 50_000):
        rules.redirect_for(path, "x=1&" * 500, "site.test")
    assert time.monotonic() - started < 1.0


def test_headers_for_applies_every_matching_rule_in_order() -> None:
    rules = _rules(
        headers=(
            "/*\n"
            "  X-Frame-Options: DENY\n"
            "  X-Robots-Tag: noindex\n"
            "  Cache-Control: no-cache\n"
            "/assets/*\n"
            "  Cache-Control: public, max-age=31536000, immutable\n"
            "  ! X-Robots-Tag\n"
            "  ! Server-Timing\n"
        )
    )
    assert rules.headers_for("/assets/app.js") == (
        [
            ("X-Frame-Options", "DENY"),
            ("Cache-Control", "no-cache"),
            ("Cache-Control", "public, max-age=31536000, immutable"),
        ],
        {"x-robots-tag", "server-timing"},
    )
    assert rules.headers_for("/index.html") == (
        [("X-Frame-Options", "DENY"), ("X-Robots-Tag", "noindex"), ("Cache-Control", "no-cache")],
        set(),
    )


def test_headers_for_a_later_rule_can_set_a_removed_header_again() -> None:
    rules = _rules(headers="/*\n  ! X-Robots-Tag\n/private/*\n  X-Robots-Tag: noindex\n")
    assert rules.headers_for("/private/a") == ([("X-Robots-Tag", "noindex")], {"x-robots-tag"})


def test_headers_for_placeholders_and_exact_paths() -> None:
    rules = _rules(headers="/:lang/about\n  X-Page: about\n/contact\n  X-Page: contact\n")
    assert rules.headers_for("/en/about")[0] == [("X-Page", "about")]
    assert rules.headers_for("/contact/")[0] == [("X-Page", "contact")]
    assert rules.headers_for("/en/contact") == ([], set())


def test_headers_for_absolute_url_rules_need_the_host() -> None:
    rules = _rules(headers="https://preview.example.com/*\n  X-Robots-Tag: noindex\n")
    assert rules.headers_for("/a", host="preview.example.com:443")[0] == [
        ("X-Robots-Tag", "noindex")
    ]
    assert rules.headers_for("/a", host="www.example.com") == ([], set())
    assert rules.headers_for("/a") == ([], set())


@pytest.mark.parametrize(
    "document",
    [
        {"version": 2, "redirects": [], "headers": []},
        {"redirects": []},
        {"version": 1, "redirects": "x"},
        {"version": 1, "redirects": [{"from": "/a/*/b", "to": "/", "status": 301}]},
        {
            "version": 1,
            "redirects": [
                {"from": "a", "to": "/", "status": 301, "force": False, "query": {}, "host": None}
            ],
        },
        {
            "version": 1,
            "redirects": [
                {"from": "/a", "to": "/", "status": 418, "force": False, "query": {}, "host": None}
            ],
        },
        {
            "version": 1,
            "redirects": [
                {"from": "/:a/:a", "to": "/", "status": 301, "force": False, "query": {}}
            ],
        },
        {"version": 1, "headers": [{"path": "/*", "set": [["X-A", "b\r\nX-B: c"]], "unset": []}]},
        {"version": 1, "headers": [{"path": "/*", "set": [["Content-Length", "1"]], "unset": []}]},
        {"version": 1, "headers": [{"path": "/*", "set": [], "unset": ["Bad Name"]}]},
        {"version": 1, "headers": [{"path": "/*", "set": [], "unset": []}] * 101},
    ],
)
def test_from_document_refuses_malformed_documents(document: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SiteRules.from_document(document)
