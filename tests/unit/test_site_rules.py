"""The `_redirects` and `_headers` parser: rules.json form and a line-numbered problem report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controlplane.deploys.site_rules import (
    ParsedRules,
    RuleProblem,
    parse_headers,
    parse_redirects,
    parse_site_rules,
    rules_document,
)


def _rule(source: str, target: str, **fields: Any) -> dict[str, Any]:
    """The JSON form of a rule on line 1, with the defaults unless overridden."""
    rule: dict[str, Any] = {
        "line": 1,
        "from": source,
        "to": target,
        "status": 301,
        "force": False,
        "query": {},
        "host": None,
    }
    return rule | fields


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/old /new", _rule("/old", "/new")),
        ("/old   /new   302", _rule("/old", "/new", status=302)),
        ("\t/old\t/new\t307  ", _rule("/old", "/new", status=307)),
        ("/app/* /app/index.html 200!", _rule("/app/*", "/app/index.html", status=200, force=True)),
        ("/gone /gone.html 410", _rule("/gone", "/gone.html", status=410)),
        ("/en/* /en/404.html 404", _rule("/en/*", "/en/404.html", status=404)),
        ("/moved /there 308!", _rule("/moved", "/there", status=308, force=True)),
        ("/blog/:year/* /news/:year/:splat", _rule("/blog/:year/*", "/news/:year/:splat")),
        (
            "/news/:year/:month /blog-:year-:month.html",
            _rule("/news/:year/:month", "/blog-:year-:month.html"),
        ),
        ("/store id=:id /blog/:id 301", _rule("/store", "/blog/:id", query={"id": "id"})),
        (
            "/a tag=:t page=:p /b/:t?page=:p",
            _rule("/a", "/b/:t?page=:p", query={"tag": "t", "page": "p"}),
        ),
        (
            "/docs/* https://docs.example.com/:splat",
            _rule("/docs/*", "https://docs.example.com/:splat"),
        ),
        (
            "http://Blog.Example.com/* https://example.com/blog/:splat 301!",
            _rule("/*", "https://example.com/blog/:splat", force=True, host="blog.example.com"),
        ),
        ("https://example.com /home", _rule("/", "/home", host="example.com")),
        ("/prefix* /all", _rule("/prefix*", "/all")),
        ("/café /coffee", _rule("/café", "/coffee")),
        ("/a /b#section", _rule("/a", "/b#section")),
        ("/shop country=:c /shop/:c", _rule("/shop", "/shop/:c", query={"country": "c"})),
    ],
)
def test_parse_redirects_builds_the_rule(line: str, expected: dict[str, Any]) -> None:
    rules, problems = parse_redirects(line)
    assert problems == []
    assert rules == [expected]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("/a /b 999", "invalid_status", 1),
        ("/a /b 201", "invalid_status", 1),
        ("/a /b !", "invalid_status", 1),
        ("/a", "missing_target", 1),
        ("/store id=:id", "missing_target", 1),
        ("a /b", "invalid_source", 1),
        ("/a?x=1 /b", "invalid_source", 1),
        ("/a#top /b", "invalid_source", 1),
        ("https://example.com:8443/a /b", "invalid_source", 1),
        ("https://user@example.com/a /b", "invalid_source", 1),
        ("https:///a /b", "invalid_source", 1),
        ("/a b", "invalid_target", 1),
        ("/a //evil.example/x", "invalid_target", 1),
        ("/a https:///x", "invalid_target", 1),
        ("/a/*/b /c", "invalid_splat", 1),
        ("/a/** /c", "invalid_splat", 1),
        ("/a/:x* /c", "invalid_splat", 1),
        ("/a/:1x /c", "invalid_placeholder", 1),
        ("/a/: /c", "invalid_placeholder", 1),
        ("/a/:x/:x /c", "invalid_placeholder", 1),
        ("/a/:splat /c", "invalid_placeholder", 1),
        ("/a/:x id=:x /c", "invalid_placeholder", 1),
        ("/a /b/:x", "undefined_placeholder", 1),
        ("/a /b/:splat", "undefined_placeholder", 1),
        ("/a/:year /b/:month", "undefined_placeholder", 1),
        ("/a id=5 /b", "invalid_query", 1),
        ("/a id=:i id=:j /b", "invalid_query", 1),
        ("/a /b 301 extra", "unexpected_token", 1),
        ("/a /b 301 302", "unexpected_token", 1),
        ("/ /anz 302 Country=au,nz", "unsupported_condition", 1),
        ("/ /fr 302 Language=fr", "unsupported_condition", 1),
        ("/ /fr Language=fr", "unsupported_condition", 1),
        ("/admin/* /admin/:splat 200! Role=admin", "unsupported_condition", 1),
        ("/a Country=au /b", "unsupported_condition", 1),
        ("/api/* https://api.example.com/:splat 200", "unsupported_proxy", 1),
        ("/a https://example.com/404 404", "unsupported_proxy", 1),
        ("/a /b\x00", "invalid_character", 1),
        ("/a\r/b /c", "invalid_character", 1),
        ("# header\n\n/ok /fine\n/a /b 999\n", "invalid_status", 4),
        ("/ok /fine\r\n/bad\r\n", "missing_target", 2),
    ],
)
def test_parse_redirects_reports_the_bad_line(text: str, code: str, line: int) -> None:
    rules, problems = parse_redirects(text)
    assert [(problem.file, problem.code, problem.line) for problem in problems] == [
        ("_redirects", code, line)
    ]
    assert all(rule["line"] != line for rule in rules)


def test_parse_redirects_skips_comments_and_blank_lines_and_keeps_line_numbers() -> None:
    text = "# moved pages\n\n   \n  # indented comment\n/a /b\n\n/c /d 302\n"
    rules, problems = parse_redirects(text)
    assert problems == []
    assert [(rule["line"], rule["from"], rule["status"]) for rule in rules] == [
        (5, "/a", 301),
        (7, "/c", 302),
    ]


def test_parse_redirects_keeps_the_valid_rules_around_a_bad_one() -> None:
    rules, problems = parse_redirects("/a /b\n/c\n/e /f\n")
    assert [rule["from"] for rule in rules] == ["/a", "/e"]
    assert [problem.line for problem in problems] == [2]


def test_parse_redirects_accepts_the_full_static_and_dynamic_allowance() -> None:
    static = [f"/s{n} /t{n}" for n in range(2000)]
    dynamic = [f"/d{n}/* /t/:splat" for n in range(100)]
    rules, problems = parse_redirects("\n".join(static + dynamic))
    assert problems == []
    assert len(rules) == 2100


def test_parse_redirects_reports_the_first_static_rule_over_the_limit() -> None:
    lines = ["# comment"] + [f"/s{n} /t{n}" for n in range(2005)]
    rules, problems = parse_redirects("\n".join(lines))
    # Line 1 is the comment, so static rule number 2,001 sits on line 2,002.
    assert [(problem.code, problem.line) for problem in problems] == [("too_many_rules", 2002)]
    assert len(rules) == 2000


def test_parse_redirects_reports_the_first_dynamic_rule_over_the_limit() -> None:
    lines = ["/static /x"] + [f"/d{n}/:id /t/:id" for n in range(101)] + ["/static2 /y"]
    rules, problems = parse_redirects("\n".join(lines))
    assert [(problem.code, problem.line) for problem in problems] == [("too_many_rules", 102)]
    assert rules[-1]["from"] == "/static2"
    assert len(rules) == 102


def test_parse_redirects_counts_query_matching_as_dynamic() -> None:
    lines = [f"/q{n} id=:id /t/:id" for n in range(101)]
    _, problems = parse_redirects("\n".join(lines))
    assert [(problem.code, problem.line) for problem in problems] == [("too_many_rules", 101)]


def test_parse_redirects_limits_a_line_to_1000_characters() -> None:
    fits = "/a /" + "b" * 996
    too_long = "/a /" + "b" * 997
    assert parse_redirects(fits)[1] == []
    _, problems = parse_redirects(f"/ok /fine\n{too_long}")
    assert [(problem.code, problem.line) for problem in problems] == [("line_too_long", 2)]


def test_parse_redirects_reports_each_bad_line_once() -> None:
    _, problems = parse_redirects("/a\n/b /c 999 Country=au\n/d /e 301 x y\n")
    assert [(problem.line, problem.code) for problem in problems] == [
        (1, "missing_target"),
        (2, "invalid_status"),
        (3, "unexpected_token"),
    ]
    assert all(problem.message for problem in problems)


def test_parse_headers_sets_unsets_and_joins_repeated_names() -> None:
    text = (
        "# security\n"
        "/*\n"
        "  X-Frame-Options: DENY\n"
        "  Link: </style.css>; rel=preload\n"
        "  link:  </app.js>; rel=preload  \n"
        "\n"
        "/assets/*\n"
        "\tCache-Control: public, max-age=31536000, immutable\n"
        "  ! X-Robots-Tag\n"
        "  !Server-Timing\n"
        "/:lang/page\n"
        "  Content-Language: varies\n"
        "https://example.com/*\n"
        "  X-Robots-Tag: noindex\n"
    )
    rules, problems = parse_headers(text)
    assert problems == []
    assert rules == [
        {
            "line": 2,
            "path": "/*",
            "host": None,
            "set": [
                ["X-Frame-Options", "DENY"],
                ["Link", "</style.css>; rel=preload, </app.js>; rel=preload"],
            ],
            "unset": [],
        },
        {
            "line": 7,
            "path": "/assets/*",
            "host": None,
            "set": [["Cache-Control", "public, max-age=31536000, immutable"]],
            "unset": ["X-Robots-Tag", "Server-Timing"],
        },
        {
            "line": 11,
            "path": "/:lang/page",
            "host": None,
            "set": [["Content-Language", "varies"]],
            "unset": [],
        },
        {
            "line": 13,
            "path": "/*",
            "host": "example.com",
            "set": [["X-Robots-Tag", "noindex"]],
            "unset": [],
        },
    ]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("  X-Frame-Options: DENY\n/*\n  X-A: b", "header_without_path", 1),
        ("# c\n\n\tX-A: b", "header_without_path", 3),
        ("/*\nX-Frame-Options: DENY", "invalid_path", 2),
        ("/a /b\n  X-A: b", "invalid_path", 1),
        ("/a?x=1\n  X-A: b", "invalid_path", 1),
        ("https://example.com:8443/*\n  X-A: b", "invalid_path", 1),
        ("/a/*/b\n  X-A: b", "invalid_splat", 1),
        ("/:1\n  X-A: b", "invalid_placeholder", 1),
        ("/*\n  X-A b", "invalid_header_line", 2),
        ("/*\n  X A: b", "invalid_header_name", 2),
        ("/*\n  X-(A): b", "invalid_header_name", 2),
        ("/*\n  : b", "invalid_header_name", 2),
        ("/*\n  ! Bad Name", "invalid_header_name", 2),
        ("/*\n  X-A: b\rSet-Cookie: x=1", "invalid_header_value", 2),
        ("/*\n  X-A: b\x00", "invalid_header_value", 2),
        ("/*\n  X-A: café", "invalid_header_value", 2),
        ("/*\n  Content-Length: 0", "forbidden_header", 2),
        ("/*\n  ! Transfer-Encoding", "forbidden_header", 2),
        ("/*\n  X-A: " + "b" * 2000, "line_too_long", 2),
    ],
)
def test_parse_headers_reports_the_bad_line(text: str, code: str, line: int) -> None:
    _, problems = parse_headers(text)
    assert [(problem.file, problem.code, problem.line) for problem in problems] == [
        ("_headers", code, line)
    ]


def test_parse_headers_ignores_the_headers_of_a_rejected_path_without_more_reports() -> None:
    rules, problems = parse_headers("nope\n  X-A: b\n  X-C: d\n/ok\n  X-E: f\n")
    assert [(problem.code, problem.line) for problem in problems] == [("invalid_path", 1)]
    assert [rule["path"] for rule in rules] == ["/ok"]


def test_parse_headers_accepts_a_line_of_2000_characters() -> None:
    line = "  X-A: " + "b" * 1993
    assert len(line) == 2000
    assert parse_headers("/*\n" + line)[1] == []


def test_parse_headers_reports_the_first_rule_over_100() -> None:
    blocks = [f"/p{n}\n  X-N: {n}" for n in range(102)]
    rules, problems = parse_headers("\n".join(blocks))
    # Rule n starts on line 2n+1, so rule 101 (n = 100) is on line 201.
    assert [(problem.code, problem.line) for problem in problems] == [("too_many_rules", 201)]
    assert len(rules) == 100


def test_parse_site_rules_without_files_has_no_rules(tmp_path: Path) -> None:
    assert parse_site_rules(tmp_path) == ParsedRules(redirects=[], headers=[], problems=[])


def test_parse_site_rules_reads_both_files(tmp_path: Path) -> None:
    (tmp_path / "_redirects").write_text("/a /b\n/c /d 999\n")
    (tmp_path / "_headers").write_text("/*\n  X-A: b\nbad\n")
    parsed = parse_site_rules(tmp_path)
    assert [rule["from"] for rule in parsed.redirects] == ["/a"]
    assert [rule["path"] for rule in parsed.headers] == ["/*"]
    assert [(problem.file, problem.line, problem.code) for problem in parsed.problems] == [
        ("_redirects", 2, "invalid_status"),
        ("_headers", 3, "invalid_path"),
    ]


def test_parse_site_rules_reports_the_line_with_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "_redirects").write_bytes(b"/a /b\n/c /d\n/e\xff /f\n")
    parsed = parse_site_rules(tmp_path)
    assert parsed.redirects == []
    assert parsed.problems == [
        RuleProblem("_redirects", 3, "invalid_encoding", "_redirects is not valid UTF-8")
    ]


def test_parse_site_rules_ignores_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "_headers").write_bytes(b"\xef\xbb\xbf/*\n  X-A: b\n")
    parsed = parse_site_rules(tmp_path)
    assert parsed.problems == []
    assert parsed.headers[0]["path"] == "/*"


def test_rules_document_is_versioned_json(tmp_path: Path) -> None:
    (tmp_path / "_redirects").write_text("/blog/:year/* /news/:year/:splat\n")
    (tmp_path / "_headers").write_text("/*\n  ! X-Robots-Tag\n")
    document = rules_document(parse_site_rules(tmp_path))
    assert json.loads(json.dumps(document)) == {
        "version": 1,
        "redirects": [
            {
                "line": 1,
                "from": "/blog/:year/*",
                "to": "/news/:year/:splat",
                "status": 301,
                "force": False,
                "query": {},
                "host": None,
            }
        ],
        "headers": [{"line": 1, "path": "/*", "host": None, "set": [], "unset": ["X-Robots-Tag"]}],
    }
