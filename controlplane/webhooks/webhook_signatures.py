"""Webhook secrets and the Wharf-Signature header, signed the way Stripe signs its webhooks:
`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>` (docs/webhooks.md has
the receiver's side, which tests/unit/test_webhook_signatures.py runs)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from controlplane.secrets import Secret

SECRET_PREFIX = "whsec_"


def new_secret() -> Secret:
    """A new signing secret: whsec_ and 32 random bytes, base64url without padding."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    return Secret(SECRET_PREFIX + text)


def signature(secret: Secret, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>`, keyed by the whole secret's text."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.reveal().encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: Secret, timestamp: int, body: bytes) -> str:
    """The Wharf-Signature header's value for one attempt."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
