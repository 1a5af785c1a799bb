"""Module boundaries: domain modules never import the web framework; only the store holds SQL."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
WEB_ONLY = {"aiohttp", "aiohttp_jinja2", "jinja2", "prometheus_async"}
# Modules allowed to use aiohttp: the web layer, the composition root, the CLI and its client.
WEB_MODULES = (
    "controlplane/web/",
    "controlplane/app.py",
    "controlplane/cli",
    "controlplane/traefik/api.py",
    "controlplane/stack.py",
)
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")


# A line-based reading: ast.parse in a process with busy threads trips a CPython 3.11 bug
# ("AST constructor recursion depth mismatch"), and imports here are one per line anyway.
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w.]+))", re.M)


def _imports(path: Path) -> set[str]:
    return {(found[0] or found[1]).split(".")[0] for found in IMPORT.findall(path.read_text())}


def _modules() -> list[Path]:
    return sorted((ROOT / "controlplane").rglob("*.py")) + sorted((ROOT / "edge").rglob("*.py"))


def test_domain_modules_do_not_import_aiohttp() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules()
        if not str(path.relative_to(ROOT)).startswith(WEB_MODULES) and _imports(path) & WEB_ONLY
    ]
    assert offenders == []


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules()
        if "controlplane/store/" not in str(path) and SQL.search(path.read_text())
    ]
    assert offenders == []


def test_edge_never_imports_the_control_plane_or_database() -> None:
    for path in sorted((ROOT / "edge").rglob("*.py")):
        assert not _imports(path) & {"controlplane", "aiopg", "psycopg2"}, path
