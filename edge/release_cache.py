"""Releases on disk as the edge sees them: the live symlink, the manifest index, cached bytes."""

from __future__ import annotations

import json
import os
import re
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from edge.rule_engine import SiteRules

# What the control plane writes: ../../releases/<site>/<deploy id>.
_LIVE_TARGET = re.compile(r"\.\./\.\./releases/([a-z0-9-]{1,63})/([a-z0-9]{12})")
_DEPLOY_ID = re.compile(r"[a-z0-9]{12}")
VARIANTS = (("br", ".br"), ("gzip", ".gz"))


@dataclass(frozen=True)
class FileInfo:
    """One servable file of a release."""

    path: str  # relative, as in the manifest
    size: int
    etag: str
    content_type: str
    variants: tuple[tuple[str, str, int], ...]  # (encoding, relative path, size)


@dataclass
class Release:
    """A loaded release: its id, file index, compiled rules and build time."""

    deploy_id: str
    root: Path  # the release directory; files live under root/site
    files: dict[str, FileInfo]
    rules: SiteRules
    last_modified: str
    site_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.site_dir = self.root / "site"


# Plain strings on this path: pathlib joins cost more than the readlink itself.
def live_release_dir(data_dir: str, site: str, environment: str) -> str | None:
    """The release the environment's live symlink names, read with one readlink."""
    try:
        target = os.readlink(f"{data_dir}/live/{site}/{environment}")
    except OSError:
        return None
    match = _LIVE_TARGET.fullmatch(target)
    # Only links of the shape the control plane writes are followed, and only for their site.
    if match is None or match[1] != site:
        return None
    return f"{data_dir}/releases/{site}/{match[2]}"


def preview_release_dir(data_dir: str, site: str, deploy_id: str) -> str | None:
    """A deploy's release directory, if it was installed."""
    if not _DEPLOY_ID.fullmatch(deploy_id):
        return None
    path = f"{data_dir}/releases/{site}/{deploy_id}"
    return path if os.path.isdir(path) else None


def load_release(root: Path) -> Release:
    """Read a release's manifest and rules, and find its precompressed variants."""
    manifest = json.loads((root / "manifest.json").read_text())
    try:
        rules_document: dict[str, Any] = json.loads((root / "rules.json").read_text())
    except FileNotFoundError:
        rules_document = {"version": 1, "redirects": [], "headers": []}
    site_dir = root / "site"
    present = _regular_files(site_dir)
    files: dict[str, FileInfo] = {}
    for entry in manifest["files"]:
        path = entry["path"]
        if path not in present:
            continue  # listed but not a plain file inside the release (a symlink): never served
        variants = tuple(
            (encoding, path + suffix, present[path + suffix])
            for encoding, suffix in VARIANTS
            if path + suffix in present
        )
        files[path] = FileInfo(
            path=path,
            size=int(entry["size"]),
            etag='"' + entry["sha256"][:32] + '"',
            content_type=entry["content_type"],
            variants=variants,
        )
    built = os.stat(root / "manifest.json").st_mtime
    return Release(
        deploy_id=root.name,
        root=root,
        files=files,
        rules=SiteRules.from_document(rules_document),
        last_modified=formatdate(built, usegmt=True),
    )


def _regular_files(site_dir: Path) -> dict[str, int]:
    """Every regular file reachable without following a symlink, with its size.

    Symlinked folders are not entered and symlinked files are left out, so nothing a link
    points at (inside or outside the release) can ever be served.
    """
    found: dict[str, int] = {}
    for folder, _, names in os.walk(site_dir, followlinks=False):
        relative = os.path.relpath(folder, site_dir)
        prefix = "" if relative == "." else relative + "/"
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(info.st_mode):
                found[prefix + name] = info.st_size
    return found


class ReleaseCache:
    """Loaded releases by directory, and small file contents, both bounded (LRU)."""

    def __init__(
        self, max_releases: int = 64, max_bytes: int = 32 << 20, max_file: int = 256 << 10
    ):
        self.max_releases = max_releases
        self.max_bytes = max_bytes
        self.max_file = max_file
        self._releases: OrderedDict[str, Release] = OrderedDict()
        self._bytes: OrderedDict[tuple[Path, str], bytes] = OrderedDict()
        self._bytes_total = 0

    def release(self, root: str) -> Release | None:
        """The loaded release at root (keyed by the resolved directory, never the live link)."""
        found = self._releases.get(root)
        if found is not None:
            self._releases.move_to_end(root)
            return found
        try:
            found = load_release(Path(root))
        except (OSError, ValueError, KeyError):
            return None
        self._releases[root] = found
        if len(self._releases) > self.max_releases:
            _, old = self._releases.popitem(last=False)
            self._drop_bytes_of(old.root)
        return found

    def content(self, release: Release, relative: str, size: int) -> bytes | None:
        """A small file's bytes from memory (read once); None for files too big to keep."""
        if size > self.max_file:
            return None
        key = (release.root, relative)
        data = self._bytes.get(key)
        if data is not None:
            self._bytes.move_to_end(key)
            return data
        fd = os.open(release.site_dir / relative, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(size + 1)
        if len(data) != size:
            raise OSError(f"{relative} changed size under a release")
        self._bytes[key] = data
        self._bytes_total += size
        while self._bytes_total > self.max_bytes and self._bytes:
            _, dropped = self._bytes.popitem(last=False)
            self._bytes_total -= len(dropped)
        return data

    def _drop_bytes_of(self, root: Path) -> None:
        for key in [key for key in self._bytes if key[0] == root]:
            self._bytes_total -= len(self._bytes.pop(key))
