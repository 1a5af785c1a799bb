"""Deploys: accept a validated upload, list and read deploys, publish, roll back, pin."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from controlplane.deploys.archive import ArchiveLimits, ArchiveRejected, inspect_archive
from controlplane.deploys.build_flags import flags_to_json, parse_flags
from controlplane.deploys.release_files import ReleaseFiles
from controlplane.errors import Conflict, Invalid, NotFound, WharfError
from controlplane.faults import crash_point
from controlplane.models import (
    ENVIRONMENTS,
    Deploy,
    DeploysPage,
    Environment,
    LogLine,
    PublishEvent,
    Site,
    UploadForm,
    User,
)
from controlplane.names import has_staging_host
from controlplane.sites.site_service import Sites
from controlplane.store import Store
from controlplane.store.deploy_sql import PUBLISHABLE

log = logging.getLogger(__name__)


class UploadRejected(WharfError):
    """The archive broke upload rules; details list every bad entry (413 or 422)."""

    def __init__(self, rejected: ArchiveRejected) -> None:
        super().__init__(
            "the archive was rejected",
            code="archive_too_large" if rejected.status == 413 else "archive_rejected",
            details=[
                {"entry": p.entry, "code": p.code, "message": p.message} for p in rejected.problems
            ],
        )
        self.status = rejected.status


def new_deploy_id() -> str:
    """A deploy id: 12 lowercase hex characters, safe inside a DNS label."""
    return secrets.token_hex(6)


def _no_staging_host(site: str) -> Conflict:
    return Conflict(
        f"the site name {site!r} is too long for a staging host (<site>--staging must fit"
        " 63 characters): deploy to production",
        code="no_staging_host",
    )


def validate_environment(environment: object) -> Environment:
    """production or staging."""
    for known in ENVIRONMENTS:
        if environment == known:
            return known
    raise Invalid("environment is 'production' or 'staging'", code="invalid_environment")


# Streams an upload to the given path, refusing it past the given size; returns its form.
ReceiveUpload = Callable[[Path, int], Awaitable[UploadForm]]


# A deploy's message is a commit's subject or a sentence; its commit, a hash or a ref name.
MAX_MESSAGE = 500
_COMMIT = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/-]{0,99}")


def validate_deploy_message(value: object) -> str | None:
    """A message for the history: one line, at most 500 characters (None when not given)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_MESSAGE or not value.isprintable():
        raise Invalid(
            f"message is one line of at most {MAX_MESSAGE} printable characters",
            code="invalid_message",
        )
    return value


def validate_deploy_commit(value: object) -> str | None:
    """The commit a deploy was built from: a hash or a ref name (None when not given)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _COMMIT.fullmatch(value):
        raise Invalid(
            "commit is a hash or a ref name: letters, digits, . _ / -, at most 100",
            code="invalid_commit",
        )
    return value


def refuse_failed_checks(site: Site, deploy: Deploy) -> None:
    """Conflict `checks_failed` for a deploy whose release checks failed, on a site that blocks
    such deploys; the message says how many problems and how to publish it all the same."""
    report = deploy.checks or {}
    if site.checks != "block" or report.get("status") != "failed":
        return
    errors, warnings = int(report.get("errors", 0)), int(report.get("warnings", 0))
    raise Conflict(
        f"the release checks found {errors} error{'s' * (errors != 1)} and {warnings}"
        f" warning{'s' * (warnings != 1)}, and this site blocks deploys that fail them;"
        ' publish with {"force": true} (wharf publish --force) to publish it anyway',
        code="checks_failed",
        details={"errors": errors, "warnings": warnings},
    )


class Deploys:
    """Deploy operations on behalf of a user; the build itself is the worker's."""

    def __init__(
        self, store: Store, files: ReleaseFiles, sites: Sites, limits: ArchiveLimits
    ) -> None:
        self.store = store
        self.files = files
        self.sites = sites
        self.limits = limits

    async def receive(self, actor: User, site_name: str, receive: ReceiveUpload) -> Deploy:
        """Check access, let `receive` stream the upload to a new file under the size limit,
        then create the deploy from it; nothing is read from a stranger."""
        site = await self.sites.get(actor, site_name)
        upload = self.files.new_upload_path()
        try:
            form = await receive(upload, self.limits.max_upload_bytes)
        except BaseException:
            await asyncio.to_thread(upload.unlink, missing_ok=True)
            raise
        return await self._create(
            actor, site, upload, form.environment, form.flags, form.message, form.commit
        )

    async def create(
        self, actor: User, site_name: str, upload: Path, environment: object, flags: object
    ) -> Deploy:
        """Validate an uploaded ZIP, keep it, and queue its build; the upload file is consumed."""
        try:
            site = await self.sites.get(actor, site_name)
        except BaseException:
            await asyncio.to_thread(upload.unlink, missing_ok=True)
            raise
        return await self._create(actor, site, upload, environment, flags)

    async def _create(
        self,
        actor: User,
        site: Site,
        upload: Path,
        environment: object,
        flags: object,
        message: object = None,
        commit: object = None,
    ) -> Deploy:
        try:
            env = validate_environment(environment)
            note = validate_deploy_message(message), validate_deploy_commit(commit)
            if env == "staging" and not has_staging_host(site.name):
                raise _no_staging_host(site.name)
            parsed = parse_flags(flags, site.allowed_flags)
            try:
                summary = await asyncio.to_thread(inspect_archive, upload, self.limits)
            except ArchiveRejected as rejected:
                raise UploadRejected(rejected) from None
            deploy_id = new_deploy_id()
            artifact = await asyncio.to_thread(
                self.files.keep_artifact, upload, site.name, deploy_id
            )
        finally:
            await asyncio.to_thread(upload.unlink, missing_ok=True)
        size = (await asyncio.to_thread(artifact.stat)).st_size
        try:
            deploy = await self.store.create_deploy(
                deploy_id, site.id, env, actor.id, size, flags_to_json(parsed), *note
            )
        except BaseException:
            artifact.unlink(missing_ok=True)
            raise
        log.info(
            "deploy accepted",
            extra={"site": site.name, "deploy": deploy_id, "files": summary.file_count},
        )
        return deploy

    async def _site_and_deploy(
        self, actor: User, site_name: str, deploy_id: str
    ) -> tuple[Site, Deploy]:
        site = await self.sites.get(actor, site_name)
        deploy = await self.store.get_deploy(site.id, deploy_id)
        if deploy is None:
            raise NotFound(f"no deploy {deploy_id!r} on this site", code="deploy_not_found")
        return site, deploy

    async def for_site(self, actor: User, site_name: str) -> list[Deploy]:
        """A site's deploys, newest first."""
        site = await self.sites.get(actor, site_name)
        return await self.store.list_deploys(site.id)

    async def page(
        self, actor: User, site_name: str, before: str | None, limit: int
    ) -> DeploysPage:
        """A page of a site's deploys, newest first, older than `before` when given."""
        site = await self.sites.get(actor, site_name)
        deploys = await self.store.list_deploys(site.id, limit + 1, before)
        older = deploys[limit - 1].id if len(deploys) > limit else None
        return DeploysPage(deploys[:limit], older)

    async def live(self, actor: User, site_name: str) -> dict[str, Deploy]:
        """A site's live deploy in each environment that has one."""
        site = await self.sites.get(actor, site_name)
        return {deploy.environment: deploy for deploy in await self.store.live_deploys_of(site.id)}

    async def get(self, actor: User, site_name: str, deploy_id: str) -> Deploy:
        """One deploy."""
        return (await self._site_and_deploy(actor, site_name, deploy_id))[1]

    async def settled(self, deploy: Deploy) -> bool:
        """Whether nothing more happens to the deploy by itself: its build has ended and it
        is not a ready deploy the worker is about to publish."""
        if deploy.status in ("pending", "building"):
            return False
        if deploy.status == "ready" and await self.store.auto_publish_due(deploy.id):
            return False
        # The worker may have published it between the caller's read and ours (then it is no
        # longer "due"): settled only if the status the caller holds is still the current one.
        current = await self.store.get_deploy(deploy.site_id, deploy.id)
        return current is not None and current.status == deploy.status

    async def served_files(
        self, actor: User, site_name: str, deploy_id: str
    ) -> list[tuple[str, int]]:
        """(path, size) of each file the deploy serves; none before its build or after pruning."""
        _, deploy = await self._site_and_deploy(actor, site_name, deploy_id)
        return await asyncio.to_thread(self.files.manifest_files, deploy.site_name, deploy.id)

    async def log(self, actor: User, site_name: str, deploy_id: str) -> list[LogLine]:
        """A deploy's build log."""
        _, deploy = await self._site_and_deploy(actor, site_name, deploy_id)
        return await self.store.log_lines(deploy.id)

    async def publish(
        self,
        actor: User | None,
        site_name: str,
        deploy_id: str,
        *,
        kind: str = "publish",
        force: object = False,
    ) -> PublishEvent:
        """Make a ready (or earlier live) deploy live in its environment; `force` publishes one
        whose release checks failed on a site that blocks such deploys."""
        if not isinstance(force, bool):
            raise Invalid("force is true or false", code="invalid_force")
        site = await (
            self.sites.named(site_name) if actor is None else self.sites.get(actor, site_name)
        )
        return await self.publish_deploy(
            site, deploy_id, actor.id if actor else None, kind, force=force
        )

    async def publish_deploy(
        self,
        site: Site,
        deploy_id: str,
        actor_id: int | None,
        kind: str,
        reason: str | None = None,
        *,
        force: bool = False,
    ) -> PublishEvent:
        """Publish under the site's lock: check the deploy and its files, commit, swap."""
        async with self.store.site_lock(site.id):
            return await self.publish_locked(site, deploy_id, actor_id, kind, reason, force=force)

    async def publish_locked(
        self,
        site: Site,
        deploy_id: str,
        actor_id: int | None,
        kind: str,
        reason: str | None = None,
        *,
        force: bool = False,
    ) -> PublishEvent:
        """Publish while the caller holds the site's lock (the reconcile's repairs do)."""
        deploy = await self.store.get_deploy(site.id, deploy_id)
        if deploy is None:
            raise NotFound(f"no deploy {deploy_id!r} on this site", code="deploy_not_found")
        if deploy.pruned_at is not None:
            raise Conflict("this deploy's files were removed by retention", code="deploy_pruned")
        if deploy.status not in PUBLISHABLE:
            raise Conflict(f"a {deploy.status} deploy cannot be published", code="deploy_not_ready")
        # Only a publish by hand is held to the checks here: automatic publishing skips deploys
        # they held back (store.auto_publish_due), and a rollback returns to a deploy at once.
        if kind == "publish" and not force:
            refuse_failed_checks(site, deploy)
        if deploy.environment == "staging" and not has_staging_host(site.name):
            raise _no_staging_host(site.name)
        # Retention cannot remove files while we hold the lock, so this check stays true
        # until the swap; files lost another way are refused here, never half-published.
        if not await asyncio.to_thread(self.files.release_complete, site.name, deploy_id):
            raise Conflict("this deploy's files are missing on disk", code="deploy_files_missing")
        event = await self.store.publish(
            site.id, deploy_id, kind=kind, actor_id=actor_id, reason=reason
        )
        crash_point("publish_after_commit")
        await asyncio.to_thread(self.files.activate, site.name, deploy.environment, deploy_id)
        await self._end_canary(site, deploy.environment, deploy_id)
        log.info(
            "deploy published",
            extra={"site": site.name, "deploy": deploy_id, "from": event.from_deploy, "kind": kind},
        )
        return event

    async def _end_canary(self, site: Site, environment: str, published: str) -> None:
        """A publish ends the environment's canary: promoted when it published the canary,
        aborted otherwise (the split would name a release beside another live one)."""
        running = await self.store.running_canary(site.id, environment)
        if running is None:
            return
        await asyncio.to_thread(self.files.clear_canary, site.name, environment)
        if running.deploy_id == published:
            await self.store.end_canary(running.id, "promoted", "published for every visitor")
        else:
            reason = f"another deploy ({published}) was published"
            await self.store.end_canary(running.id, "aborted", reason)

    async def rollback(
        self, actor: User, site_name: str, environment: object, deploy_id: object
    ) -> PublishEvent:
        """Go back to the previous live deploy, or to the one named."""
        site = await self.sites.get(actor, site_name)
        env = validate_environment(environment)
        if deploy_id is None:
            target = await self.store.previous_live_deploy(site.id, env)
            if target is None:
                raise Conflict("there is no earlier live deploy", code="no_previous_deploy")
        elif isinstance(deploy_id, str):
            target = deploy_id
            deploy = await self.store.get_deploy(site.id, target)
            if deploy is None:
                raise NotFound(f"no deploy {target!r} on this site", code="deploy_not_found")
            if deploy.environment != env:
                raise Conflict(
                    f"deploy {target} belongs to {deploy.environment}", code="wrong_environment"
                )
        else:
            raise Invalid("deploy_id is a string", code="invalid_deploy_id")
        return await self.publish_deploy(site, target, actor.id, "rollback")

    async def set_pinned(
        self, actor: User, site_name: str, deploy_id: str, pinned: object
    ) -> Deploy:
        """Pin or unpin a deploy (retention keeps pinned ones)."""
        site, _ = await self._site_and_deploy(actor, site_name, deploy_id)
        if not isinstance(pinned, bool):
            raise Invalid("pinned is true or false", code="invalid_pinned")
        await self.store.set_pinned(site.id, deploy_id, pinned)
        return await self.get(actor, site_name, deploy_id)

    async def history(self, actor: User, site_name: str) -> list[PublishEvent]:
        """Every publish and rollback of a site, newest first."""
        site = await self.sites.get(actor, site_name)
        return await self.store.publish_events(site.id)
