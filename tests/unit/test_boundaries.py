"""Only the store holds SQL (import boundaries are import-linter contracts in setup.cfg)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")


def _modules() -> list[Path]:
    return sorted((ROOT / "controlplane").rglob("*.py")) + sorted((ROOT / "edge").rglob("*.py"))


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules()
        if "controlplane/store/" not in str(path) and SQL.search(path.read_text())
    ]
    assert offenders == []
