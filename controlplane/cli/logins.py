"""Logins the CLI keeps: one API token per control-plane URL, in the user's config folder
(`$XDG_CONFIG_HOME/wharf/logins.json`, mode 0600), never a password. WHARF_URL and WHARF_TOKEN
win over it, for CI."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from controlplane.atomic import write_atomically

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Login:
    """A stored login: the token (its id, to revoke it) and whose it is."""

    url: str
    token: str
    token_id: int
    email: str


def logins_file() -> Path:
    """Where the logins are kept (platformdirs follows XDG_CONFIG_HOME)."""
    return platformdirs.user_config_path("wharf") / "logins.json"


def _read() -> dict[str, Any]:
    try:
        document = json.loads(logins_file().read_text())
    except (OSError, ValueError):
        return {"current": None, "logins": {}}
    if not isinstance(document, dict) or not isinstance(document.get("logins"), dict):
        return {"current": None, "logins": {}}
    return document


def _write(document: dict[str, Any]) -> None:
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, json.dumps(document, indent=2) + "\n", mode=0o600)


def normal_url(url: str) -> str:
    """One spelling of a control plane's URL (no trailing slash)."""
    return url.strip().rstrip("/")


def chosen_url(given: str | None) -> str:
    """--url, else WHARF_URL, else the URL logged in to last, else the local default."""
    url = given or os.environ.get("WHARF_URL") or _read().get("current") or DEFAULT_URL
    return normal_url(url)


def stored(url: str) -> Login | None:
    """The login kept for this URL."""
    entry = _read()["logins"].get(normal_url(url))
    try:
        return Login(normal_url(url), entry["token"], int(entry["token_id"]), entry["email"])
    except (KeyError, TypeError, ValueError):
        return None


def remember(login: Login) -> None:
    """Keep a login (replacing this URL's) and make its URL the current one."""
    document = _read()
    document["logins"][login.url] = {
        "token": login.token,
        "token_id": login.token_id,
        "email": login.email,
    }
    document["current"] = login.url
    _write(document)


def forget(url: str) -> None:
    """Drop this URL's login."""
    document = _read()
    document["logins"].pop(normal_url(url), None)
    if document.get("current") == normal_url(url):
        document["current"] = next(iter(document["logins"]), None)
    _write(document)
