"""Only the store holds SQL; handlers use services only through their methods (import
boundaries are import-linter contracts in setup.cfg)."""

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


def test_handlers_reach_services_only_through_their_public_methods() -> None:
    """No handler reaches into a service's store, files or limits, or keeps an app key of its
    own: every service comes from `request.app[SERVICES]` (controlplane/web/keys.py)."""
    web = ROOT / "controlplane" / "web"
    reaching = re.compile(r"\.(store|files|limits|traefik_api)\b|web\.AppKey\(")
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(web.glob("*.py"))
        if path.name != "keys.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if reaching.search(line)
    ]
    assert offenders == []


def test_no_two_modules_share_a_name() -> None:
    """A module's name alone says which one it is (`render.py`, never two `api.py`)."""
    names = [path.name for path in _modules() if path.name not in ("__init__.py", "__main__.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
