"""Where a webhook may point: URLs refused with their codes, addresses judged public or not
(every spelling of loopback included), and the URL an attempt connects by."""

from __future__ import annotations

import ipaddress

import pytest

from controlplane.errors import Invalid
from controlplane.webhooks.webhook_urls import destination, parse_webhook_url, refusal

REFUSED_URLS = [
    (None, "invalid_webhook_url"),
    ("", "invalid_webhook_url"),
    ("hooks.example.com/wharf", "webhook_url_scheme"),
    ("ftp://hooks.example.com/", "webhook_url_scheme"),
    ("javascript:alert(1)", "webhook_url_scheme"),
    ("https://" + "a" * 2040 + ".com/", "webhook_url_too_long"),
    ("https://user:pass@hooks.example.com/", "webhook_url_credentials"),
    ("https://token@hooks.example.com/", "webhook_url_credentials"),
    ("https:///no-host", "invalid_webhook_url"),
    ("https://hooks.example.com:99999/", "invalid_webhook_url"),
    ("https://hooks.example.com:0/", "invalid_webhook_url"),
    ("https://hooks.example.com/a b", "invalid_webhook_url"),
    ("https://hooks.example.com/\x00", "invalid_webhook_url"),
    ("https://hooks.example.com/#part", "invalid_webhook_url"),
    ("https://hooks..example.com/", "invalid_webhook_url"),
    ("https://hooks.exa$mple.com/", "invalid_webhook_url"),
]


@pytest.mark.parametrize(("url", "code"), REFUSED_URLS)
def test_webhook_urls_refused_with_their_code(url: object, code: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_webhook_url(url)
    assert refused.value.code == code


def test_webhook_urls_parts_and_the_url_an_attempt_connects_by() -> None:
    target = parse_webhook_url(" https://Hooks.Example.COM/wharf?team=1 ")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)
    assert target.host_header == "hooks.example.com"
    assert target.via(ipaddress.ip_address("203.0.113.9")) == "https://203.0.113.9:443/wharf?team=1"
    v6 = parse_webhook_url("http://[2001:db8::1]:8080/x")
    assert (v6.host, v6.port, v6.host_header) == ("2001:db8::1", 8080, "[2001:db8::1]:8080")
    assert v6.via(ipaddress.ip_address("2001:db8::1")) == "http://[2001:db8::1]:8080/x"
    unicode = parse_webhook_url("https://bücher.example/hook")
    assert unicode.host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("0.0.0.0", False),  # noqa: S104 - an address judged, never bound
        ("::", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("64:ff9b::7f00:1", False),
    ],
)
def test_webhook_urls_only_public_addresses_pass(address: str, public: bool) -> None:
    assert (refusal(ipaddress.ip_address(address)) is None) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
    ],
)
async def test_webhook_urls_every_spelling_of_a_private_host_is_refused(url: str) -> None:
    target = parse_webhook_url(url)
    with pytest.raises(Invalid) as refused:
        await destination(target, allow_private=False)
    assert refused.value.code == "webhook_url_private"
    # Allowed, the same host is fine: the refusal is the policy's, not the URL's.
    assert refusal(await destination(target, allow_private=True)) is not None


async def test_webhook_urls_a_name_that_resolves_to_nothing_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        await destination(parse_webhook_url("https://no-such-host.invalid/"), allow_private=True)
    assert refused.value.code == "webhook_url_unresolvable"
