"""Whole-or-nothing file writes (bytes, text, JSON): a temp file, fsync, then one rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(
    path: Path, data: str | bytes, staging_dir: Path | None = None, mode: int = 0o644
) -> None:
    """Replace path with data; readers see the old file or the new one, never a part.

    The temp file is named with a leading dot, in staging_dir when given (it must be on the
    same filesystem) or next to the target. mkstemp creates it 0600: nobody else can read a
    secret in it before the chmod to mode.
    """
    folder = staging_dir or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".tmp": a name no file provider loads (Traefik reads only .yml, .yaml and .toml).
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_json_atomically(
    path: Path, document: dict[str, Any], *, compact: bool = False, mode: int = 0o644
) -> None:
    """Write a JSON document whole or not at all, once it reads back as the same document."""
    if compact:
        text = json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"
    else:
        text = json.dumps(document, indent=1, sort_keys=True)
    if json.loads(text) != document:  # round-trip check before anything is replaced
        raise ValueError(f"{path.name} would not read back as written")
    write_atomically(path, text, mode=mode)
