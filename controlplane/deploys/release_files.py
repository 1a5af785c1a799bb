"""Deploy files on disk: artifacts, immutable releases, live symlinks swapped atomically.

Layout under the data directory (the edge reads only `live/` and `releases/`):

    artifacts/<site>/<deploy>.zip        the upload as received
    releases/<site>/<deploy>/site/       files served; never changed once renamed in
    releases/<site>/<deploy>/manifest.json, rules.json
    live/<site>/<environment>            symlink -> ../../releases/<site>/<deploy>
    staging/                             builds in progress (renamed into releases/ when done)
    uploads/                             uploads being received
    trash/                               pruned releases renamed out of releases/, being deleted
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from controlplane.layout import DataLayout
from controlplane.models import ENVIRONMENTS


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
        """Remove an environment's live symlink."""
        with contextlib.suppress(FileNotFoundError):
            (self.live / site / environment).unlink()

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
        """Delete everything of a site: live links first, so nothing serves half-deleted files."""
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
