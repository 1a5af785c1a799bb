"""What `wharf deploy` prepares before it uploads: a folder zipped, and build flag options."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from controlplane.cli.client import EXIT_USAGE, CliFailure


def zip_directory(folder: Path, target: Path) -> int:
    """Write a folder's regular files into a ZIP; returns the file count (symlinks skipped)."""
    count = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            archive.write(path, path.relative_to(folder).as_posix())
            count += 1
    if count == 0:
        raise CliFailure(f"{folder} has no files to deploy", code="empty_folder")
    return count


def parse_flag_options(flags: list[str], secret_flags: list[str]) -> dict[str, Any]:
    """`name=value` options into the API's flags object; true and false are booleans."""
    result: dict[str, Any] = {}
    for text, secret in [(f, False) for f in flags] + [(f, True) for f in secret_flags]:
        name, sep, raw = text.partition("=")
        if not sep or not name:
            raise CliFailure(
                f"flags are name=value, got {text!r}", code="invalid_flag", exit_code=EXIT_USAGE
            )
        value: Any = json.loads(raw) if raw in ("true", "false") else raw
        result[name] = {"value": value, "secret": True} if secret else value
    return result
