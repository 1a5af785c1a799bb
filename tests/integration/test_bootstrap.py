"""The first admin: created once, with a generated password kept privately for the banner."""

from __future__ import annotations

from controlplane.accounts.account_service import Accounts
from controlplane.accounts.first_admin import ensure_first_admin
from controlplane.config import Settings
from controlplane.secrets import Secret
from controlplane.store import Store


def _accounts(store: Store) -> Accounts:
    return Accounts(store, b"k" * 32, access_token_ttl=60, max_failures=5, failure_window=300)


async def test_bootstrap_generates_password_once_and_keeps_it(
    store: Store, settings: Settings
) -> None:
    accounts = _accounts(store)
    password = await ensure_first_admin(accounts, settings)
    assert password and len(password) >= 12
    kept = settings.layout.initial_admin_password
    assert kept.stat().st_mode & 0o777 == 0o600
    # A second start creates nobody and shows the same login.
    assert await ensure_first_admin(accounts, settings) == password
    users = await store.list_users()
    assert [(u.email, u.role) for u in users] == [("admin@localhost", "admin")]
    assert await accounts.login("admin@localhost", password, "127.0.0.1")


async def test_bootstrap_shows_nothing_when_users_exist(store: Store, settings: Settings) -> None:
    accounts = _accounts(store)
    await accounts.create_user(None, "first@x.test", "first-password", "admin")
    assert await ensure_first_admin(accounts, settings) is None
    assert len(await store.list_users()) == 1


async def test_bootstrap_uses_the_given_password(store: Store, settings: Settings) -> None:
    given = settings.replace(admin_password=Secret("given-password"), admin_email="ops@x.test")
    assert await ensure_first_admin(_accounts(store), given) is None  # never echoed
    assert not (settings.layout.initial_admin_password).exists()
    assert await _accounts(store).login("ops@x.test", "given-password", "127.0.0.1")
