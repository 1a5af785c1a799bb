"""Site names follow DNS label rules and never contain the host-part separator."""

from __future__ import annotations

import pytest

from controlplane.errors import Invalid
from controlplane.names import (
    ACME_PATH,
    CHALLENGE_PATH,
    is_dns_label,
    is_hostname,
    site_hosts,
    validate_email,
    validate_site_name,
)
from edge import hosts as edge_hosts
from edge import responder as edge_responder


@pytest.mark.parametrize("name", ["a", "blog", "my-site", "x1", "1x", "a" * 63])
def test_validate_site_name_accepts(name: str) -> None:
    assert validate_site_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "Blog",
        "-a",
        "a-",
        "a--b",
        "xn--bcher-kva",
        "a" * 64,
        "a.b",
        "a_b",
        "a b",
        "ä",
        "a\n",
        "a`b",
        None,
        3,
        ["a"],
    ],
)
def test_validate_site_name_rejects(name: object) -> None:
    with pytest.raises(Invalid) as error:
        validate_site_name(name)
    assert error.value.code == "invalid_name"


@pytest.mark.parametrize("email", ["admin@localhost", "a.b+c@example.com"])
def test_validate_email_accepts(email: str) -> None:
    assert validate_email(email) == email


@pytest.mark.parametrize("email", ["", "a", "a@", "@b", "a@b@c", "a b@c", None])
def test_validate_email_rejects(email: object) -> None:
    with pytest.raises(Invalid):
        validate_email(email)


def test_site_hosts_use_one_label_below_base() -> None:
    assert site_hosts("blog", "example.com") == {
        "production": "blog.example.com",
        "staging": "blog--staging.example.com",
    }


LABEL_CASES = [
    "a", "blog", "a-b", "0", "9lives", "x" * 63, "x" * 64, "-a", "a-", "", "Blog", "b_log",
    "blög", "a.b", "a b", "xn--bcher-kva", "a--b", "café", "\u0430", "a\n",
]  # fmt: skip


@pytest.mark.parametrize("text", LABEL_CASES)
def test_names_edge_copy_of_the_label_rule_agrees_with_the_control_planes(text: str) -> None:
    assert (edge_hosts.LABEL.fullmatch(text) is not None) == is_dns_label(text)


@pytest.mark.parametrize(
    ("text", "valid"),
    [("example.com", True), ("a." * 126 + "b", True), ("a." * 127, False), ("a..b", False),
     ("x" * 64 + ".com", False), ("EXAMPLE.com", False), ("ex_ample.com", False)],
)  # fmt: skip
def test_names_hostname_rule(text: str, valid: bool) -> None:
    assert is_hostname(text) is valid


def test_names_edge_copies_of_the_challenge_paths_agree() -> None:
    edge = (edge_responder.CHALLENGE_PREFIX, edge_responder.ACME_PREFIX)
    assert edge == (CHALLENGE_PATH, ACME_PATH)
