"""Password hashing and token handling."""

from __future__ import annotations

import time

import jwt
import pytest

from controlplane.accounts import credentials
from controlplane.errors import Unauthorized

KEY = b"k" * 32


async def test_hash_password_is_argon2id_and_verifies() -> None:
    hashed = await credentials.hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await credentials.verify_password(hashed, "correct horse")
    assert not await credentials.verify_password(hashed, "wrong horse")
    assert not await credentials.verify_password(None, "correct horse")
    assert not await credentials.verify_password("not-a-hash", "x")
    assert not credentials.needs_rehash(hashed)


def test_access_token_round_trip() -> None:
    token = credentials.issue_access_token(42, KEY, 60)
    assert credentials.read_access_token(token, KEY) == 42
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"


@pytest.mark.parametrize(
    ("label", "make"),
    [
        (
            "expired",
            lambda: jwt.encode({"iss": "wharf", "sub": "1", "iat": 0, "exp": 1}, KEY, "HS256"),
        ),
        (
            "none",
            lambda: jwt.encode({"iss": "wharf", "sub": "1", "iat": 0, "exp": 2**40}, None, "none"),
        ),
        ("wrong key", lambda: credentials.issue_access_token(1, b"x" * 32, 60)),
        ("no exp", lambda: jwt.encode({"iss": "wharf", "sub": "1", "iat": 0}, KEY, "HS256")),
        (
            "foreign issuer",
            lambda: jwt.encode(
                {"iss": "other", "sub": "1", "iat": 0, "exp": int(time.time()) + 60}, KEY, "HS256"
            ),
        ),
        (
            "bad subject",
            lambda: jwt.encode(
                {"iss": "wharf", "sub": "root", "iat": 0, "exp": int(time.time()) + 60},
                KEY,
                "HS256",
            ),
        ),
        ("tampered", lambda: credentials.issue_access_token(1, KEY, 60)[:-3] + "abc"),
    ],
)
def test_read_access_token_rejects(label: str, make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unauthorized):
        credentials.read_access_token(make(), KEY)


def test_api_tokens_are_random_and_stored_hashed() -> None:
    first, first_hash = credentials.new_api_token()
    second, _ = credentials.new_api_token()
    assert first != second
    assert first.startswith(credentials.API_TOKEN_PREFIX)
    assert len(first) > 40
    assert first_hash == credentials.hash_api_token(first)
    assert first.encode() not in first_hash
