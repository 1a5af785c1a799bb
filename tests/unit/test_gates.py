"""Gates: input validation, host parsing, redirect targets, and the signed cookies/share tokens."""

from __future__ import annotations

import base64
import contextlib
import json

import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.errors import Invalid
from controlplane.gates.gate_service import (
    BCRYPT_COST,
    MAX_USERS,
    GateTokens,
    base_target,
    hash_basic_password,
    parse_authority,
    validate_gate_environment,
    validate_gate_password,
    validate_mode,
    validate_username,
    validate_users,
    without_share,
)
from controlplane.names import safe_next, validate_password

KEY = b"k" * 32


@pytest.mark.parametrize("value", ["production", "staging", "previews"])
def test_gates_environment_accepts_the_three(value: str) -> None:
    assert validate_gate_environment(value) == value


@pytest.mark.parametrize("value", [None, "", "Production", "preview", 1, ["production"]])
def test_gates_environment_refuses_others(value: object) -> None:
    with pytest.raises(Invalid) as error:
        validate_gate_environment(value)
    assert error.value.code == "invalid_environment"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("none", True), ("basic", True), ("password", True), ("off", False), (None, False)],
)
def test_gates_mode_table(value: object, ok: bool) -> None:
    if ok:
        assert validate_mode(value) == value
    else:
        with pytest.raises(Invalid) as error:
            validate_mode(value)
        assert error.value.code == "invalid_mode"


@pytest.mark.parametrize(
    ("username", "ok"),
    [
        ("alice", True),
        ("A.b_c-9", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("al ice", False),
        ("al:ice", False),  # would split a `user:hash` entry
        ("ålice", False),
        ("a\n", False),
        (None, False),
        (7, False),
    ],
)
def test_gates_username_table(username: object, ok: bool) -> None:
    if ok:
        assert validate_username(username) == username
    else:
        with pytest.raises(Invalid) as error:
            validate_username(username)
        assert error.value.code == "invalid_username"


@pytest.mark.parametrize(
    ("password", "basic", "ok"),
    [
        ("12345678", False, True),
        ("1234567", False, False),
        ("x" * 1024, False, True),
        ("x" * 1025, False, False),
        ("x" * 72, True, True),
        ("x" * 73, True, False),  # bcrypt reads 72 bytes at most
        ("é" * 37, True, False),  # 74 bytes in UTF-8
        (None, False, False),
        (12345678, False, False),
    ],
)
def test_gates_password_table(password: object, basic: bool, ok: bool) -> None:
    if ok:
        assert validate_gate_password(password, basic=basic) == password
    else:
        with pytest.raises(Invalid) as error:
            validate_gate_password(password, basic=basic)
        assert error.value.code == "invalid_password"


USER_PASSWORD = "password-1"


def _user(name: str, given: str | None = USER_PASSWORD) -> dict[str, object]:
    return {"username": name} if given is None else {"username": name, "password": given}


@pytest.mark.parametrize(
    ("users", "code"),
    [
        (None, "users_required"),
        ([], "users_required"),
        ("alice", "users_required"),
        (["alice"], "invalid_users"),
        ([_user("a"), _user("a")], "duplicate_username"),
        ([_user(f"u{i}") for i in range(MAX_USERS + 1)], "too_many_users"),
        ([_user("new", None)], "invalid_password"),
        ([_user("bad name")], "invalid_username"),
        ([_user("a", "short")], "invalid_password"),
    ],
)
def test_gates_users_refused(users: object, code: str) -> None:
    with pytest.raises(Invalid) as error:
        validate_users(users, {"known": "$2b$05$x"})
    assert error.value.code == code


def test_gates_users_known_without_password_keep_their_hash() -> None:
    users = validate_users([_user("known", None), _user("b")], {"known": "$2b$05$x"})
    assert users == [("known", None), ("b", "password-1")]
    assert len(validate_users([_user(f"u{i}") for i in range(MAX_USERS)], {})) == MAX_USERS


def test_gates_basic_hash_is_bcrypt_at_the_chosen_cost() -> None:
    hashed = hash_basic_password("correct horse")
    assert hashed.startswith(f"$2b$0{BCRYPT_COST}$") and len(hashed) == 60
    assert bcrypt.checkpw(b"correct horse", hashed.encode())
    assert "$$" not in hashed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("blog.localhost", ("blog.localhost", "blog.localhost")),
        ("Blog.Localhost:8080", ("blog.localhost", "blog.localhost:8080")),
        ("blog.localhost.", ("blog.localhost", "blog.localhost")),
        ("", None),
        ("blog.localhost:http", None),
        ("blog.localhost:123456", None),
        ("bl og.localhost", None),
        ("a..b", None),
        ("[::1]:80", None),
        ("evil.test/x", None),
        ("-a.test", None),
    ],
)
def test_gates_parse_authority_table(raw: str, expected: tuple[str, str] | None) -> None:
    assert parse_authority(raw) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("blog.localhost", ("blog", "production")),
        ("blog--staging.localhost", ("blog", "staging")),
        ("0123456789ab--blog.localhost", ("blog", "previews")),
        ("0123456789a--blog.localhost", None),  # not a deploy id
        ("x--y--z.localhost", None),
        ("a.b.localhost", None),
        ("localhost", None),
        ("blog.example.com", None),
    ],
)
def test_gates_base_target_reads_hosts_as_the_edge_does(
    host: str, expected: tuple[str, str] | None
) -> None:
    assert base_target(host, "localhost") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/about?x=1#top", "/about?x=1#top"),
        ("/%2F%2Fevil.test", "/%2F%2Fevil.test"),  # a path, not a host
        ("//evil.test/", "/"),
        ("/\\evil.test", "/"),
        ("https://evil.test/", "/"),
        ("evil.test", "/"),
        ("javascript:alert(1)", "/"),
        ("/a b", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        ("/" + "a" * 3000, "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_gates_next_stays_on_the_same_host(raw: object, expected: str) -> None:
    assert safe_next(raw) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/", ("/", None)),
        ("/a?wharf_share=T", ("/a", "T")),
        ("/a?x=1&wharf_share=T&y=a+b%20c", ("/a?x=1&y=a+b%20c", "T")),
        ("/a?wharf_share=T.u%2D", ("/a", "T.u-")),
        ("/a?x=1", ("/a?x=1", None)),
    ],
)
def test_gates_share_parameter_is_removed_and_others_kept(
    uri: str, expected: tuple[str, str | None]
) -> None:
    assert without_share(uri) == expected


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_gates_token_round_trip_and_expiry() -> None:
    clock = Clock()
    tokens = GateTokens(KEY, clock)
    token = tokens.issue("cookie", "blog.localhost", "blog/production", "v1", 1_000_060)
    assert tokens.check(token, "cookie", "blog.localhost", "blog/production", "v1") == 1_000_060
    clock.now = 1_000_060
    assert tokens.check(token, "cookie", "blog.localhost", "blog/production", "v1") is None


def _tamper_payload(token: str) -> str:
    payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    fields[4] += 10_000
    forged = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_gates_tokens_refused_when_tampered_foreign_old_or_other_kind() -> None:
    tokens = GateTokens(KEY, Clock())
    args = ("blog.localhost", "blog/production", "v1")
    token = tokens.issue("cookie", *args, 1_000_060)
    payload, signature = token.split(".")
    refused = {
        "tampered payload": (_tamper_payload(token), "cookie", *args),
        "tampered signature": (f"{payload}.{signature[:-2]}AA", "cookie", *args),
        "no signature": (payload, "cookie", *args),
        "two dots": (token + ".x", "cookie", *args),
        "other host": (token, "cookie", "shop.localhost", "blog/production", "v1"),
        "other gate": (token, "cookie", "blog.localhost", "blog/staging", "v1"),
        "old version": (token, "cookie", "blog.localhost", "blog/production", "v2"),
        "other kind": (token, "share", *args),
        "other key": (GateTokens(b"x" * 32).issue("cookie", *args, 1_000_060), "cookie", *args),
        "garbage": ("!!!.???", "cookie", *args),
        "too long": ("a" * 2000 + "." + signature, "cookie", *args),
        "empty": ("", "cookie", *args),
    }
    for name, (candidate, kind, host, gate, version) in refused.items():
        assert tokens.check(candidate, kind, host, gate, version) is None, name  # type: ignore[arg-type]


def test_gates_tokens_with_bad_fields_are_refused_even_when_signed() -> None:
    tokens = GateTokens(KEY, Clock())
    for body in (b"[]", b"{}", b'["cookie","h","g","v","soon"]', b"not json"):
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        token = f"{payload}.{tokens._sign(payload)}"
        assert tokens.check(token, "cookie", "h", "g", "v") is None


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=90).filter(lambda text: "\x00" not in text),
    st.text(max_size=3),
)
def test_gates_no_accepted_basic_password_is_matched_by_a_different_one(
    password: str, change: str
) -> None:
    """bcrypt reads up to a NUL and at most 72 bytes: an accepted password must be all it reads."""
    try:
        accepted = validate_gate_password(password + "\x00" * ("\x00" in change), basic=True)
    except Invalid:
        return
    hashed = hash_basic_password(accepted).encode()
    for other in {accepted[:-1], accepted + change, accepted + "\x00" + change, ""} - {accepted}:
        # bcrypt refuses (ValueError) a password with a NUL or over 72 bytes: nothing matched.
        with contextlib.suppress(ValueError):
            assert not bcrypt.checkpw(other.encode(), hashed), repr(other)


def test_gates_nul_passwords_are_refused_for_every_gate_and_account() -> None:
    for value in ("\x00" * 8, "password\x00", "\x00password-1"):
        with pytest.raises(Invalid):
            validate_gate_password(value, basic=True)
        with pytest.raises(Invalid):
            validate_gate_password(value)
        with pytest.raises(Invalid):
            validate_password(value)
