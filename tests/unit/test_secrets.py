"""Secret values stay hidden; the generated secret key is private and stable."""

from __future__ import annotations

from pathlib import Path

from controlplane.secrets import Secret, derive_key, load_or_create_secret_key


def test_secret_repr_hides_value() -> None:
    secret = Secret("s3cret")
    assert "s3cret" not in repr(secret)
    assert "s3cret" not in str(secret)
    assert "s3cret" not in f"{secret}"
    assert secret.reveal() == "s3cret"
    assert secret == Secret("s3cret")
    assert secret != Secret("other")


def test_secret_key_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret_key(tmp_path / "data")
    second = load_or_create_secret_key(tmp_path / "data")
    assert first == second
    assert len(first.reveal()) >= 64
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]


def test_derived_keys_differ_by_purpose() -> None:
    key = Secret("k" * 64)
    assert derive_key(key, "jwt") != derive_key(key, "cookies")
    assert len(derive_key(key, "jwt")) == 32
    assert derive_key(key, "jwt") == derive_key(Secret("k" * 64), "jwt")
