"""First start: make sure an admin exists, and know the generated login to print."""

from __future__ import annotations

import secrets

from controlplane.accounts.account_service import Accounts
from controlplane.config import Settings


async def ensure_first_admin(accounts: Accounts, settings: Settings) -> str | None:
    """Create the first admin if there is no user; return its generated password, if any."""
    if settings.admin_password:
        await accounts.ensure_admin(settings.admin_email, settings.admin_password.reveal())
        return None
    kept = settings.layout.initial_admin_password
    if kept.exists():
        return kept.read_text().strip()
    if await accounts.has_users():
        return None
    password = secrets.token_urlsafe(12)
    # Saved (0600) before the account exists, so it is never lost, and later starts show it again.
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.touch(mode=0o600)
    kept.write_text(password + "\n")
    await accounts.ensure_admin(settings.admin_email, password)
    return password
