"""Secret values that never print, and the install's secret key with the keys derived from it."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from controlplane.layout import DataLayout


class Secret:
    """A string whose repr and str hide the value; call reveal() where it is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The hidden value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


def load_or_create_secret_key(data_dir: Path) -> Secret:
    """Read <data_dir>/secret_key, creating it (mode 0600, never overwritten) on first use."""
    path = DataLayout(data_dir).secret_key
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a temp file, then hard-linked into place: link() fails if another
        # process won the race, so every process ends up with the same, complete key.
        fd, temp_name = tempfile.mkstemp(dir=data_dir, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(temp_name, path)
        finally:
            os.unlink(temp_name)
    return Secret(path.read_text().strip())


def derive_key(secret_key: Secret, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose (JWT signing, cookie signing, encryption), derived with HKDF."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=f"wharf:{purpose}".encode()
    ).derive(secret_key.reveal().encode())


class SecretBox:
    """Encrypts secrets kept in the database (private keys) with a key derived for that purpose."""

    def __init__(self, secret_key: Secret, purpose: str = "database-secrets") -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, purpose)))

    def seal(self, secret: Secret) -> str:
        """The secret encrypted and authenticated (a Fernet token)."""
        return self._fernet.encrypt(secret.reveal().encode()).decode("ascii")

    def open(self, token: str) -> Secret:
        """The secret back; ValueError when the token was not sealed with this install's key."""
        try:
            return Secret(self._fernet.decrypt(token.encode("ascii")).decode())
        except (InvalidToken, UnicodeError):
            raise ValueError("a stored secret cannot be decrypted with this secret key") from None
