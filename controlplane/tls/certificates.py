"""Uploaded TLS certificates for the custom strategy: parse, then check key, dates, names, chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from controlplane.errors import Invalid

_PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
# The key types Traefik (Go's crypto/tls) can serve; anything else would fail only at load time.
_SUPPORTED_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class CertificateInfo:
    """What Wharf shows and schedules from an accepted certificate (its leaf)."""

    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    names: tuple[str, ...]  # DNS SANs in lower case, or the CN when there are none
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC
    fingerprint_sha256: str  # lower-case hex, no separators


def _utc(now: datetime | None) -> datetime:
    """Now, or the given moment as an aware UTC datetime (a naive one is taken as UTC)."""
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _load_certificates(pem: str, what: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; Invalid when it holds none or a private key."""
    # A key pasted with the certificate would be stored and shown as if it were public.
    if "PRIVATE KEY-----" in pem:
        raise Invalid(
            f"the {what} holds a private key; upload the key on its own",
            code="invalid_certificate",
        )
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8", "replace"))
    except ValueError:
        raise Invalid(
            f"the {what} is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
            code="invalid_certificate",
        ) from None


def _load_key(key_pem: str) -> _PrivateKey:
    """The private key of a PEM text; Invalid (never quoting the text) when it is not usable."""
    # Messages are fixed strings and the cause is dropped: parser errors must not echo key bytes.
    try:
        key = serialization.load_pem_private_key(key_pem.encode("utf-8", "replace"), password=None)
    except TypeError:
        raise Invalid(
            "the key is encrypted; upload it without a passphrase", code="invalid_key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise Invalid(
            "the key is not a PEM private key (-----BEGIN PRIVATE KEY-----)", code="invalid_key"
        ) from None
    if not isinstance(key, _SUPPORTED_KEYS):
        raise Invalid("the key is not an RSA, EC or Ed25519 key", code="invalid_key")
    return key


def _names(leaf: x509.Certificate) -> tuple[str, ...]:
    """The leaf's DNS SANs in lower case, else its common names."""
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    if dns:
        return tuple(name.lower() for name in dns)
    common = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return tuple(attr.value.lower() for attr in common if isinstance(attr.value, str))


def _info(leaf: x509.Certificate) -> CertificateInfo:
    """The leaf's fields; Invalid when a field cannot be decoded."""
    try:
        return CertificateInfo(
            subject=leaf.subject.rfc4514_string(),
            issuer=leaf.issuer.rfc4514_string(),
            names=_names(leaf),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
        )
    except ValueError:
        raise Invalid(
            "the certificate has fields that cannot be decoded", code="invalid_certificate"
        ) from None


def _check_key(leaf: x509.Certificate, key: _PrivateKey) -> None:
    """Invalid unless the key's public half is the one in the leaf."""
    try:
        leaf_public = leaf.public_key().public_bytes(*_SPKI)
    except (ValueError, UnsupportedAlgorithm):
        raise Invalid(
            "the certificate's public key is of an unsupported type", code="invalid_certificate"
        ) from None
    if key.public_key().public_bytes(*_SPKI) != leaf_public:
        raise Invalid("the key does not belong to the certificate", code="key_mismatch")


def _check_dates(info: CertificateInfo, now: datetime) -> None:
    """Invalid when the certificate has expired or is not valid yet."""
    if info.not_after < now:
        raise Invalid(
            f"the certificate expired at {info.not_after.isoformat()}", code="certificate_expired"
        )
    if info.not_before > now:
        raise Invalid(
            f"the certificate is valid only from {info.not_before.isoformat()}",
            code="certificate_not_yet_valid",
        )


def _check_chain(certificates: list[x509.Certificate]) -> None:
    """Invalid unless each certificate is issued (name and signature) by the next one."""
    for position, (child, parent) in enumerate(pairwise(certificates), start=1):
        try:
            # Checks the issuer name against the parent's subject, then the signature.
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise Invalid(
                f"certificate {position} ({child.subject.rfc4514_string()}) is not issued by "
                f"certificate {position + 1} ({parent.subject.rfc4514_string()}); "
                "list the leaf first, then each certificate's issuer",
                code="chain_out_of_order",
            ) from None


def covers(names: tuple[str, ...], hostname: str) -> bool:
    """Whether a certificate name list covers a hostname (one-label wildcards, RFC 6125)."""
    host = hostname.rstrip(".").lower()
    host_first, _, host_rest = host.partition(".")
    for raw in names:
        name = raw.rstrip(".").lower()
        if name == host:
            return True
        first, _, rest = name.partition(".")
        # "*" stands for exactly one whole label, and never for a label right under a TLD.
        if first == "*" and "." in rest and host_first and rest == host_rest:
            return True
    return False


def expiry_seconds(info: CertificateInfo, now: datetime | None = None) -> float:
    """Seconds until the certificate expires; negative once it has."""
    return (info.not_after - _utc(now)).total_seconds()


def check_certificate(
    cert_pem: str,
    key_pem: str,
    chain_pem: str | None,
    hostnames: list[str],
    now: datetime | None = None,
) -> CertificateInfo:
    """Check a certificate, its chain and key for the hostnames; Invalid with a reason otherwise."""
    # cert_pem may be a "fullchain" file: the leaf, then its issuers.
    leaf, *chain = _load_certificates(cert_pem, "certificate")
    if chain_pem and chain_pem.strip():
        chain += _load_certificates(chain_pem, "chain")
    key = _load_key(key_pem)
    info = _info(leaf)
    _check_key(leaf, key)
    _check_dates(info, _utc(now))
    missing = [host for host in hostnames if not covers(info.names, host)]
    if missing:
        raise Invalid(
            f"the certificate does not cover {', '.join(missing)} "
            f"(it names {', '.join(info.names) or 'no host'})",
            code="names_do_not_cover",
            details={"missing": missing, "names": list(info.names)},
        )
    _check_chain([leaf, *chain])
    return info
