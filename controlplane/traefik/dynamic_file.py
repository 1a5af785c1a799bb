"""Writes the dynamic config into Traefik's watched folder atomically, staged outside it."""

from __future__ import annotations

from pathlib import Path

from controlplane.atomic import write_atomically

FILE_NAME = "wharf.yml"


def write_dynamic_config(text: str, dynamic_dir: Path, staging_dir: Path) -> Path:
    """Write the (already validated) YAML whole, then rename it into the watched folder.

    The temp file lives in a staging folder Traefik does not watch (a temp file in the
    watched folder itself costs a throttle window: bench/traefik_reload.py), and writing in
    place serves 404s while the file is half written.
    The file holds private keys (tls.certificates): only its owner may read it.
    """
    target = dynamic_dir / FILE_NAME
    if target.exists() and target.stat().st_mode & 0o777 == 0o600 and target.read_text() == text:
        return target  # unchanged: no reload for Traefik
    write_atomically(target, text, staging_dir, mode=0o600)
    return target
