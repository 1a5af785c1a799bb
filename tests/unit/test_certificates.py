"""Uploaded certificates: key match, dates, names with wildcards, chain order, and no key leaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from controlplane.errors import Invalid
from controlplane.tls.certificates import CertificateInfo, check_certificate, covers, expiry_seconds
from tests import certs
from tests.certs import Authority, SigningKey, issue

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
NOT_BEFORE = NOW - timedelta(days=30)
NOT_AFTER = NOW + timedelta(days=60)
HOSTS = ["www.example.com"]
_ec_key, _pem, _key_pem = certs.ec_key, certs.pem, certs.key_pem


def _issue(*args: Any, **kwargs: Any) -> x509.Certificate:
    """A certificate valid from NOT_BEFORE to NOT_AFTER unless told otherwise."""
    kwargs.setdefault("not_before", NOT_BEFORE)
    kwargs.setdefault("not_after", NOT_AFTER)
    return issue(*args, **kwargs)


@pytest.fixture(scope="module")
def root() -> Authority:
    key = _ec_key()
    return Authority(_issue("Wharf Test Root", key, None, ca=True), key)


@pytest.fixture(scope="module")
def intermediate(root: Authority) -> Authority:
    key = _ec_key()
    return Authority(_issue("Wharf Test Intermediate", key, root, ca=True), key)


@pytest.fixture(scope="module")
def leaf_key() -> ec.EllipticCurvePrivateKey:
    return _ec_key()


@pytest.fixture(scope="module")
def leaf(intermediate: Authority, leaf_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return _issue("www.example.com", leaf_key, intermediate, sans=("www.example.com",))


def _rejected(
    code: str,
    cert_pem: str,
    key_pem: str,
    chain_pem: str | None,
    hostnames: list[str],
    now: datetime | None = None,
) -> Invalid:
    """The Invalid that check_certificate raises, asserting its code."""
    with pytest.raises(Invalid) as caught:
        check_certificate(cert_pem, key_pem, chain_pem, hostnames, now=now)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_certificates_accepts_leaf_chain_and_key(
    leaf: x509.Certificate,
    leaf_key: ec.EllipticCurvePrivateKey,
    intermediate: Authority,
    root: Authority,
) -> None:
    chain = _pem(intermediate.cert, root.cert)
    info = check_certificate(_pem(leaf), _key_pem(leaf_key), chain, HOSTS, now=NOW)
    assert info == CertificateInfo(
        subject="CN=www.example.com",
        issuer="CN=Wharf Test Intermediate",
        names=("www.example.com",),
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
    )
    assert info.not_after.tzinfo is not None
    assert info.not_after.utcoffset() == timedelta(0)
    assert len(info.fingerprint_sha256) == 64


def test_certificates_accepts_chain_inside_cert_pem(
    leaf: x509.Certificate,
    leaf_key: ec.EllipticCurvePrivateKey,
    intermediate: Authority,
    root: Authority,
) -> None:
    fullchain = _pem(leaf, intermediate.cert, root.cert)
    info = check_certificate(fullchain, _key_pem(leaf_key), None, HOSTS, now=NOW)
    assert info.subject == "CN=www.example.com"


def test_certificates_accepts_leaf_alone_and_empty_chain(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    for chain in (None, "", "  \n"):
        info = check_certificate(_pem(leaf), _key_pem(leaf_key), chain, HOSTS, now=NOW)
        assert info.names == ("www.example.com",)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_certificates_accepts_rsa_and_ed25519_keys(kind: str, intermediate: Authority) -> None:
    key: SigningKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    leaf = _issue("www.example.com", key, intermediate, sans=("www.example.com",))
    info = check_certificate(_pem(leaf), _key_pem(key), _pem(intermediate.cert), HOSTS, now=NOW)
    assert info.names == ("www.example.com",)


def test_certificates_names_are_lower_case_sans_or_else_the_cn(intermediate: Authority) -> None:
    key = _ec_key()
    with_sans = _issue(
        "ignored.example", key, intermediate, sans=("WWW.Example.COM", "example.com")
    )
    info = check_certificate(_pem(with_sans), _key_pem(key), None, [], now=NOW)
    assert info.names == ("www.example.com", "example.com")
    cn_only = _issue("Legacy.Example.com", key, intermediate)
    info = check_certificate(_pem(cn_only), _key_pem(key), None, ["legacy.example.com"], now=NOW)
    assert info.names == ("legacy.example.com",)


def test_certificates_rejects_mismatched_key(leaf: x509.Certificate) -> None:
    error = _rejected("key_mismatch", _pem(leaf), _key_pem(_ec_key()), None, HOSTS, now=NOW)
    assert "does not belong" in error.message


def test_certificates_rejects_expired(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    key_pem = _key_pem(leaf_key)
    later = NOT_AFTER + timedelta(seconds=1)
    error = _rejected("certificate_expired", _pem(leaf), key_pem, None, HOSTS, now=later)
    assert NOT_AFTER.isoformat() in error.message
    # The last second of validity is still valid.
    check_certificate(_pem(leaf), key_pem, None, HOSTS, now=NOT_AFTER)


def test_certificates_rejects_expired_against_the_clock(intermediate: Authority) -> None:
    key = _ec_key()
    end = datetime.now(UTC) - timedelta(days=1)
    start = end - timedelta(days=90)
    old = _issue(
        "www.example.com", key, intermediate, sans=tuple(HOSTS), not_before=start, not_after=end
    )
    _rejected("certificate_expired", _pem(old), _key_pem(key), None, HOSTS)


def test_certificates_rejects_not_yet_valid(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    earlier = NOT_BEFORE - timedelta(seconds=1)
    error = _rejected(
        "certificate_not_yet_valid", _pem(leaf), _key_pem(leaf_key), None, HOSTS, now=earlier
    )
    assert NOT_BEFORE.isoformat() in error.message


def test_certificates_rejects_names_that_do_not_cover(intermediate: Authority) -> None:
    key = _ec_key()
    cert = _issue("example.com", key, intermediate, sans=("example.com", "*.example.com"))
    hosts = ["www.example.com", "a.b.example.com", "example.com", "other.test"]
    error = _rejected("names_do_not_cover", _pem(cert), _key_pem(key), None, hosts, now=NOW)
    assert "a.b.example.com" in error.message
    assert "other.test" in error.message
    assert error.details["missing"] == ["a.b.example.com", "other.test"]


@pytest.mark.parametrize(
    ("names", "hostname", "expected"),
    [
        (("www.example.com",), "www.example.com", True),
        (("www.example.com",), "WWW.Example.com.", True),
        (("WWW.EXAMPLE.COM",), "www.example.com", True),
        (("www.example.com",), "example.com", False),
        (("*.example.com",), "a.example.com", True),
        (("*.example.com",), "A.Example.COM", True),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), "a.b.example.com", False),
        (("*.example.com",), ".example.com", False),
        (("*.example.com",), "a.example.org", False),
        (("*.example.com",), "*.example.com", True),  # a wildcard custom domain
        (("a.example.com",), "*.example.com", False),
        (("*.com",), "example.com", False),  # never a whole TLD
        (("a*.example.com",), "ab.example.com", False),  # partial-label wildcards are refused
        (("www.*.com",), "www.example.com", False),
        (("example.com", "*.example.com"), "example.com", True),
        ((), "example.com", False),
    ],
)
def test_certificates_covers_table(names: tuple[str, ...], hostname: str, expected: bool) -> None:
    assert covers(names, hostname) is expected


def test_certificates_rejects_chain_in_wrong_order(
    leaf: x509.Certificate,
    leaf_key: ec.EllipticCurvePrivateKey,
    intermediate: Authority,
    root: Authority,
) -> None:
    key_pem = _key_pem(leaf_key)
    wrong = _pem(root.cert, intermediate.cert)
    error = _rejected("chain_out_of_order", _pem(leaf), key_pem, wrong, HOSTS, now=NOW)
    assert "certificate 1 (CN=www.example.com)" in error.message
    reversed_fullchain = _pem(leaf, root.cert, intermediate.cert)
    _rejected("chain_out_of_order", reversed_fullchain, key_pem, None, HOSTS, now=NOW)


def test_certificates_rejects_chain_with_same_name_but_other_key(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey, root: Authority
) -> None:
    # Same subject as the real intermediate, so only the signature check can tell them apart.
    impostor = _issue("Wharf Test Intermediate", _ec_key(), root, ca=True)
    chain = _pem(impostor, root.cert)
    _rejected("chain_out_of_order", _pem(leaf), _key_pem(leaf_key), chain, HOSTS, now=NOW)


@pytest.mark.parametrize(
    "cert_pem",
    [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    ],
)
def test_certificates_rejects_garbage_certificate(
    cert_pem: str, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    _rejected("invalid_certificate", cert_pem, _key_pem(leaf_key), None, HOSTS, now=NOW)


def test_certificates_rejects_garbage_chain(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    error = _rejected(
        "invalid_certificate", _pem(leaf), _key_pem(leaf_key), "garbage", HOSTS, now=NOW
    )
    assert "chain" in error.message


def test_certificates_rejects_garbage_key(leaf: x509.Certificate) -> None:
    for key_pem in ("", "garbage", _pem(leaf), "-----BEGIN PRIVATE KEY-----\nAAAA\n"):
        _rejected("invalid_key", _pem(leaf), key_pem, None, HOSTS, now=NOW)


def test_certificates_rejects_encrypted_key(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    encrypted = _key_pem(leaf_key, password=b"correct horse")
    error = _rejected("invalid_key", _pem(leaf), encrypted, None, HOSTS, now=NOW)
    assert "encrypted" in error.message


def test_certificates_rejects_key_types_traefik_cannot_serve(leaf: x509.Certificate) -> None:
    key_pem = _key_pem(x25519.X25519PrivateKey.generate())
    _rejected("invalid_key", _pem(leaf), key_pem, None, HOSTS, now=NOW)


def _key_fragments(key_pem: str) -> list[str]:
    """The key's base64 lines, and the whole body without line breaks."""
    lines = [line for line in key_pem.splitlines() if line and not line.startswith("-----")]
    return [*lines, "".join(lines)]


def test_certificates_never_put_the_key_in_messages(
    leaf: x509.Certificate,
    leaf_key: ec.EllipticCurvePrivateKey,
    intermediate: Authority,
    root: Authority,
) -> None:
    key_pem = _key_pem(leaf_key)
    other_key_pem = _key_pem(_ec_key())
    failures = [
        (_pem(leaf), other_key_pem, None, HOSTS, NOW),  # key_mismatch
        (_pem(leaf), key_pem, None, HOSTS, NOT_AFTER + timedelta(days=1)),  # expired
        (_pem(leaf), key_pem, None, ["other.test"], NOW),  # names_do_not_cover
        (_pem(leaf), key_pem, _pem(root.cert, intermediate.cert), HOSTS, NOW),  # chain
        (_pem(leaf) + key_pem, key_pem, None, HOSTS, NOW),  # the key pasted into cert_pem
        (_pem(leaf), key_pem[:-40], None, HOSTS, NOW),  # a truncated key
    ]
    for cert_pem, given_key, chain_pem, hosts, now in failures:
        with pytest.raises(Invalid) as caught:
            check_certificate(cert_pem, given_key, chain_pem, hosts, now=now)
        error = caught.value
        shown = f"{error.message}\n{error}\n{error.details!r}\n{error.__cause__!r}"
        for fragment in _key_fragments(key_pem) + _key_fragments(other_key_pem):
            assert fragment not in shown, error.code


def test_certificates_refuse_a_private_key_inside_cert_pem(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    key_pem = _key_pem(leaf_key)
    error = _rejected("invalid_certificate", _pem(leaf) + key_pem, key_pem, None, HOSTS, now=NOW)
    assert "private key" in error.message


def test_certificates_expiry_seconds(
    leaf: x509.Certificate, leaf_key: ec.EllipticCurvePrivateKey
) -> None:
    info = check_certificate(_pem(leaf), _key_pem(leaf_key), None, HOSTS, now=NOW)
    assert expiry_seconds(info, NOT_AFTER - timedelta(hours=1)) == 3600.0
    assert expiry_seconds(info, NOT_AFTER + timedelta(seconds=5)) == -5.0
    assert expiry_seconds(info, NOW.replace(tzinfo=None)) == (NOT_AFTER - NOW).total_seconds()
    from_clock = (NOT_AFTER - datetime.now(UTC)).total_seconds()
    assert abs(expiry_seconds(info) - from_clock) < 60
