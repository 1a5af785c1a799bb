"""The Wharf-Signature header against the receiver's check exactly as docs/webhooks.md gives it:
a signed body passes; another body, another secret, an old or missing timestamp do not."""

from __future__ import annotations

import time

from controlplane.secrets import Secret
from controlplane.webhooks.webhook_signatures import SECRET_PREFIX, new_secret, signature_header
from tests.harness.webhook_receiver import documented_verifier

BODY = b'{"id":"evt_1","event":"webhook.test","site":"blog","data":{},"text":"Wharf: hi"}'


def test_webhook_signatures_pass_the_documented_check_and_nothing_else_does() -> None:
    verify = documented_verifier()
    secret = new_secret()
    now = int(time.time())
    header = signature_header(secret, now, BODY)
    assert verify(secret.reveal(), BODY, header)
    assert not verify(secret.reveal(), BODY + b" ", header)  # the body as sent, byte for byte
    assert not verify(new_secret().reveal(), BODY, header)
    old = signature_header(secret, now - 301, BODY)
    assert not verify(secret.reveal(), BODY, old)  # a replay minutes later
    unsigned = header.split(",")[1]
    assert not verify(secret.reveal(), BODY, unsigned)
    assert not verify(secret.reveal(), BODY, "")
    # A second v1 (a secret being replaced) passes when either matches.
    other = signature_header(new_secret(), now, BODY).split(",")[1]
    assert verify(secret.reveal(), BODY, f"{header},{other}")


def test_webhook_signatures_are_stripes_scheme_over_the_timestamp_and_body() -> None:
    secret = Secret("whsec_test")
    # HMAC-SHA256 keyed "whsec_test" of "1700000000.{}", as `openssl dgst -sha256 -hmac` says.
    assert signature_header(secret, 1_700_000_000, b"{}") == (
        "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
    )


def test_webhook_secrets_are_long_random_and_prefixed() -> None:
    secrets = {new_secret().reveal() for _ in range(50)}
    assert len(secrets) == 50
    for text in secrets:
        assert text.startswith(SECRET_PREFIX) and len(text) == len(SECRET_PREFIX) + 43
    assert "whsec_" not in repr(new_secret())
