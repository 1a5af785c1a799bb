"""Canary splits at the edge: the split file beside a live link, the visitor's cookie, the draw."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from dataclasses import dataclass

# live/<site>/<environment>.canary.json, beside the live link it splits (the control plane's
# controlplane/deploys/release_files.py writes it; a test keeps the two names equal).
SPLIT_SUFFIX = ".canary.json"
COOKIE = "wharf_release"
_COOKIE_PREFIX = COOKIE + "="
# A day: longer than a visit and than a comparison window, so a visitor stays put; short enough
# that lowering a canary's weight reaches the visitors held on it within a day (clearing the
# split reaches them at once: the cookie then counts for nothing).
COOKIE_MAX_AGE = 86_400
STABLE, CANARY = "stable", "canary"
# How often a worker looks at a target's split file: a split starts or ends within this, and
# the stat (about 2 µs, most often of a file that is not there) stays off the per-request path.
RECHECK_SECONDS = 0.05
_DEPLOY_ID = re.compile(r"[a-z0-9]{12}")
_MAX_SPLIT_BYTES = 4096
_MAX_TARGETS = 10_000


@dataclass(slots=True)
class Split:
    """A canary in force for one live target: its deploy, its share and its release directory."""

    deploy: str
    percent: int
    root: str
    loaded: bool = False  # the responder loaded its release once: it can serve


@dataclass(slots=True)
class _Known:
    """What a worker last saw of one target's split file."""

    checked: float
    stamp: tuple[int, int, int] | None
    split: Split | None


def parse_split(document: object) -> tuple[str, int] | None:
    """(canary deploy id, percent) from a split file's document; None when it is malformed."""
    if not isinstance(document, dict) or document.get("version") != 1:
        return None
    deploy, percent = document.get("deploy"), document.get("percent")
    if not isinstance(deploy, str) or not _DEPLOY_ID.fullmatch(deploy):
        return None
    if type(percent) is not int or not 1 <= percent <= 99:
        return None
    return deploy, percent


class Splits:
    """Each live target's split, from its file, looked at no more than every 50 ms."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._known: dict[tuple[str, str], _Known] = {}
        # Seeded from the OS in each worker (this runs after the fork), so workers draw apart.
        # Not secret: a visitor may choose either release with the cookie anyway.
        self._random = random.Random(os.urandom(32))

    def of(self, site: str, environment: str) -> Split | None:
        """The split in force for a live target, if any (a dict lookup on most requests)."""
        known = self._known.get((site, environment))
        now = time.monotonic()
        if known is not None and now - known.checked < RECHECK_SECONDS:
            return known.split
        return self._look(site, environment, known, now)

    def draw(self, percent: int) -> bool:
        """Whether a new visitor goes to the canary: true percent times in a hundred."""
        return self._random.random() * 100 < percent

    def broken(self, site: str, environment: str) -> None:
        """Ignore a target's split until its file changes (its canary release cannot load)."""
        known = self._known.get((site, environment))
        if known is not None:
            known.split = None

    def _look(self, site: str, environment: str, known: _Known | None, now: float) -> Split | None:
        path = f"{self.data_dir}/live/{site}/{environment}{SPLIT_SUFFIX}"
        try:
            info = os.stat(path, follow_symlinks=False)
            stamp: tuple[int, int, int] | None = (info.st_mtime_ns, info.st_ino, info.st_size)
        except OSError:
            stamp = None
        if known is not None and stamp == known.stamp:
            known.checked = now
            return known.split
        split = self._read(path, site) if stamp is not None else None
        if len(self._known) >= _MAX_TARGETS:
            self._known.clear()  # only live targets get here; this bounds memory regardless
        self._known[(site, environment)] = _Known(now, stamp, split)
        return split

    def _read(self, path: str, site: str) -> Split | None:
        """The split a file names, if well formed and its canary release is installed."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with contextlib.closing(os.fdopen(fd, "rb")) as handle:
            raw = handle.read(_MAX_SPLIT_BYTES + 1)
        try:
            parsed = parse_split(json.loads(raw)) if len(raw) <= _MAX_SPLIT_BYTES else None
        except ValueError:
            parsed = None
        if parsed is None:
            return None
        root = f"{self.data_dir}/releases/{site}/{parsed[0]}"
        if not os.path.isfile(f"{root}/manifest.json"):
            return None  # a split naming a release that is not (or no longer) there is ignored
        return Split(parsed[0], parsed[1], root)


def cookie_release(header: str, stable: str, canary: str) -> str | None:
    """The release the visitor's cookie names, when it is one of the two in force."""
    # Slices and finds rather than a split of every cookie: this runs on each request while
    # split. Deploy ids are 12 characters, so the value is a fixed slice after the name.
    start = header.find(_COOKIE_PREFIX)
    while start >= 0:
        end = start + len(_COOKIE_PREFIX)
        value = header[end : end + 12]
        if (
            value in (stable, canary)
            and (start == 0 or header[start - 1] in "; ")
            and header[end + 12 : end + 13] in ("", ";", " ")
        ):
            return value
        start = header.find(_COOKIE_PREFIX, end)
    return None


def set_cookie(deploy: str) -> str:
    """The Set-Cookie value that keeps a visitor on a release (host-only: no Domain)."""
    return f"{COOKIE}={deploy}; Max-Age={COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax"


def private_cache_control(value: str) -> str:
    """A Cache-Control value no shared cache may store (`public` and `s-maxage` dropped)."""
    kept = [
        directive
        for directive in (part.strip() for part in value.split(","))
        if directive
        and directive.lower() != "public"
        and not directive.lower().startswith("s-maxage")
    ]
    if any(directive.lower() in ("private", "no-store") for directive in kept):
        return ", ".join(kept)
    return ", ".join(["private", *kept])
