"""Credentials: argon2id password hashes, HS256 access tokens (JWT) and API tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from controlplane.errors import Unauthorized

API_TOKEN_PREFIX = "wharf_"
_ISSUER = "wharf"
_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
# Verified when the account does not exist, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    """Hash a password with argon2id, off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against a hash (a dummy one when None), off the event loop."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def issue_access_token(user_id: int, signing_key: bytes, ttl_seconds: int) -> str:
    """A short-lived JWT naming the user."""
    now = int(time.time())
    claims = {"iss": _ISSUER, "sub": str(user_id), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, signing_key, algorithm="HS256")


def read_access_token(token: str, signing_key: bytes) -> int:
    """The user id in a valid JWT; Unauthorized when tampered, expired, unsigned or foreign."""
    try:
        # A fixed algorithm list: "none" and RS/HS confusion are refused by construction.
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        return int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired", code="token_expired") from None
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized("the access token is not valid", code="invalid_token") from None


def new_api_token() -> tuple[str, bytes]:
    """A fresh API token and the hash to store for it."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def new_session_token() -> tuple[str, bytes]:
    """A fresh admin-UI session token (256 random bits) and the hash to store for it."""
    token = secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> bytes:
    """The stored form of an API token (it carries 256 random bits, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).digest()
