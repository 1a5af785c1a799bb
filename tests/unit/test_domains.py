"""Custom-domain hostnames: IDNA to ASCII, LDH labels, wildcards on request, Wharf's hosts kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from controlplane.domains.domain_service import prune_challenges, validate_hostname, write_challenge
from controlplane.domains.ownership_checks import challenge_record_name, challenge_url
from controlplane.errors import Invalid

BASE = "sites.example.net"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM", "www.example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),
        ("日本語.jp", "xn--wgv71a119e.jp"),
        ("ｅｘａｍｐｌｅ.com", "example.com"),  # full-width forms map as browsers map them
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("a-b.c-d.example", "a-b.c-d.example"),
        ("1password.example", "1password.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        (".".join(["a" * 49] * 5) + ".abc", ".".join(["a" * 49] * 5) + ".abc"),  # 253 characters
        ("example.net", "example.net"),  # the base's parent is not Wharf's
        ("sites.example.net.evil.test", "sites.example.net.evil.test"),
    ],
)
def test_validate_hostname_accepts_and_normalises(raw: str, expected: str) -> None:
    assert validate_hostname(raw, BASE, allow_wildcard=False) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        42,
        ["example.com"],
        "example",  # one label
        "com.",
        "example.com:8080",
        "http://example.com",
        "example.com/path",
        "exa mple.com",
        " example.com",
        "example.com ",
        "exam_ple.com",
        "exam`ple.com",
        "exam'ple.com",
        'exam"ple.com',
        "exam(ple).com",
        "example.com\n",
        "example.com\nHost: evil.test",
        "a.com||b.com",
        "{{site}}.example.com",
        "a.com;b.com",
        "user@example.com",
        "example.com?x",
        "example.com#x",
        "exa\\mple.com",
        "a..example.com",
        ".example.com",
        "example.com..",
        "-a.example.com",
        "a-.example.com",
        "ab--cd.example.com",  # reserved hyphen positions
        "xn--abc.example",  # not valid punycode
        "a" * 64 + ".example",
        ".".join(["a" * 49] * 5) + ".abcd",  # 254 characters
        "x" * 2000,
        "127.0.0.1",
        "10.1.2.3",
        "[::1]",
        "exa\u00admple.com",  # soft hyphen: IDNA would drop it silently
        "exa\u200bmple.com",  # zero-width space
        "exa\u200dmple.com",  # zero-width joiner
        "example\u3000.com",  # ideographic space
        "pаypal.com",  # Cyrillic а among Latin letters
        "аррӏе.com",  # all Cyrillic, reads as "apple"
        "gοοgle.com",  # Greek omicrons
        "example.com\u2044evil.test",  # fraction slash, looks like "/"
        "a*.example.com",
        "*example.com",
        "www.*.example.com",
        "**.example.com",
    ],
)
def test_validate_hostname_rejects(raw: object) -> None:
    with pytest.raises(Invalid) as error:
        validate_hostname(raw, BASE, allow_wildcard=True)
    assert error.value.code == "invalid_hostname", raw
    assert error.value.message


def test_validate_hostname_wildcard_only_when_allowed() -> None:
    assert validate_hostname("*.x.test", BASE, allow_wildcard=True) == "*.x.test"
    assert validate_hostname("*.Bücher.example", BASE, True) == "*.xn--bcher-kva.example"
    with pytest.raises(Invalid) as error:
        validate_hostname("*.x.test", BASE, allow_wildcard=False)
    assert error.value.code == "wildcard_not_allowed"
    with pytest.raises(Invalid) as error:
        validate_hostname("*.test", BASE, allow_wildcard=True)  # a whole TLD
    assert error.value.code == "invalid_hostname"


@pytest.mark.parametrize(
    "raw",
    [
        BASE,
        BASE.upper(),
        BASE + ".",
        "blog." + BASE,
        "blog--staging." + BASE,
        "abc123--blog." + BASE,
        "deep.blog." + BASE,
        "*." + BASE,
        "*.blog." + BASE,
        "*.example.net",  # covers the base itself
        "localhost.test.localhost",
        "app.localhost",
    ],
)
def test_validate_hostname_reserves_wharfs_own_hosts(raw: str) -> None:
    with pytest.raises(Invalid) as error:
        validate_hostname(raw, BASE, allow_wildcard=True)
    assert error.value.code == "reserved_hostname", raw


def test_validate_hostname_reserves_a_unicode_base_domain() -> None:
    with pytest.raises(Invalid) as error:
        validate_hostname("blog.xn--bcher-kva.example", "Bücher.example", False)
    assert error.value.code == "reserved_hostname"


def test_challenge_names_for_hosts_and_wildcards() -> None:
    assert challenge_record_name("www.x.test") == "_wharf-challenge.www.x.test"
    assert challenge_record_name("*.x.test") == "_wharf-challenge.x.test"
    assert challenge_url("x.test", "tok") == "http://x.test/.well-known/wharf-challenge/tok"


def test_write_challenge_is_whole_and_readable(tmp_path: Path) -> None:
    folder = tmp_path / "challenges"
    write_challenge(folder, "Tok-en_1")
    assert (folder / "Tok-en_1").read_text() == "Tok-en_1"
    assert (folder / "Tok-en_1").stat().st_mode & 0o777 == 0o644
    assert [path.name for path in folder.iterdir()] == ["Tok-en_1"]  # no temp file left


def test_prune_challenges_keeps_known_and_young_files(tmp_path: Path) -> None:
    for token in ("kept", "orphan", "young"):
        write_challenge(tmp_path, token)
    old = time.time() - 3600
    for token in ("kept", "orphan"):
        os.utime(tmp_path / token, (old, old))
    assert prune_challenges(tmp_path, {"kept"}) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept", "young"]
    assert prune_challenges(tmp_path / "missing", set()) == 0
