"""Module boundaries: domain modules never import the web framework; only the store holds SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
WEB_ONLY = {"aiohttp", "aiohttp_jinja2", "jinja2", "prometheus_async"}
# Modules allowed to use aiohttp: the web layer, the composition root and the CLI that runs it.
WEB_MODULES = ("controlplane/web/", "controlplane/app.py", "controlplane/cli.py")
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


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
