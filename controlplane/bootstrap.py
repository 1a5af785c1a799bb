"""First start: make sure an admin exists and know which login to print."""

from __future__ import annotations

import os
from pathlib import Path

from controlplane.accounts import Accounts
from controlplane.config import Settings

INITIAL_PASSWORD_FILE = "initial_admin_password"


def _keep_password(path: Path, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")


async def ensure_first_admin(accounts: Accounts, settings: Settings) -> str | None:
    """Create the first admin if there is no user; return the password to show, if known."""
    given = settings.admin_password.reveal() if settings.admin_password else None
    kept = settings.data_dir / INITIAL_PASSWORD_FILE
    generated = await accounts.ensure_admin(settings.admin_email, given)
    if generated:
        # Kept (0600) so that later starts can print the login again, as the quick start promises.
        _keep_password(kept, generated)
        return generated
    if given:
        return given
    return kept.read_text().strip() if kept.exists() else None
