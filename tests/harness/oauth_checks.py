"""What the fake providers check of an OAuth client: PKCE (RFC 7636), client authentication."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from urllib.parse import unquote_plus

from aiohttp import web

# RFC 7636 §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def new_verifier() -> str:
    """A fresh code_verifier (43 characters, the minimum RFC 7636 §4.1 allows)."""
    return secrets.token_urlsafe(32)


def s256(verifier: str) -> str:
    """The S256 code_challenge of verifier: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifies(verifier: str | None, challenge: str) -> bool:
    """Whether verifier is well formed and its S256 challenge is challenge (RFC 7636 §4.6)."""
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def client_credentials(request: web.Request, form: Mapping[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic, whose parts are form-urlencoded (RFC 6749
    §2.3.1), or else from the form body; ("", "") for a malformed Basic header."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return form.get("client_id", ""), form.get("client_secret", "")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return unquote_plus(user), unquote_plus(password)
