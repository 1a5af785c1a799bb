"""Whole-or-nothing file writes: a temp file, fsync, then one rename over the target."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, text: str, staging_dir: Path | None = None, mode: int = 0o644
) -> None:
    """Replace path with text; readers see the old file or the new one, never a part.

    The temp file is named with a leading dot, in staging_dir when given (it must be on the
    same filesystem) or next to the target. mkstemp creates it 0600: nobody else can read a
    secret in it before the chmod to mode.
    """
    folder = staging_dir or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
