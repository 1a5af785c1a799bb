"""A real OpenID Connect provider (npm oidc-provider 9, oidc/provider.mjs) as a child process.

Sign-in goes through oidc-provider's development interactions: a login form with the fields
`login` (the account id, e.g. "alice") and `password` (anything), button "Sign-in", then a
consent form with the button "Continue"; each page has a "[ Cancel ]" link that ends the flow
with `error=access_denied`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.harness.control_plane import stop
from tests.harness.ports import free_port
from tests.harness.waiting import tail

FOLDER = Path(__file__).parent / "oidc"
SCRIPT = FOLDER / "provider.mjs"
READY = b"oidc-provider ready "
START_TIMEOUT = 30.0

ALICE = "alice"
MALLORY = "mallory"
ACCOUNTS: Mapping[str, Mapping[str, Any]] = {
    ALICE: {"email": "alice@example.test", "email_verified": True, "name": "Alice"},
    MALLORY: {"email": "mallory@example.test", "email_verified": False},
}


@dataclass(frozen=True)
class OidcProvider:
    """Where the provider listens and the one client registered with it."""

    issuer: str
    client_id: str
    client_secret: str

    @property
    def discovery_url(self) -> str:
        """The provider's OpenID configuration document."""
        return f"{self.issuer}/.well-known/openid-configuration"


def require_node() -> None:
    """Skip the calling test, saying why, when `node` or `npm` is not on PATH."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not on PATH: the OpenID provider tests need Node.js 20+")


def _installed_version() -> str | None:
    """The oidc-provider version in node_modules, or None when it is not installed."""
    manifest = FOLDER / "node_modules" / "oidc-provider" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _pinned_version() -> str:
    """The exact oidc-provider version package.json pins."""
    return str(json.loads((FOLDER / "package.json").read_text())["dependencies"]["oidc-provider"])


def ensure_installed() -> None:
    """`npm ci` in the oidc folder unless node_modules holds the pinned oidc-provider."""
    require_node()
    if _installed_version() == _pinned_version():
        return
    # pytest-xdist workers may all get here at once; npm ci empties node_modules first, so one
    # installs while the others wait on the lock and then find it done.
    with (FOLDER / "package-lock.json").open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != _pinned_version():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=FOLDER,
                check=True,
                capture_output=True,
                timeout=300,
            )


@contextlib.asynccontextmanager
async def oidc_provider(
    redirect_uris: list[str],
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    id_token_claims: bool = True,
    log: Path | None = None,
) -> AsyncIterator[OidcProvider]:
    """oidc-provider on a free loopback port with one confidential client for redirect_uris
    (client_secret_basic or client_secret_post, both accepted) and the accounts (default
    ACCOUNTS); stopped on exit. id_token_claims=False leaves email and name to UserInfo (Core
    1.0 §5.4). Its stderr goes to log (or a temp file), printed when the block fails."""
    await asyncio.to_thread(ensure_installed)
    port = free_port()
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}",
        client_id="wharf-" + secrets.token_hex(4),
        client_secret=secrets.token_urlsafe(24),
    )
    config = {
        "port": port,
        "client": {
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "redirect_uris": redirect_uris,
        },
        "accounts": dict(ACCOUNTS if accounts is None else accounts),
        "id_token_claims": id_token_claims,
    }
    with contextlib.ExitStack() as files:
        if log is None:
            folder = files.enter_context(tempfile.TemporaryDirectory(prefix="oidc-"))
            log = Path(folder) / "oidc-provider.log"
        with log.open("ab") as stderr:
            # The config goes in the environment, not argv: it holds the client secret.
            process = await asyncio.create_subprocess_exec(
                "node",
                str(SCRIPT),
                cwd=FOLDER,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=_node_environment(json.dumps(config)),
            )
        try:
            await _wait_ready(process, log)
            yield provider
        except Exception:
            print(f"oidc-provider log:\n{tail(log)}")  # pytest shows it with the failure
            raise
        finally:
            await stop(process)


def _node_environment(config: str) -> dict[str, str]:
    """PATH and the config for node; nothing else of the test's environment leaks in."""
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME")}
    return keep | {"WHARF_TEST_OIDC_CONFIG": config, "NODE_ENV": "test"}


async def _wait_ready(process: asyncio.subprocess.Process, log: Path) -> None:
    """Return once provider.mjs printed its ready line; fail with its output otherwise."""
    assert process.stdout is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while line := await process.stdout.readline():
                if line.startswith(READY):
                    return
                seen.append(line)
    except TimeoutError:
        problem = f"not ready within {START_TIMEOUT} s"
    else:
        problem = f"exited early ({await process.wait()})"
    stdout = b"".join(seen).decode(errors="replace")
    raise AssertionError(f"oidc-provider {problem}\nstdout:\n{stdout}\nstderr:\n{tail(log)}")


_FORM = re.compile(
    r'<form[^>]* action="([^"]+)"[^>]*>\s*<input type="hidden" name="prompt" value="(\w+)"'
)
_CANCEL = re.compile(r'<a href="([^"]+)">\[ Cancel \]</a>')


async def sign_in(authorize_url: str, login: str, *, consent: bool = True) -> str:
    """What a person does on the dev interaction pages: sign in as login (any password), press
    "Continue" on the consent page (or "[ Cancel ]" when consent=False); returns the redirect
    back to the client (code, state and iss, or an error)."""
    # unsafe=True: aiohttp's cookie jar drops cookies from IP-address hosts like 127.0.0.1.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        issuer = URL(authorize_url).origin()
        url, method, data = URL(authorize_url), "GET", None
        for _ in range(12):
            async with session.request(method, url, data=data, allow_redirects=False) as answer:
                text = await answer.text()
                if answer.status in (302, 303):
                    target = url.join(URL(answer.headers["Location"]))
                    if target.origin() != issuer:
                        return str(target)
                    url, method, data = target, "GET", None
                    continue
                assert answer.status == 200, f"{answer.status} at {url}: {text[-2000:]}"
            form = _FORM.search(text)
            assert form is not None, f"no interaction form at {url}: {text[-2000:]}"
            action, prompt = URL(html.unescape(form[1])), form[2]
            if prompt == "login":
                method, data = "POST", {"prompt": "login", "login": login, "password": "any"}
            elif consent:
                method, data = "POST", {"prompt": "consent"}
            else:
                cancel = _CANCEL.search(text)
                assert cancel is not None, f"no Cancel link at {url}"
                action, method, data = URL(html.unescape(cancel[1])), "GET", None
            url = action
        raise AssertionError(f"no redirect back to the client after 12 steps (last: {url})")
