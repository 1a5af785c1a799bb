"""Certificates for tests: a CA, leaves for some names, PEM text of certificates and keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Authority:
    """A CA certificate and the key it signs with."""

    cert: x509.Certificate
    key: SigningKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    subject: str,
    key: SigningKey,
    issuer: Authority | None,
    *,
    sans: tuple[str, ...] | None = None,
    ca: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """A certificate for key, signed by issuer (or by key itself when issuer is None)."""
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(days=1)
    not_after = not_after or now + timedelta(days=90)
    signer_name = issuer.cert.subject if issuer else _name(subject)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans is not None:
        names = [x509.DNSName(name) for name in sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    # Ed25519 signs the whole message itself; the others take a hash.
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer_key, algorithm)


def pem(*certs: x509.Certificate) -> str:
    return "".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certs)


def key_pem(key: SigningKey | x25519.X25519PrivateKey, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def self_signed(*names: str, days: int = 90) -> tuple[str, str, x509.Certificate]:
    """(certificate PEM, key PEM, certificate) of a self-signed leaf for names."""
    key = ec_key()
    now = datetime.now(UTC)
    cert = issue(names[0], key, None, sans=names, not_after=now + timedelta(days=days))
    return pem(cert), key_pem(key), cert
