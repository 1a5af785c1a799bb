"""The build worker: claims jobs from PostgreSQL, builds releases, publishes, and keeps leases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from controlplane.deploys.archive import ArchiveLimits
from controlplane.deploys.build import BuildFailed, BuildPlan, run_build
from controlplane.deploys.build_flags import flags_from_json, secret_values
from controlplane.deploys.deploy_service import Deploys
from controlplane.deploys.probe_service import PublishProbes
from controlplane.deploys.release_checks import CheckOptions, check_release
from controlplane.deploys.release_files import ReleaseFiles, remove_tree
from controlplane.logs import redact_text
from controlplane.models import BuildJob, PublishEvent, Site
from controlplane.names import preview_host
from controlplane.store import Store

log = logging.getLogger(__name__)
_LOGGED_PROBLEMS = 10  # the build log names the first problems; the deploy's report has them all

BUILDS = Counter("wharf_builds_total", "Builds finished, by outcome", ["outcome"])
BUILD_SECONDS = Histogram(
    "wharf_build_duration_seconds",
    "Time from claiming a job to the end of its build",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker claims, keeps and gives up jobs."""

    lease_seconds: float = 30.0
    poll_seconds: float = 5.0
    max_attempts: int = 3
    stop_grace_seconds: float = 30.0
    minify_override: bool | None = None  # WHARF_MINIFY: None follows each site's setting
    brotli_quality: int = 6
    base_domain: str = "localhost"  # the release checks see a release on its preview host


class BuildLog:
    """Collects a build's log lines from the build thread; the worker stores them in batches."""

    def __init__(
        self, store: Store, deploy_id: str, secrets: list[str], first_line_no: int
    ) -> None:
        self.store = store
        self.deploy_id = deploy_id
        self.secrets = [value for value in secrets if value]
        self.next_line_no = first_line_no
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        """Add one line (called from any thread); secret flag values never get through."""
        for value in self.secrets:
            line = line.replace(value, "[REDACTED]")
        with self._lock:
            self._pending.append(redact_text(line))

    async def flush(self) -> None:
        """Store the lines collected so far."""
        with self._lock:
            lines, self._pending = self._pending, []
        if lines:
            await self.store.append_log_lines(self.deploy_id, self.next_line_no, lines)
            self.next_line_no += len(lines)


# What an automatic publish leaves for its probes: the site, the event, the deploy's build log.
Published = tuple[Site, PublishEvent, BuildLog]


class BuildWorker:
    """One worker loop; run several processes (or `wharf worker`) to build in parallel."""

    def __init__(
        self,
        store: Store,
        files: ReleaseFiles,
        deploys: Deploys,
        limits: ArchiveLimits,
        options: WorkerOptions,
        probes: PublishProbes | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.deploys = deploys
        self.limits = limits
        self.options = options
        self.probes = probes
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and build jobs until stop is set; a running build is finished or handed back."""
        await asyncio.to_thread(self.files.ensure_dirs)
        await self.publish_missed()
        async with self.store.job_notifications() as wait_for_job:
            log.info("build worker started", extra={"worker": self.name})
            while not stop.is_set():
                try:
                    await self.store.fail_abandoned_jobs(self.options.max_attempts)
                    job = await self.store.claim_job(
                        self.name, self.options.lease_seconds, self.options.max_attempts
                    )
                except Exception:
                    log.exception("could not claim a job; retrying")
                    job = None
                if job is None:
                    waiter = asyncio.ensure_future(wait_for_job(self.options.poll_seconds))
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    for task in (waiter, stopper):
                        task.cancel()
                    continue
                try:
                    await self._run_job(job, stop)
                except Exception:
                    # The job's lease runs out and another attempt follows; the loop goes on.
                    log.exception(
                        "a build job failed outside the build", extra={"deploy": job.deploy_id}
                    )
                    await asyncio.sleep(1)

    async def _run_job(self, job: BuildJob, stop: asyncio.Event) -> None:
        """Build one job, renewing its lease; on stop, wait a grace period, then hand it back."""
        build = asyncio.ensure_future(self.build(job))
        stop_deadline: float | None = None
        loop = asyncio.get_running_loop()
        while not build.done():
            await asyncio.wait({build}, timeout=self.options.lease_seconds / 3)
            if build.done():
                break
            if stop.is_set():
                stop_deadline = stop_deadline or loop.time() + self.options.stop_grace_seconds
                if loop.time() >= stop_deadline:
                    await self.store.requeue_job(job.deploy_id, self.name)
                    log.warning("build handed back at shutdown", extra={"deploy": job.deploy_id})
                    build.cancel()
                    return
            if not await self.store.extend_lease(
                job.deploy_id, self.name, self.options.lease_seconds
            ):
                log.warning("lost the lease of a build", extra={"deploy": job.deploy_id})
        with contextlib.suppress(asyncio.CancelledError):
            await build

    async def build(self, job: BuildJob) -> None:
        """Build one deploy and record the outcome; publish it when the site says so, then
        probe what went live (after the build is counted: probes are not build time)."""
        with BUILD_SECONDS.time():
            outcome, published = await self._build(job)
        BUILDS.labels(outcome).inc()
        if published is not None and self.probes is not None:
            site, event, build_log = published

            async def say(line: str) -> None:
                build_log(line)
                await build_log.flush()

            await self.probes.check(site, event, say)

    async def _build(self, job: BuildJob) -> tuple[str, Published | None]:
        deploy = await self.store.deploy_by_id(job.deploy_id)
        if deploy is None:
            return "gone", None
        flags = flags_from_json(deploy.flags)
        build_log = BuildLog(
            self.store,
            deploy.id,
            secret_values(flags),
            await self.store.next_log_line_no(deploy.id),
        )
        await self.store.start_build(deploy.id)
        build_log(f"build attempt {job.attempts} by {self.name}")
        workdir = await asyncio.to_thread(self.files.new_staging_dir, deploy.id)
        try:
            site = await self.store.get_site(deploy.site_name, None)
            assert site is not None
            plan = BuildPlan(
                artifact=self.files.artifact_path(deploy.site_name, deploy.id),
                workdir=workdir,
                limits=self.limits,
                minify=site.minify,
                minify_override=self.options.minify_override,
                flags=flags,
                brotli_quality=self.options.brotli_quality,
            )
            built = await self._in_thread_with_log(plan, build_log)
            if not await self.store.extend_lease(deploy.id, self.name, self.options.lease_seconds):
                log.warning(
                    "lease lost before install; dropping the build", extra={"deploy": deploy.id}
                )
                return "lost_lease", None
            await asyncio.to_thread(
                self.files.install_release, built.path, deploy.site_name, deploy.id
            )
        except BuildFailed as failed:
            build_log(f"build failed: {failed}")
            await build_log.flush()
            await self.store.finish_build(
                deploy.id, self.name, error=str(failed), report=failed.report
            )
            return "failed", None
        except Exception:
            log.exception("build crashed", extra={"deploy": deploy.id})
            build_log("build failed: internal error (see the server log)")
            await build_log.flush()
            await self.store.finish_build(
                deploy.id, self.name, error="internal build error", report={}
            )
            return "error", None
        finally:
            await asyncio.to_thread(remove_tree, workdir)
        build_log("release installed")
        await build_log.flush()
        # Checked before it is `ready`, so nothing can publish it before its report is stored.
        checks = await self._check(site, deploy.id, build_log)
        await build_log.flush()
        finished = await self.store.finish_build(
            deploy.id,
            self.name,
            error=None,
            report=built.report,
            file_count=built.file_count,
            total_bytes=built.total_bytes,
            checks=checks,
        )
        # Staging always follows its newest deploy; production unless auto-publish is locked.
        # An older build finishing late (a retried job) never replaces a newer live deploy.
        if finished and await self.store.auto_publish_due(deploy.id):
            event = await self.deploys.publish_deploy(
                site, deploy.id, deploy.created_by, "auto_publish"
            )
            build_log("published")
            await build_log.flush()
            return "ready", (site, event, build_log)
        return ("ready" if finished else "lost_lease"), None

    async def _check(
        self, site: Site, deploy_id: str, build_log: BuildLog
    ) -> dict[str, Any] | None:
        """Run the release checks in a thread unless the site turned them off; the report, with
        `blocked` set when the site holds back deploys that fail them."""
        if site.checks == "off":
            build_log("checks: off for this site")
            return None
        base = self.options.base_domain
        options = CheckOptions(
            site=site.name,
            deploy_id=deploy_id,
            host=preview_host(deploy_id, site.name, base) or f"{deploy_id}--{site.name}.{base}",
            spa=site.spa,
            max_file_bytes=site.checks_max_file_bytes,
        )
        release = self.files.release_path(site.name, deploy_id)
        try:
            report = await asyncio.to_thread(check_release, release, options)
        except Exception:
            # A fault of the checker is ours, not the site's: say so and hold nothing back.
            log.exception("release checks crashed", extra={"deploy": deploy_id})
            build_log("checks: could not run (internal error, see the server log)")
            return None
        report = dataclasses.replace(
            report, blocked=site.checks == "block" and report.status == "failed"
        )
        build_log(f"checks: {report.summary()} in {report.seconds:.2f} s")
        for problem in report.problems[:_LOGGED_PROBLEMS]:
            line = f":{problem.line}" if problem.line is not None else ""
            link = f" {problem.link}" if problem.link is not None else ""
            answer = f" ({problem.answer})" if problem.answer else ""
            build_log(
                f"  {problem.severity}: {problem.page}{line}{link}{answer}: {problem.message}"
            )
        shown = min(len(report.problems), _LOGGED_PROBLEMS)
        if report.errors + report.warnings > shown:
            build_log(
                f"  … and {report.errors + report.warnings - shown} more in the deploy's checks"
            )
        if report.blocked:
            build_log(
                "checks failed and this site blocks such deploys (checks: block): the deploy"
                " stays ready and is not published; publish it with force to publish it anyway"
            )
        return report.to_json()

    async def publish_missed(self) -> None:
        """Publish deploys whose worker died between the build and the publish."""
        for site_name, deploy_id in await self.store.auto_publish_due():
            site = await self.store.get_site(site_name, None)
            if site is not None:
                event = await self.deploys.publish_deploy(site, deploy_id, None, "auto_publish")
                if self.probes:
                    await self.probes.check(site, event)

    async def _in_thread_with_log(self, plan: BuildPlan, build_log: BuildLog):  # type: ignore[no-untyped-def]
        """Run the blocking build in a thread, storing its log lines while it runs."""
        task = asyncio.ensure_future(asyncio.to_thread(run_build, plan, build_log))
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            await build_log.flush()
        return task.result()
