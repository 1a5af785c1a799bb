"""Deploy files on disk: artifacts, immutable releases, live symlinks swapped atomically.

Layout under the data directory (the edge reads only `live/` and `releases/`):

    artifacts/<site>/<deploy>.zip        the upload as received
    releases/<site>/<deploy>/site/       files served; never changed once renamed in
    releases/<site>/<deploy>/manifest.json, rules.json
    live/<site>/<environment>            symlink -> ../../releases/<site>/<deploy>
    live/<site>/<environment>.canary.json  the canary split: {"version": 1, "deploy", "percent"}
    staging/                             builds in progress (renamed into releases/ when done)
    uploads/                             uploads being received
    trash/                               pruned releases renamed out of releases/, being deleted

A canary split sends `percent` (1-99) of an environment's new visitors to the `deploy` it names,
the rest to the release the live symlink names (the stable one); the edge keeps each visitor on
theirs with a cookie. It is written whole by one rename, like the symlink, and read by the edge
within 50 ms; removing it sends everyone to the stable release. The edge ignores a split whose
canary is the stable release, is not installed, or does not parse (docs/edge.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from controlplane.atomic import write_json_atomically
from controlplane.errors import Conflict, Invalid
from controlplane.layout import DataLayout
from controlplane.models import ENVIRONMENTS

# The split file beside a live link (edge/canary.py reads the same name; a test keeps them equal).
CANARY_SUFFIX = ".canary.json"
# A deploy id as the edge follows one in a live link (new ones are 12 hex characters).
_DEPLOY_ID = re.compile(r"[a-z0-9]{12}")


@dataclass(frozen=True)
class Canary:
    """A canary split in force: the deploy new visitors may be sent to, and their share."""

    deploy_id: str
    percent: int


class ReleaseFiles:
    """Paths and atomic operations on the release tree; no database, no network."""

    def __init__(self, data_dir: Path) -> None:
        layout = DataLayout(data_dir.resolve())
        self.root = layout.root
        self.artifacts = layout.artifacts
        self.releases = layout.releases
        self.live = layout.live
        self.staging = layout.staging
        self.uploads = layout.uploads
        self.trash = layout.trash

    def ensure_dirs(self) -> None:
        """Create the top-level folders."""
        folders = (self.artifacts, self.releases, self.live, self.staging, self.uploads, self.trash)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)

    def artifact_path(self, site: str, deploy_id: str) -> Path:
        """Where a deploy's uploaded ZIP is kept."""
        return self.artifacts / site / f"{deploy_id}.zip"

    def release_path(self, site: str, deploy_id: str) -> Path:
        """The directory of a finished release."""
        return self.releases / site / deploy_id

    def new_upload_path(self) -> Path:
        """A fresh path for an upload being received."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        return self.uploads / f"{secrets.token_hex(8)}.zip"

    def new_staging_dir(self, deploy_id: str) -> Path:
        """A fresh, empty directory for one build attempt."""
        self.staging.mkdir(parents=True, exist_ok=True)
        path = self.staging / f"{deploy_id}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def keep_artifact(self, upload: Path, site: str, deploy_id: str) -> Path:
        """Move a received upload to its artifact path (same filesystem: a rename)."""
        target = self.artifact_path(site, deploy_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload, target)
        return target

    def install_release(self, built: Path, site: str, deploy_id: str) -> Path:
        """Rename a finished build into releases/; the rename is what makes it complete."""
        target = self.release_path(site, deploy_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            # An earlier attempt got this far (and may be live): releases never change, so
            # the one in place stays and this build is dropped.
            remove_tree(built)
            return target
        os.rename(built, target)
        _fsync_dir(target.parent)
        return target

    def activate(self, site: str, environment: str, deploy_id: str) -> None:
        """Point the environment's live symlink at a release with one atomic rename."""
        assert environment in ENVIRONMENTS
        if not self.release_path(site, deploy_id).is_dir():
            raise FileNotFoundError(f"release {site}/{deploy_id} is not installed")
        link_dir = self.live / site
        link_dir.mkdir(parents=True, exist_ok=True)
        temp = link_dir / f".{environment}.{secrets.token_hex(4)}"
        os.symlink(f"../../releases/{site}/{deploy_id}", temp)
        os.replace(temp, link_dir / environment)
        _fsync_dir(link_dir)

    def deactivate(self, site: str, environment: str) -> None:
        """Remove an environment's live symlink, and its canary split with it."""
        with contextlib.suppress(FileNotFoundError):
            (self.live / site / environment).unlink()
        # A split left behind would come back to life with the environment's next publish.
        self.clear_canary(site, environment)

    def canary_path(self, site: str, environment: str) -> Path:
        """Where an environment's canary split is kept, beside its live symlink."""
        return self.live / site / f"{environment}{CANARY_SUFFIX}"

    def set_canary(self, site: str, environment: str, deploy_id: str, percent: int) -> None:
        """Send percent of the environment's new visitors to a release (one atomic rename).

        Call it under the site's publish lock, as a publish swaps the link: retention checks
        splits under that lock, so the release cannot be pruned between the check and the write.
        """
        if environment not in ENVIRONMENTS:
            raise Invalid(f"no environment {environment!r}", code="invalid_environment")
        if not isinstance(deploy_id, str) or not _DEPLOY_ID.fullmatch(deploy_id):
            raise Invalid(f"{deploy_id!r} is not a deploy id", code="invalid_deploy_id")
        if type(percent) is not int or not 1 <= percent <= 99:
            raise Invalid(
                "a canary takes 1 to 99 percent of visitors", code="invalid_canary_percent"
            )
        if not self.release_complete(site, deploy_id):
            raise Conflict(
                f"release {site}/{deploy_id} is not installed", code="release_not_installed"
            )
        live = self.live_deploy(site, environment)
        if live is None:
            raise Conflict(f"{site} has nothing live in {environment}", code="no_live_deploy")
        if live == deploy_id:
            raise Conflict(f"{deploy_id} is already live in {environment}", code="canary_is_live")
        document = {"version": 1, "deploy": deploy_id, "percent": percent}
        write_json_atomically(self.canary_path(site, environment), document, compact=True)
        _fsync_dir(self.live / site)

    def clear_canary(self, site: str, environment: str) -> None:
        """End an environment's canary split: every visitor gets the live release at once."""
        try:
            self.canary_path(site, environment).unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.live / site)

    def canary_of(self, site: str, environment: str) -> Canary | None:
        """The canary split in force for an environment, as the edge reads it; None if none."""
        try:
            document = json.loads(self.canary_path(site, environment).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("version") != 1:
            return None
        deploy_id, percent = document.get("deploy"), document.get("percent")
        if not isinstance(deploy_id, str) or not _DEPLOY_ID.fullmatch(deploy_id):
            return None
        if type(percent) is not int or not 1 <= percent <= 99:
            return None
        return Canary(deploy_id, percent)

    def serving_environments_of(self, site: str, deploy_id: str) -> list[str]:
        """The environments that serve this deploy: by their live symlink or their split."""
        return sorted(
            {
                *self.live_environments_of(site, deploy_id),
                *self.canary_environments_of(site, deploy_id),
            }
        )

    def canary_environments_of(self, site: str, deploy_id: str) -> list[str]:
        """The environments whose canary split names this deploy (retention keeps it)."""
        return [
            env
            for env in ENVIRONMENTS
            if (canary := self.canary_of(site, env)) is not None and canary.deploy_id == deploy_id
        ]

    def live_deploy(self, site: str, environment: str) -> str | None:
        """The deploy id the live symlink names, if any."""
        try:
            return os.readlink(self.live / site / environment).rsplit("/", 1)[-1]
        except (FileNotFoundError, OSError):
            return None

    def release_complete(self, site: str, deploy_id: str) -> bool:
        """Whether a release has what the edge needs (manifest, rules, site folder): 3 stats."""
        release = self.release_path(site, deploy_id)
        return (
            (release / "manifest.json").is_file()
            and (release / "rules.json").is_file()
            and (release / "site").is_dir()
        )

    def release_intact(self, site: str, deploy_id: str) -> bool:
        """Whether a release is complete and every file its manifest lists is there, same size."""
        if not self.release_complete(site, deploy_id):
            return False
        release = self.release_path(site, deploy_id)
        try:
            manifest = json.loads((release / "manifest.json").read_text())
            for entry in manifest["files"]:
                if (release / "site" / entry["path"]).lstat().st_size != entry["size"]:
                    return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True

    def manifest_files(self, site: str, deploy_id: str) -> list[tuple[str, int]]:
        """(path, size) of every file a release serves, by path; none when it is not there."""
        try:
            manifest = json.loads(
                (self.release_path(site, deploy_id) / "manifest.json").read_text()
            )
            return sorted((entry["path"], entry["size"]) for entry in manifest["files"])
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def live_environments_of(self, site: str, deploy_id: str) -> list[str]:
        """The environments whose live symlink names this deploy."""
        return [env for env in ENVIRONMENTS if self.live_deploy(site, env) == deploy_id]

    def retire_release(self, site: str, deploy_id: str) -> Path | None:
        """Rename a release out of releases/ into trash/ (instant) and drop its artifact; the
        caller deletes the returned tree at leisure, outside any lock."""
        with contextlib.suppress(FileNotFoundError):
            self.artifact_path(site, deploy_id).unlink()
        self.trash.mkdir(parents=True, exist_ok=True)
        target = self.trash / f"{site}-{deploy_id}-{secrets.token_hex(4)}"
        try:
            os.rename(self.release_path(site, deploy_id), target)
        except FileNotFoundError:
            return None
        return target

    def remove_release(self, site: str, deploy_id: str) -> None:
        """Delete a release tree and its artifact."""
        remove_tree(self.retire_release(site, deploy_id) or self.release_path(site, deploy_id))

    def remove_site(self, site: str) -> None:
        """Delete everything of a site: live links and canary splits first, so nothing serves
        half-deleted files."""
        remove_tree(self.live / site)
        remove_tree(self.releases / site)
        remove_tree(self.artifacts / site)

    def site_names_on_disk(self) -> set[str]:
        """Names of sites that have any files."""
        names: set[str] = set()
        for folder in (self.live, self.releases, self.artifacts):
            if folder.is_dir():
                names.update(entry.name for entry in folder.iterdir() if entry.is_dir())
        return names

    def deploy_ids_on_disk(self, site: str, older_than_seconds: float = 0) -> set[str]:
        """Ids of a site's releases and artifacts on disk, last changed before the limit."""
        cutoff = time.time() - older_than_seconds
        paths = [p for p in (self.releases / site).glob("*") if p.is_dir()]
        paths += list((self.artifacts / site).glob("*.zip"))
        return {
            p.stem if p.suffix == ".zip" else p.name for p in paths if p.lstat().st_mtime < cutoff
        }

    def sweep_temporary(self, older_than_seconds: float) -> int:
        """Remove staging and upload leftovers older than the limit (builds of dead workers)."""
        removed = 0
        cutoff = time.time() - older_than_seconds
        for folder in (self.staging, self.uploads, self.trash):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                # Everything in trash/ is garbage whatever its age (a crash mid-delete left it).
                if folder == self.trash or entry.lstat().st_mtime < cutoff:
                    remove_tree(entry)
                    removed += 1
        return removed


def remove_tree(path: Path) -> None:
    """Delete a file or directory tree if it exists (never following symlinks)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    """Make a rename in this directory durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
