"""Site names follow DNS label rules and never contain the host-part separator."""

from __future__ import annotations

import pytest

from controlplane.errors import Invalid
from controlplane.names import site_hosts, validate_email, validate_site_name


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
